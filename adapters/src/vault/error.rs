use std::time::Duration;

use crate::store::StoreError;

/// A failure of the token vault. Never holds a token or key material: rows are named by
/// their connection id and version, keys by their id.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The row was sealed with a key `TOKEN_ENCRYPTION_KEY` no longer lists: the key was
    /// dropped before `rewrap_all` moved the row to a newer one.
    #[error(
        "the tokens of {connection_id} are sealed with key `{key_id}`, which \
         TOKEN_ENCRYPTION_KEY does not list"
    )]
    UnknownKey {
        connection_id: String,
        key_id: String,
    },
    /// Authentication failed: a different key under the same id, a tampered row, or a
    /// ciphertext copied from another connection or version.
    #[error("the tokens of {connection_id} ({version}) do not decrypt: wrong key or tampered row")]
    Undecryptable {
        connection_id: String,
        version: domain::SecretVersion,
    },
    /// Decrypted, but not a layout this code wrote.
    #[error("the tokens of {connection_id} ({version}) are not in a known layout")]
    Corrupt {
        connection_id: String,
        version: domain::SecretVersion,
    },
    #[error("the tokens of {connection_id} could not be encrypted")]
    Encrypt { connection_id: String },
    /// Another refresh of the same connection held the lock longer than the wait bound.
    #[error("another refresh of {connection_id} held its lock for more than {waited:?}")]
    LockTimeout {
        connection_id: String,
        waited: Duration,
    },
}

impl From<sqlx::Error> for VaultError {
    fn from(err: sqlx::Error) -> Self {
        VaultError::Store(StoreError::Database(err))
    }
}
