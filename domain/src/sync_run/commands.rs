use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RecordFailure, SyncMode, SyncOutcome, SyncResource, SyncTrigger};
use crate::CrmSource;

/// What the sync engine tells a `SyncRun`, in order: start, pages, then complete or fail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncRunCommand {
    Start {
        source: CrmSource,
        resource: SyncResource,
        mode: SyncMode,
        trigger: SyncTrigger,
        /// Lower bound of `date_updated` asked of the CRM (incremental runs).
        updated_since: Option<DateTime<Utc>>,
        started_at: DateTime<Utc>,
    },
    /// A page was fetched and its records commanded; `tally` counts them.
    RecordPage {
        tally: SyncOutcome,
        failures: Vec<RecordFailure>,
        recorded_at: DateTime<Utc>,
    },
    /// The reconcile pass marked records vanished after a complete scan.
    RecordVanished {
        count: u64,
        recorded_at: DateTime<Utc>,
    },
    /// Every page was processed.
    Complete {
        /// Where the next incremental run of this resource may start (inclusive).
        resume_from: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
    },
    /// The run stopped early; `error` says why (no secrets: adapter errors never hold any).
    Fail {
        error: String,
        finished_at: DateTime<Utc>,
    },
}
