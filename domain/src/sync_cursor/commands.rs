use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a finished sync run tells the cursor of its resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncCursorCommand {
    /// A run completed; the next incremental run may start at `to` (inclusive).
    Advance { to: DateTime<Utc>, run_id: String },
    /// A run read every record of the resource without error.
    RecordCompleteScan {
        run_id: String,
        scanned_at: DateTime<Utc>,
    },
}
