use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use sqlx::{Connection, PgConnection, SqlitePool};

use super::{Db, StoreError};

/// What an [`ExclusiveLock`] guards; the first key of PostgreSQL's two-key advisory locks,
/// so names of different kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// One runner per projection across instances.
    Projection = 1,
    /// One sync run per CRM resource across instances.
    SyncRun = 2,
    /// One instance per scheduled tick.
    ScheduledTick = 3,
    /// One token refresh per CRM connection across instances (rotation kills the loser).
    TokenRefresh = 4,
}

impl LockKind {
    fn as_str(self) -> &'static str {
        match self {
            LockKind::Projection => "projection",
            LockKind::SyncRun => "sync",
            LockKind::ScheduledTick => "tick",
            LockKind::TokenRefresh => "token",
        }
    }
}

/// Exclusive right to do one named thing across every process sharing the database.
///
/// On PostgreSQL a session advisory lock held on a dedicated connection; on SQLite an OS
/// lock on a file beside the database (`serve` and `import` may share one file). Either way
/// the operating system or the server drops the lock when its holder dies, so a crash never
/// leaves it stuck. Holders in one process are told apart too: each `try_acquire` opens its
/// own session or file handle.
pub struct ExclusiveLock {
    held: Held,
}

enum Held {
    Postgres(PgConnection),
    /// Dropping the handle releases the lock.
    File(File),
}

impl ExclusiveLock {
    /// The lock, or `None` if another session holds it.
    pub async fn try_acquire(
        db: &Db,
        kind: LockKind,
        name: &str,
    ) -> Result<Option<ExclusiveLock>, StoreError> {
        let pool = match db {
            Db::Postgres(pool) => pool,
            Db::Sqlite(pool) => return Self::try_lock_file(pool, kind, name),
        };
        // Detached from the pool: a pooled connection would go back to the pool still
        // holding the session lock.
        let mut connection = pool.acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, hashtext($2))")
            .bind(kind as i32)
            .bind(name)
            .fetch_one(&mut connection)
            .await?;
        if locked {
            Ok(Some(ExclusiveLock {
                held: Held::Postgres(connection),
            }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }

    /// Tries for up to `patience`: a lock whose holder just disconnected is released by the
    /// server a moment later.
    pub async fn acquire_within(
        db: &Db,
        kind: LockKind,
        name: &str,
        patience: Duration,
    ) -> Result<Option<ExclusiveLock>, StoreError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(lock) = Self::try_acquire(db, kind, name).await? {
                return Ok(Some(lock));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn release(self) {
        match self.held {
            // Closing the session releases its advisory locks.
            Held::Postgres(connection) => {
                let _ = connection.close().await;
            }
            Held::File(file) => drop(file),
        }
    }

    fn try_lock_file(
        pool: &SqlitePool,
        kind: LockKind,
        name: &str,
    ) -> Result<Option<ExclusiveLock>, StoreError> {
        let path = lock_file_path(pool, kind, name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Lock(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ExclusiveLock {
                held: Held::File(file),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(StoreError::Lock(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}

/// `<database file>.<kind>-<name>.lock`, with the name reduced to characters safe in a file
/// name.
fn lock_file_path(pool: &SqlitePool, kind: LockKind, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut path = pool.connect_options().get_filename().as_os_str().to_owned();
    path.push(format!(".{}-{safe}.lock", kind.as_str()));
    PathBuf::from(path)
}
