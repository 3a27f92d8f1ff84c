use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::PanelType;
use crate::JobId;

/// Facts about an embed link. Who asked is in the event's metadata; the token never is
/// anywhere. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EmbedLinkEvent {
    EmbedLinkIssued {
        job_id: JobId,
        panel: PanelType,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
}

impl DomainEvent for EmbedLinkEvent {
    fn event_type(&self) -> String {
        match self {
            EmbedLinkEvent::EmbedLinkIssued { .. } => "EmbedLinkIssued",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
