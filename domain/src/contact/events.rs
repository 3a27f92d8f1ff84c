use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{ContactField, ContactSnapshot};

/// Facts about a mirrored contact. Type names and versions are frozen once on main:
/// stored history is read back by them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContactEvent {
    /// First time we saw this contact in its CRM.
    ContactSnapshotRecorded {
        snapshot: ContactSnapshot,
        observed_at: DateTime<Utc>,
    },
    /// The CRM showed different values; `snapshot` is the whole new state so read models
    /// need no prior row, `changed` names what differs from the previous one.
    ContactSnapshotChanged {
        snapshot: ContactSnapshot,
        changed: Vec<ContactField>,
        observed_at: DateTime<Utc>,
    },
    /// The CRM soft-deleted the contact (`is_active: false`).
    ContactDeactivated { observed_at: DateTime<Utc> },
    /// A soft-deleted contact became active again in the CRM.
    ContactReactivated { observed_at: DateTime<Utc> },
    /// A complete scan of the CRM no longer listed the contact.
    ContactVanished { observed_at: DateTime<Utc> },
    /// A vanished contact was listed by the CRM again.
    ContactReappeared { observed_at: DateTime<Utc> },
}

impl DomainEvent for ContactEvent {
    fn event_type(&self) -> String {
        match self {
            ContactEvent::ContactSnapshotRecorded { .. } => "ContactSnapshotRecorded",
            ContactEvent::ContactSnapshotChanged { .. } => "ContactSnapshotChanged",
            ContactEvent::ContactDeactivated { .. } => "ContactDeactivated",
            ContactEvent::ContactReactivated { .. } => "ContactReactivated",
            ContactEvent::ContactVanished { .. } => "ContactVanished",
            ContactEvent::ContactReappeared { .. } => "ContactReappeared",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
