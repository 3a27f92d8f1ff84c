use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// Facts about a resource's sync position. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncCursorEvent {
    SyncCursorAdvanced {
        to: DateTime<Utc>,
        run_id: String,
    },
    SyncCompleteScanRecorded {
        run_id: String,
        scanned_at: DateTime<Utc>,
    },
}

impl DomainEvent for SyncCursorEvent {
    fn event_type(&self) -> String {
        match self {
            SyncCursorEvent::SyncCursorAdvanced { .. } => "SyncCursorAdvanced",
            SyncCursorEvent::SyncCompleteScanRecorded { .. } => "SyncCompleteScanRecorded",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
