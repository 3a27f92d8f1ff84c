use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobSnapshot;

/// What the application asks of a `Job`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobCommand {
    /// Record the job as a CRM pull saw it at `observed_at`. The aggregate decides whether
    /// that is new, changed, unchanged, deactivated or reactivated.
    RecordPulledSnapshot {
        snapshot: JobSnapshot,
        /// The CRM's soft-delete flag (JobNimbus `is_active`).
        is_active: bool,
        observed_at: DateTime<Utc>,
    },
}
