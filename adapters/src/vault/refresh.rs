//! Single-flight refresh: at most one holder per connection, across the tasks of one
//! process and across instances sharing a database.
//!
//! Jobber rotates refresh tokens and invalidates the old one at once, so two concurrent
//! refreshes of one connection kill it: the loser redeems a token the winner already spent.
//! Every write to a connection's row (refresh, grant, shred) therefore happens under this
//! lock, and a holder sees the row as it is after the previous holder committed.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use domain::{ConnectionId, SecretVersion};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use super::{table, TokenSet, TokenVault, VaultError};
use crate::store::{Db, DbTx, ExclusiveLock, LockKind};

/// In-process locks, one per connection being refreshed. They come first on both backends:
/// a burst of requests for one user then waits here instead of each holding a database
/// connection while it waits for the database lock.
#[derive(Default)]
pub(super) struct RefreshLocks {
    map: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    fn for_connection(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A panic elsewhere while holding the map leaves it consistent: every operation on
        // it is a single insert or removal.
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries nobody holds or awaits go, so the map is as large as the refreshes in flight.
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(connection_id.to_string()).or_default().clone()
    }
}

/// The locks of one connection, held. Releasing is dropping.
pub(super) struct Held {
    _in_process: OwnedMutexGuard<()>,
    backend: BackendHold,
}

enum BackendHold {
    /// A transaction holding `pg_advisory_xact_lock`: writes go into it, and its end (commit,
    /// rollback, or the session dying) releases the lock.
    Postgres(DbTx),
    /// SQLite has one writer per file, and a write transaction held across an HTTP call would
    /// block every other writer. The lock is a file lock beside the database instead, so a
    /// `serve` and an `import` sharing the file still refresh one at a time; writes use a
    /// short transaction of their own.
    Sqlite(ExclusiveLock),
}

impl TokenVault {
    /// Takes the connection's refresh lock, waiting at most the vault's wait bound in all.
    pub(super) async fn acquire(&self, id: &ConnectionId) -> Result<Held, VaultError> {
        let started = Instant::now();
        let timed_out = || VaultError::LockTimeout {
            connection_id: id.to_string(),
            waited: self.lock_wait,
        };
        let lock = self.locks.for_connection(id.as_str());
        let in_process = tokio::time::timeout(self.lock_wait, lock.lock_owned())
            .await
            .map_err(|_| timed_out())?;
        let remaining = self.lock_wait.saturating_sub(started.elapsed());
        let backend = match &self.db {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if !table::lock_for_refresh(&mut tx, id.as_str(), remaining).await? {
                    return Err(timed_out());
                }
                BackendHold::Postgres(DbTx::Postgres(tx))
            }
            Db::Sqlite(_) => {
                let lock = ExclusiveLock::acquire_within(
                    &self.db,
                    LockKind::TokenRefresh,
                    id.as_str(),
                    remaining,
                )
                .await?
                .ok_or_else(timed_out)?;
                BackendHold::Sqlite(lock)
            }
        };
        Ok(Held {
            _in_process: in_process,
            backend,
        })
    }

    /// Seals `tokens` as the connection's next version and commits, under `held`.
    pub(super) async fn write_next(
        &self,
        held: Held,
        id: &ConnectionId,
        tokens: &TokenSet,
    ) -> Result<SecretVersion, VaultError> {
        let Held {
            _in_process,
            backend,
        } = held;
        let (mut tx, _file_lock) = self.write_tx(backend).await?;
        let current = table::read_in(&mut tx, id.as_str()).await?;
        let version = current.map_or(1, |row| row.version.saturating_add(1));
        let sealed = self.seal(id, version, tokens)?;
        table::write(&mut tx, id.as_str(), version, &sealed, chrono::Utc::now()).await?;
        tx.commit().await?;
        Ok(SecretVersion::new(version.unsigned_abs()))
    }

    /// Deletes the connection's ciphertext under `held`; whether there was one.
    pub(super) async fn shred_held(
        &self,
        held: Held,
        id: &ConnectionId,
    ) -> Result<bool, VaultError> {
        let Held {
            _in_process,
            backend,
        } = held;
        let (mut tx, _file_lock) = self.write_tx(backend).await?;
        let shredded = table::shred(&mut tx, id.as_str(), chrono::Utc::now()).await?;
        tx.commit().await?;
        Ok(shredded)
    }

    /// The transaction a held lock writes in, and the file lock to keep until it commits.
    async fn write_tx(
        &self,
        backend: BackendHold,
    ) -> Result<(DbTx, Option<ExclusiveLock>), VaultError> {
        Ok(match backend {
            BackendHold::Postgres(tx) => (tx, None),
            BackendHold::Sqlite(file_lock) => {
                (table::begin_write(&self.db).await?, Some(file_lock))
            }
        })
    }

    /// Takes the connection's refresh lock (waiting at most the vault's wait bound, 30 s by
    /// default) and reads the tokens as they are once it is held.
    ///
    /// Use: note the version you saw fail or expire, take the guard, and compare. If
    /// `guard.current()` is newer, another holder refreshed meanwhile: use its tokens and
    /// drop the guard. Otherwise redeem the refresh token and `guard.store` the new pair
    /// before using it. Dropping the guard without storing rolls back and releases.
    ///
    /// The HTTP call made while holding the guard needs a timeout shorter than the wait
    /// bound, or the callers queued behind it give up first.
    pub async fn lock_for_refresh(&self, id: &ConnectionId) -> Result<RefreshGuard, VaultError> {
        let mut held = self.acquire(id).await?;
        let row = match &mut held.backend {
            BackendHold::Postgres(tx) => table::read_in(tx, id.as_str()).await?,
            BackendHold::Sqlite(_) => table::read(&self.db, id.as_str()).await?,
        };
        let current = match row {
            Some(row) => self.open_row(id, &row)?,
            None => None,
        };
        Ok(RefreshGuard {
            vault: self.clone(),
            id: id.clone(),
            current,
            held,
        })
    }
}

/// The refresh lock of one connection, held, with the tokens read after taking it.
///
/// While a guard lives, no other guard, `store` or `shred` of the same connection proceeds,
/// in this process or (on PostgreSQL) in any instance sharing the database.
pub struct RefreshGuard {
    vault: TokenVault,
    id: ConnectionId,
    current: Option<(SecretVersion, TokenSet)>,
    held: Held,
}

impl RefreshGuard {
    /// The stored tokens and their version, as of taking the lock; `None` if the connection
    /// has none (never stored, or shredded).
    pub fn current(&self) -> Option<(SecretVersion, &TokenSet)> {
        self.current.as_ref().map(|(v, t)| (*v, t))
    }

    pub fn connection_id(&self) -> &ConnectionId {
        &self.id
    }

    /// Stores the refreshed pair as the next version, commits and releases the lock.
    pub async fn store(self, tokens: &TokenSet) -> Result<SecretVersion, VaultError> {
        self.vault.write_next(self.held, &self.id, tokens).await
    }

    /// Shreds the tokens, commits and releases: a disconnect that holds the guard while it
    /// tells the provider cannot be overtaken by a refresh storing new tokens after it.
    pub async fn shred(self) -> Result<bool, VaultError> {
        self.vault.shred_held(self.held, &self.id).await
    }
}

impl std::fmt::Debug for RefreshGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshGuard")
            .field("connection_id", &self.id.as_str())
            .field("version", &self.current.as_ref().map(|(v, _)| *v))
            .finish_non_exhaustive()
    }
}

/// The default bound on waiting for a connection's refresh lock.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);
