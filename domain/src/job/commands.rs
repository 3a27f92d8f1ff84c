use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobFile, JobSnapshot};

/// What the application asks of a `Job`.
// The large variant is the common one (every pulled record): boxing its snapshot would add
// an allocation per record and save no memory.
#[allow(clippy::large_enum_variant)]
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
    /// A complete reconciliation scan of the CRM no longer lists the job (hard-deleted or
    /// moved out of our key's reach). Only ever sent after a scan that finished without error.
    RecordVanished { observed_at: DateTime<Utc> },
    /// The complete listing of the job's files as the CRM showed it at `observed_at`. The
    /// aggregate decides which were attached, changed or removed since the last listing, and
    /// derives each photo's QC category from it and the job's dates.
    RecordPulledFiles {
        files: Vec<JobFile>,
        observed_at: DateTime<Utc>,
    },
}
