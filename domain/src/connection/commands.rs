use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RevokeCause, SecretVersion};

/// What the application tells a `Connection` after talking to the provider and the vault.
///
/// No command carries a token: the application stores the tokens in the vault first and
/// passes the version the vault gave them. Every command carries its own time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionCommand {
    /// The user completed the OAuth flow and the code was exchanged for tokens, now stored
    /// in the vault under `secret_version`.
    RecordGrant {
        secret_version: SecretVersion,
        /// From the access token's `exp` claim (Jobber sends no `expires_in`).
        access_expires_at: DateTime<Utc>,
        /// The Jobber account the grant is for, when the application asked.
        account_id: Option<String>,
        account_name: Option<String>,
        at: DateTime<Utc>,
    },
    /// The refresh token was redeemed and the new pair stored under `secret_version`.
    RecordRefresh {
        secret_version: SecretVersion,
        access_expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A refresh attempt failed.
    RecordRefreshFailure {
        /// Why, for people: the provider's error code or a transport error. Never a token or
        /// a response body that might echo one.
        reason: String,
        /// The provider said the grant itself is dead (e.g. `invalid_grant`), as opposed to
        /// a failure worth retrying (a timeout, a 5xx).
        grant_dead: bool,
        at: DateTime<Utc>,
        /// No refresh before this time: keeps a scheduler or a burst of 401s from hammering
        /// the provider.
        retry_not_before: DateTime<Utc>,
    },
    /// The connection ended; the application shreds the tokens.
    Revoke {
        cause: RevokeCause,
        at: DateTime<Utc>,
    },
}
