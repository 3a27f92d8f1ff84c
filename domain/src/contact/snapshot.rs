use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Address;

/// The fields of a contact that we mirror, as the CRM reported them at one moment.
///
/// Invariant: only values read from the CRM; two snapshots are equal exactly when the CRM
/// showed the same record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSnapshot {
    /// Display number (JobNimbus `number`).
    pub number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The name the CRM shows (JobNimbus `display_name`).
    pub display_name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub home_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub work_phone: Option<String>,
    pub address: Address,
    /// Status name within the contact's workflow (JobNimbus `status_name`).
    pub status: Option<String>,
    /// Workflow / record type name (JobNimbus `record_type_name`, e.g. "Customer").
    pub workflow: Option<String>,
    /// Lead source (JobNimbus `source_name`).
    pub source_name: Option<String>,
    pub sales_rep_name: Option<String>,
    pub remote_created_at: Option<DateTime<Utc>>,
    pub remote_updated_at: Option<DateTime<Utc>>,
}

/// A mirrored contact field, named in events that record what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    Number,
    FirstName,
    LastName,
    DisplayName,
    Company,
    Email,
    HomePhone,
    MobilePhone,
    WorkPhone,
    Address,
    Status,
    Workflow,
    SourceName,
    SalesRepName,
    RemoteCreatedAt,
    RemoteUpdatedAt,
}

impl ContactSnapshot {
    /// The fields whose values differ between `self` and `newer`, in declaration order.
    pub fn changed_fields(&self, newer: &ContactSnapshot) -> Vec<ContactField> {
        let checks = [
            (self.number != newer.number, ContactField::Number),
            (self.first_name != newer.first_name, ContactField::FirstName),
            (self.last_name != newer.last_name, ContactField::LastName),
            (
                self.display_name != newer.display_name,
                ContactField::DisplayName,
            ),
            (self.company != newer.company, ContactField::Company),
            (self.email != newer.email, ContactField::Email),
            (self.home_phone != newer.home_phone, ContactField::HomePhone),
            (
                self.mobile_phone != newer.mobile_phone,
                ContactField::MobilePhone,
            ),
            (self.work_phone != newer.work_phone, ContactField::WorkPhone),
            (self.address != newer.address, ContactField::Address),
            (self.status != newer.status, ContactField::Status),
            (self.workflow != newer.workflow, ContactField::Workflow),
            (
                self.source_name != newer.source_name,
                ContactField::SourceName,
            ),
            (
                self.sales_rep_name != newer.sales_rep_name,
                ContactField::SalesRepName,
            ),
            (
                self.remote_created_at != newer.remote_created_at,
                ContactField::RemoteCreatedAt,
            ),
            (
                self.remote_updated_at != newer.remote_updated_at,
                ContactField::RemoteUpdatedAt,
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(differs, field)| differs.then_some(field))
            .collect()
    }
}
