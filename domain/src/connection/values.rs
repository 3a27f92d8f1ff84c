use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Version of the encrypted token set a connection's events refer to. The tokens themselves
/// live in the vault, never in an event; the version says which ciphertext an event meant.
///
/// Invariant (kept by the vault and checked by the aggregate): versions of one connection
/// only grow, across refreshes, disconnects and reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretVersion(u64);

impl SecretVersion {
    pub const fn new(version: u64) -> Self {
        Self(version)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SecretVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Where a connection stands, as the status endpoint reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// No grant was ever recorded (an aggregate with no events).
    #[default]
    NeverConnected,
    /// We hold tokens that the provider accepted at the last grant or refresh.
    Authenticated,
    /// The provider said the grant is dead (e.g. `invalid_grant`): only the user can fix it,
    /// by connecting again.
    NeedsReauth,
    /// Disconnected by the user or the provider; the tokens were shredded.
    Revoked,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 4] = [
        ConnectionStatus::NeverConnected,
        ConnectionStatus::Authenticated,
        ConnectionStatus::NeedsReauth,
        ConnectionStatus::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::NeverConnected => "never_connected",
            ConnectionStatus::Authenticated => "authenticated",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Revoked => "revoked",
        }
    }
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeCause {
    /// Our disconnect endpoint (`DELETE /auth/jobber/connections/{user_id}`).
    UserDisconnected,
    /// Jobber's `APP_DISCONNECT` webhook: the user removed the app on Jobber's side, and the
    /// tokens were already dead when it arrived.
    AppDisconnectWebhook,
}

impl RevokeCause {
    pub const ALL: [RevokeCause; 2] = [
        RevokeCause::UserDisconnected,
        RevokeCause::AppDisconnectWebhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeCause::UserDisconnected => "user_disconnected",
            RevokeCause::AppDisconnectWebhook => "app_disconnect_webhook",
        }
    }
}

/// Whether an access token expiring at `expires_at` should be refreshed at `now`: within
/// `margin` of its expiry or past it. Refreshing early means a request made just before the
/// expiry never travels with a token that dies in flight.
pub fn refresh_due(expires_at: DateTime<Utc>, now: DateTime<Utc>, margin: TimeDelta) -> bool {
    now + margin >= expires_at
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_refresh_is_due_within_the_margin_of_expiry_and_after_it() {
        let expires = Utc.timestamp_opt(1_700_003_600, 0).unwrap();
        let margin = TimeDelta::minutes(5);
        let cases = [
            (expires - TimeDelta::minutes(30), false),
            (
                expires - TimeDelta::minutes(5) - TimeDelta::seconds(1),
                false,
            ),
            (expires - TimeDelta::minutes(5), true),
            (expires, true),
            (expires + TimeDelta::hours(2), true),
        ];
        for (now, due) in cases {
            assert_eq!(refresh_due(expires, now, margin), due, "at {now}");
        }
    }

    #[test]
    fn statuses_and_causes_serialise_as_their_stored_text() {
        for status in ConnectionStatus::ALL {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        for cause in RevokeCause::ALL {
            assert_eq!(
                serde_json::to_string(&cause).unwrap(),
                format!("\"{}\"", cause.as_str())
            );
        }
    }
}
