//! What we know of a job as its CRM last showed it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::qc::JobDates;

/// A postal address as CRMs hold it: every part optional, free text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
}

/// The fields of a job that we mirror, as the CRM reported them at one moment.
///
/// Invariant: a snapshot holds only values read from the CRM; nothing here is derived by
/// us, so two snapshots are equal exactly when the CRM showed the same record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSnapshot {
    /// Display number (JobNimbus `number`, e.g. "1001").
    pub number: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// Status name within the job's workflow (JobNimbus `status_name`).
    pub status: Option<String>,
    /// Workflow / record type name (JobNimbus `record_type_name`).
    pub workflow: Option<String>,
    pub customer_name: Option<String>,
    /// CRM id of the primary contact, when the job has one.
    pub contact_external_id: Option<String>,
    pub address: Address,
    pub sales_rep_name: Option<String>,
    pub remote_created_at: Option<DateTime<Utc>>,
    pub remote_updated_at: Option<DateTime<Utc>>,
    /// When the CRM last changed the status (JobNimbus `date_status_change`).
    pub status_changed_at: Option<DateTime<Utc>>,
    /// When the work started (JobNimbus `date_start`). Events stored before the field
    /// existed read as `None`.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When the work was completed (JobNimbus `date_end`).
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Archived in the CRM (JobNimbus `is_archived`): kept and listed, but done with.
    #[serde(default)]
    pub is_archived: bool,
}

/// A mirrored field, named in events that record what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobField {
    Number,
    Name,
    Description,
    Status,
    Workflow,
    CustomerName,
    ContactExternalId,
    Address,
    SalesRepName,
    RemoteCreatedAt,
    RemoteUpdatedAt,
    StatusChangedAt,
    StartedAt,
    CompletedAt,
    Archived,
}

impl JobSnapshot {
    /// The dates the QC photo rule places photos against.
    pub fn dates(&self) -> JobDates {
        JobDates {
            started_at: self.started_at,
            completed_at: self.completed_at,
        }
    }

    /// The fields whose values differ between `self` and `newer`, in declaration order.
    pub fn changed_fields(&self, newer: &JobSnapshot) -> Vec<JobField> {
        let checks = [
            (self.number != newer.number, JobField::Number),
            (self.name != newer.name, JobField::Name),
            (self.description != newer.description, JobField::Description),
            (self.status != newer.status, JobField::Status),
            (self.workflow != newer.workflow, JobField::Workflow),
            (
                self.customer_name != newer.customer_name,
                JobField::CustomerName,
            ),
            (
                self.contact_external_id != newer.contact_external_id,
                JobField::ContactExternalId,
            ),
            (self.address != newer.address, JobField::Address),
            (
                self.sales_rep_name != newer.sales_rep_name,
                JobField::SalesRepName,
            ),
            (
                self.remote_created_at != newer.remote_created_at,
                JobField::RemoteCreatedAt,
            ),
            (
                self.remote_updated_at != newer.remote_updated_at,
                JobField::RemoteUpdatedAt,
            ),
            (
                self.status_changed_at != newer.status_changed_at,
                JobField::StatusChangedAt,
            ),
            (self.started_at != newer.started_at, JobField::StartedAt),
            (
                self.completed_at != newer.completed_at,
                JobField::CompletedAt,
            ),
            (self.is_archived != newer.is_archived, JobField::Archived),
        ];
        checks
            .into_iter()
            .filter_map(|(differs, field)| differs.then_some(field))
            .collect()
    }
}
