//! `Idempotency-Key` → the write-back it started, kept until it expires.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{Db, StoreError};

/// What a key maps to once claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or expired): it now names `write_back_id`, the candidate offered.
    New,
    /// The key already names this write-back, for the same request.
    Existing { write_back_id: String },
    /// The key was used for another request.
    Reused,
}

/// The `write_back_idempotency` table. Keys are stored as their SHA-256 only.
#[derive(Clone, Debug)]
pub struct IdempotencyKeys {
    db: Db,
}

impl IdempotencyKeys {
    pub fn new(db: &Db) -> Self {
        Self { db: db.clone() }
    }

    /// Maps `key_hash` to `candidate` unless a live entry holds it. Two callers racing on one
    /// key both end up with the entry the insert kept (`on conflict do nothing`).
    pub async fn claim(
        &self,
        key_hash: &str,
        request_hash: &str,
        candidate: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        let expires_at =
            now + chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::days(1));
        // An expired entry no longer protects anything: the key starts afresh.
        let purge = "delete from write_back_idempotency where key_hash = $1 and expires_at <= $2";
        let insert = "insert into write_back_idempotency
                          (key_hash, request_hash, write_back_id, created_at, expires_at)
                      values ($1, $2, $3, $4, $5)
                      on conflict (key_hash) do nothing";
        let select =
            "select request_hash, write_back_id from write_back_idempotency where key_hash = $1";
        let (held_hash, held_id): (String, String) = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query(purge)
                    .bind(key_hash)
                    .bind(now)
                    .execute(pool)
                    .await?;
                sqlx::query(insert)
                    .bind(key_hash)
                    .bind(request_hash)
                    .bind(candidate)
                    .bind(now)
                    .bind(expires_at)
                    .execute(pool)
                    .await?;
                sqlx::query_as(select)
                    .bind(key_hash)
                    .fetch_one(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query(purge)
                    .bind(key_hash)
                    .bind(now)
                    .execute(pool)
                    .await?;
                sqlx::query(insert)
                    .bind(key_hash)
                    .bind(request_hash)
                    .bind(candidate)
                    .bind(now)
                    .bind(expires_at)
                    .execute(pool)
                    .await?;
                sqlx::query_as(select)
                    .bind(key_hash)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(if held_hash != request_hash {
            Claim::Reused
        } else if held_id == candidate {
            Claim::New
        } else {
            Claim::Existing {
                write_back_id: held_id,
            }
        })
    }

    /// Deletes the entries expired at `now`; returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "delete from write_back_idempotency where expires_at <= $1";
        let done = match &self.db {
            Db::Postgres(pool) => sqlx::query(sql)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
            Db::Sqlite(pool) => sqlx::query(sql)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }
}
