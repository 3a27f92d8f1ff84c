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
