use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{RevokeCause, SecretVersion};

/// Facts about a user's connection to a CRM. Type names and versions are frozen once on
/// main: stored history is read back by them.
///
/// No event holds a token: events are kept forever, while tokens must be revocable and
/// shreddable. They name the vault's secret version instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionEvent {
    /// The user granted access; a first connection or a reconnection.
    TokensGranted {
        secret_version: SecretVersion,
        access_expires_at: DateTime<Utc>,
        account_id: Option<String>,
        account_name: Option<String>,
        granted_at: DateTime<Utc>,
    },
    /// The refresh token was redeemed for a new pair.
    TokensRefreshed {
        secret_version: SecretVersion,
        access_expires_at: DateTime<Utc>,
        refreshed_at: DateTime<Utc>,
    },
    /// A refresh attempt failed; nothing is retried before `retry_not_before`.
    RefreshFailed {
        reason: String,
        grant_dead: bool,
        retry_not_before: DateTime<Utc>,
        failed_at: DateTime<Utc>,
    },
    /// The provider said the grant is dead: the user must connect again.
    ConnectionNeedsReauth { detected_at: DateTime<Utc> },
    /// Disconnected; the tokens were shredded.
    ConnectionRevoked {
        cause: RevokeCause,
        revoked_at: DateTime<Utc>,
    },
}

impl ConnectionEvent {
    /// When the fact happened (the command's time), for read models that show event times
    /// rather than the wall clock of the projection.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            ConnectionEvent::TokensGranted { granted_at, .. } => *granted_at,
            ConnectionEvent::TokensRefreshed { refreshed_at, .. } => *refreshed_at,
            ConnectionEvent::RefreshFailed { failed_at, .. } => *failed_at,
            ConnectionEvent::ConnectionNeedsReauth { detected_at } => *detected_at,
            ConnectionEvent::ConnectionRevoked { revoked_at, .. } => *revoked_at,
        }
    }
}

impl DomainEvent for ConnectionEvent {
    fn event_type(&self) -> String {
        match self {
            ConnectionEvent::TokensGranted { .. } => "TokensGranted",
            ConnectionEvent::TokensRefreshed { .. } => "TokensRefreshed",
            ConnectionEvent::RefreshFailed { .. } => "RefreshFailed",
            ConnectionEvent::ConnectionNeedsReauth { .. } => "ConnectionNeedsReauth",
            ConnectionEvent::ConnectionRevoked { .. } => "ConnectionRevoked",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
