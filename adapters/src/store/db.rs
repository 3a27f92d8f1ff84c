use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::StoreError;

/// Where the event store and read models live.
#[derive(Clone)]
pub enum DatabaseTarget {
    /// A `postgres://` URL; may carry a password, hence secret.
    Postgres(SecretString),
    /// A SQLite database file (created, with its directory, when missing).
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseTarget::Postgres(_) => f.write_str("Postgres(<redacted url>)"),
            DatabaseTarget::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}

/// Which database engine a `Db` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// A connection pool to one of the two backends. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// An open transaction on either backend; read models write their rows and checkpoint in one.
pub enum DbTx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

impl DbTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            DbTx::Postgres(tx) => tx.commit().await?,
            DbTx::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl Db {
    /// Opens a pool. SQLite runs in WAL mode with `synchronous=NORMAL`: durable across
    /// process crashes, and readers never block the single writer.
    pub async fn connect(target: &DatabaseTarget, max_connections: u32) -> Result<Db, StoreError> {
        match target {
            DatabaseTarget::Postgres(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
            DatabaseTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the embedded migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Postgres(pool) => PG_MIGRATIONS.run(pool).await?,
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Db::Postgres(pool) => {
                sqlx::query("select 1").execute(pool).await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query("select 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Runs a parameterless query whose SQL is the same on both backends and returns its
    /// single value.
    pub async fn scalar<T>(&self, sql: &'static str) -> Result<T, StoreError>
    where
        T: Send
            + Unpin
            + sqlx::Type<Postgres>
            + for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Sqlite>
            + for<'r> sqlx::Decode<'r, Sqlite>,
    {
        Ok(match self {
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }

    pub async fn begin(&self) -> Result<DbTx, StoreError> {
        Ok(match self {
            Db::Postgres(pool) => DbTx::Postgres(pool.begin().await?),
            Db::Sqlite(pool) => DbTx::Sqlite(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}
