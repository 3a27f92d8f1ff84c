use std::sync::Arc;
use std::time::Duration;

use domain::{ConnectionId, SecretVersion};
use secrecy::ExposeSecret;

use super::cipher::{self, CipherError, Sealed};
use super::refresh::{RefreshLocks, DEFAULT_LOCK_WAIT};
use super::table::{self, SecretRow};
use super::{tokens, Keyring, TokenSet, VaultError};
use crate::store::Db;

/// Rows re-encrypted per page by `rewrap_all`.
const REWRAP_PAGE: i64 = 200;

/// The connections' OAuth tokens, encrypted at rest in `connection_secrets`.
///
/// Invariants: a row's version grows by one on every store and never goes back, not even
/// across a shred, so an event naming a version names one token set forever; every
/// ciphertext is bound to its connection and version; every write of a connection's row
/// happens under its refresh lock (see `lock_for_refresh`).
///
/// Cheap to clone; clones share the in-process locks. Build one per process and database.
#[derive(Clone)]
pub struct TokenVault {
    pub(super) db: Db,
    keyring: Arc<Keyring>,
    pub(super) locks: Arc<RefreshLocks>,
    pub(super) lock_wait: Duration,
}

impl TokenVault {
    pub fn new(db: Db, keyring: Keyring) -> Self {
        Self {
            db,
            keyring: Arc::new(keyring),
            locks: Arc::default(),
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// How long a caller waits for another holder of a connection's refresh lock before
    /// giving up with `VaultError::LockTimeout`.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Stores `tokens` as the connection's next version (1 for a first grant) and returns
    /// it. Waits for a refresh in flight, so a new grant is never overwritten by it.
    /// Inside a refresh, use `RefreshGuard::store`: this would wait for the guard itself.
    pub async fn store(
        &self,
        id: &ConnectionId,
        tokens: &TokenSet,
    ) -> Result<SecretVersion, VaultError> {
        let held = self.acquire(id).await?;
        self.write_next(held, id, tokens).await
    }

    /// The connection's current tokens and their version; `None` if it has none (never
    /// stored, or shredded).
    pub async fn load(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<(SecretVersion, TokenSet)>, VaultError> {
        match table::read(&self.db, id.as_str()).await? {
            Some(row) => self.open_row(id, &row),
            None => Ok(None),
        }
    }

    /// Crypto-shredding: deletes the ciphertext and keeps only its version number, so the
    /// tokens are gone while the events that name the version stay true. Waits for a
    /// refresh in flight, which could otherwise store new tokens after the shred. Whether
    /// there was a ciphertext to delete.
    pub async fn shred(&self, id: &ConnectionId) -> Result<bool, VaultError> {
        let held = self.acquire(id).await?;
        self.shred_held(held, id).await
    }

    /// Re-encrypts every row sealed with an older key under the active one, keeping its
    /// version; returns how many rows it rewrote. Once it returns, older keys can leave
    /// `TOKEN_ENCRYPTION_KEY`. Safe alongside live refreshes: a row stored meanwhile is
    /// left as the refresh wrote it.
    pub async fn rewrap_all(&self) -> Result<u64, VaultError> {
        let active = self.keyring.active_key_id();
        let mut after = String::new();
        let mut rewrapped = 0;
        loop {
            let page = table::sealed_with_other_keys(&self.db, active, &after, REWRAP_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.connection_id.clone();
            for row in &page {
                let Some(old) = row.sealed() else {
                    continue;
                };
                let version = stored_version(row.version);
                let plain = cipher::open(&self.keyring, &row.connection_id, version, &old)
                    .map_err(|e| cipher_error(e, &row.connection_id, version))?;
                let sealed = cipher::seal(
                    &self.keyring,
                    &row.connection_id,
                    version,
                    plain.expose_secret(),
                )
                .map_err(|e| cipher_error(e, &row.connection_id, version))?;
                let replaced = table::replace_sealed(
                    &self.db,
                    &row.connection_id,
                    row.version,
                    &old.nonce,
                    &sealed,
                    chrono::Utc::now(),
                )
                .await?;
                rewrapped += u64::from(replaced);
            }
        }
        if rewrapped > 0 {
            tracing::info!(rewrapped, key_id = active, "token vault rewrapped");
        }
        Ok(rewrapped)
    }

    pub(super) fn seal(
        &self,
        id: &ConnectionId,
        version: i64,
        tokens: &TokenSet,
    ) -> Result<Sealed, VaultError> {
        let plain = tokens::encode(tokens);
        cipher::seal(
            &self.keyring,
            id.as_str(),
            stored_version(version),
            plain.expose_secret(),
        )
        .map_err(|e| cipher_error(e, id.as_str(), stored_version(version)))
    }

    /// The tokens of a row, or `None` if it was shredded.
    pub(super) fn open_row(
        &self,
        id: &ConnectionId,
        row: &SecretRow,
    ) -> Result<Option<(SecretVersion, TokenSet)>, VaultError> {
        let Some(sealed) = row.sealed() else {
            return Ok(None);
        };
        let version = stored_version(row.version);
        let plain = cipher::open(&self.keyring, id.as_str(), version, &sealed)
            .map_err(|e| cipher_error(e, id.as_str(), version))?;
        let tokens = tokens::decode(plain.expose_secret()).ok_or_else(|| VaultError::Corrupt {
            connection_id: id.to_string(),
            version: SecretVersion::new(version),
        })?;
        Ok(Some((SecretVersion::new(version), tokens)))
    }
}

impl std::fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVault")
            .field("backend", &self.db.backend())
            .field("keyring", &self.keyring)
            .field("lock_wait", &self.lock_wait)
            .finish_non_exhaustive()
    }
}

/// Versions are stored as `bigint` and start at 1; a check constraint keeps them positive.
fn stored_version(version: i64) -> u64 {
    version.unsigned_abs()
}

fn cipher_error(err: CipherError, connection_id: &str, version: u64) -> VaultError {
    let connection_id = connection_id.to_string();
    match err {
        CipherError::UnknownKey(key_id) => VaultError::UnknownKey {
            connection_id,
            key_id,
        },
        CipherError::Undecryptable => VaultError::Undecryptable {
            connection_id,
            version: SecretVersion::new(version),
        },
        CipherError::Encrypt => VaultError::Encrypt { connection_id },
    }
}
