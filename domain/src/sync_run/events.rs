use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{SyncMode, SyncOutcome, SyncResource, SyncTrigger};
use crate::CrmSource;

/// Facts about one sync execution. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncRunEvent {
    SyncRunStarted {
        source: CrmSource,
        resource: SyncResource,
        mode: SyncMode,
        trigger: SyncTrigger,
        updated_since: Option<DateTime<Utc>>,
        started_at: DateTime<Utc>,
    },
    /// One page fetched from the CRM and commanded; `page` counts from 1.
    SyncPageProcessed {
        page: u32,
        tally: SyncOutcome,
        recorded_at: DateTime<Utc>,
    },
    /// A record the run could not take; the run went on.
    SyncRecordFailed {
        external_id: Option<String>,
        reason: String,
        recorded_at: DateTime<Utc>,
    },
    /// A reconcile pass marked `count` records vanished after a complete scan.
    SyncVanishedRecorded {
        count: u64,
        recorded_at: DateTime<Utc>,
    },
    /// Every page processed; `outcome` is the whole run's tally.
    SyncRunCompleted {
        outcome: SyncOutcome,
        resume_from: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
    },
    /// Stopped early; `outcome` tallies what was committed before.
    SyncRunFailed {
        outcome: SyncOutcome,
        error: String,
        finished_at: DateTime<Utc>,
    },
}

impl DomainEvent for SyncRunEvent {
    fn event_type(&self) -> String {
        match self {
            SyncRunEvent::SyncRunStarted { .. } => "SyncRunStarted",
            SyncRunEvent::SyncPageProcessed { .. } => "SyncPageProcessed",
            SyncRunEvent::SyncRecordFailed { .. } => "SyncRecordFailed",
            SyncRunEvent::SyncVanishedRecorded { .. } => "SyncVanishedRecorded",
            SyncRunEvent::SyncRunCompleted { .. } => "SyncRunCompleted",
            SyncRunEvent::SyncRunFailed { .. } => "SyncRunFailed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
