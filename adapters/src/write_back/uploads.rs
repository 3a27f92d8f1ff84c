//! An attachment's bytes, kept until its write-back settles (events hold only their hash).

use chrono::{DateTime, Utc};

use crate::store::{Db, StoreError};

pub(super) async fn keep(
    db: &Db,
    write_back_id: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = "insert into write_back_uploads (write_back_id, bytes, created_at)
               values ($1, $2, $3) on conflict (write_back_id) do nothing";
    match db {
        Db::Postgres(pool) => {
            sqlx::query(sql)
                .bind(write_back_id)
                .bind(bytes)
                .bind(now)
                .execute(pool)
                .await?;
        }
        Db::Sqlite(pool) => {
            sqlx::query(sql)
                .bind(write_back_id)
                .bind(bytes)
                .bind(now)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

pub(super) async fn get(db: &Db, write_back_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = "select bytes from write_back_uploads where write_back_id = $1";
    let row: Option<(Vec<u8>,)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(sql)
                .bind(write_back_id)
                .fetch_optional(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(sql)
                .bind(write_back_id)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row.map(|(bytes,)| bytes))
}

/// Once settled, the bytes are not needed: JobNimbus holds the file, or it never will.
pub(super) async fn forget(db: &Db, write_back_id: &str) -> Result<(), StoreError> {
    let sql = "delete from write_back_uploads where write_back_id = $1";
    match db {
        Db::Postgres(pool) => {
            sqlx::query(sql).bind(write_back_id).execute(pool).await?;
        }
        Db::Sqlite(pool) => {
            sqlx::query(sql).bind(write_back_id).execute(pool).await?;
        }
    }
    Ok(())
}
