//! The SQL of `connection_secrets`, the same text on both backends (sqlx binds `$n` on
//! SQLite too).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::cipher::Sealed;
use crate::store::{Db, DbTx, LockKind};

/// One row as stored. The sealed columns are null once the row was shredded; the version
/// stays, so the next store still gets a newer one.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SecretRow {
    pub connection_id: String,
    pub version: i64,
    pub key_id: Option<String>,
    pub nonce: Option<Vec<u8>>,
    pub ciphertext: Option<Vec<u8>>,
}

impl SecretRow {
    pub fn sealed(&self) -> Option<Sealed> {
        match (&self.key_id, &self.nonce, &self.ciphertext) {
            (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
                key_id: key_id.clone(),
                nonce: nonce.clone(),
                ciphertext: ciphertext.clone(),
            }),
            _ => None,
        }
    }
}

/// Runs `$body` with `$c` bound to the connection of either kind of transaction.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            DbTx::Postgres(tx) => {
                let $c: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
            DbTx::Sqlite(tx) => {
                let $c: &mut sqlx::SqliteConnection = &mut **tx;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to the pool of either backend.
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            Db::Postgres($p) => $body,
            Db::Sqlite($p) => $body,
        }
    };
}

const SELECT_ROW: &str = "select connection_id, version, key_id, nonce, ciphertext
                          from connection_secrets where connection_id = $1";

/// A transaction for a short write. On SQLite it takes the write lock at `begin`: a deferred
/// transaction that reads the version and then writes would fail with SQLITE_BUSY if another
/// writer committed in between, and `busy_timeout` cannot retry that.
pub(super) async fn begin_write(db: &Db) -> Result<DbTx, sqlx::Error> {
    Ok(match db {
        Db::Postgres(pool) => DbTx::Postgres(pool.begin().await?),
        Db::Sqlite(pool) => DbTx::Sqlite(pool.begin_with("begin immediate").await?),
    })
}

/// Waits up to `wait` for the refresh lock of `connection_id`, held until `tx` ends.
/// `Ok(false)` when the wait ran out.
///
/// An advisory lock rather than `select … for update`: it also serialises the first store
/// of a connection, when there is no row to lock yet. Keyed like `ExclusiveLock`'s, so the
/// kinds of lock never collide.
pub(super) async fn lock_for_refresh(
    tx: &mut Transaction<'static, Postgres>,
    connection_id: &str,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    // lock_timeout 0 would mean "wait forever"; the bound is the point.
    let millis = wait.as_millis().clamp(1, i32::MAX as u128);
    sqlx::query("select set_config('lock_timeout', $1, true)")
        .bind(format!("{millis}ms"))
        .execute(&mut **tx)
        .await?;
    let locked = sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LockKind::TokenRefresh as i32)
        .bind(connection_id)
        .execute(&mut **tx)
        .await;
    match locked {
        Ok(_) => Ok(true),
        // lock_not_available: lock_timeout expired.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) async fn read_in(
    tx: &mut DbTx,
    connection_id: &str,
) -> Result<Option<SecretRow>, sqlx::Error> {
    on_tx!(tx, c => {
        sqlx::query_as::<_, SecretRow>(SELECT_ROW)
            .bind(connection_id)
            .fetch_optional(c)
            .await
    })
}

pub(super) async fn read(db: &Db, connection_id: &str) -> Result<Option<SecretRow>, sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query_as::<_, SecretRow>(SELECT_ROW)
            .bind(connection_id)
            .fetch_optional(pool)
            .await
    })
}

pub(super) async fn write(
    tx: &mut DbTx,
    connection_id: &str,
    version: i64,
    sealed: &Sealed,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => {
        sqlx::query(
            "insert into connection_secrets
                 (connection_id, version, key_id, nonce, ciphertext, updated_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (connection_id) do update set
                 version = excluded.version, key_id = excluded.key_id,
                 nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                 updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(version)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// Deletes the ciphertext and keeps the version. Whether there was one to delete.
pub(super) async fn shred(
    tx: &mut DbTx,
    connection_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = on_tx!(tx, c => {
        sqlx::query(
            "update connection_secrets
             set key_id = null, nonce = null, ciphertext = null, updated_at = $2
             where connection_id = $1 and ciphertext is not null",
        )
        .bind(connection_id)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(done > 0)
}

/// Up to `limit` rows sealed with another key than `active_key_id`, after `after` in id
/// order (keyset paging: rows rewrapped meanwhile drop out without shifting the pages).
pub(super) async fn sealed_with_other_keys(
    db: &Db,
    active_key_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<SecretRow>, sqlx::Error> {
    const SQL: &str = "select connection_id, version, key_id, nonce, ciphertext
                       from connection_secrets
                       where ciphertext is not null and key_id <> $1 and connection_id > $2
                       order by connection_id
                       limit $3";
    on_pool!(db, pool => {
        sqlx::query_as::<_, SecretRow>(SQL)
            .bind(active_key_id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
    })
}

/// Replaces a row's ciphertext with `sealed` only if the row still holds the ciphertext
/// whose nonce is `old_nonce` at `version`: a refresh that stored newer tokens meanwhile
/// wins, and its row is already under the active key. Whether the row was replaced.
pub(super) async fn replace_sealed(
    db: &Db,
    connection_id: &str,
    version: i64,
    old_nonce: &[u8],
    sealed: &Sealed,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "update connection_secrets
                       set key_id = $4, nonce = $5, ciphertext = $6, updated_at = $7
                       where connection_id = $1 and version = $2 and nonce = $3";
    let done = on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(connection_id)
            .bind(version)
            .bind(old_nonce)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(done > 0)
}
