//! The OAuth `state` of pending authorisations: single-use, bound to the user who started
//! the flow, valid for ten minutes.
//!
//! The callback is the one request an attacker can fully forge (it is a browser redirect),
//! and its `state` is what proves we started the flow. A state is redeemed atomically (one
//! `update … where used_at is null`), so two racing callbacks cannot both pass.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::{Db, StoreError};

/// How long a user has between starting the flow and coming back.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);

/// How long redeemed and expired states are kept, to tell "reused" from "forged".
const KEEP_FOR: Duration = Duration::days(1);

/// What a callback's `state` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateCheck {
    /// Issued by us, unused and in time: the flow belongs to `user_id`.
    Valid { user_id: String },
    /// Never issued (forged or mangled), or so old it was forgotten.
    Unknown,
    /// Issued, but a callback already used it.
    Reused,
    /// Issued, but more than ten minutes ago.
    Expired,
}

/// Pending OAuth states in the database, shared by every instance.
#[derive(Clone)]
pub struct OAuthStates {
    db: Db,
    provider: &'static str,
}

impl OAuthStates {
    pub fn new(db: &Db, provider: &'static str) -> Self {
        Self {
            db: db.clone(),
            provider,
        }
    }

    /// A fresh random state for `user_id`. Also forgets states past their keeping time,
    /// so the table stays as small as the flows in progress.
    pub async fn issue(&self, user_id: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let state = URL_SAFE_NO_PAD.encode(bytes);
        let hash = state_hash(&state);
        let expires_at = now + STATE_LIFETIME;
        let forget_before = now - KEEP_FOR;
        match &self.db {
            Db::Postgres(pool) => {
                sqlx::query("delete from oauth_states where created_at < $1")
                    .bind(forget_before)
                    .execute(pool)
                    .await?;
                sqlx::query(
                    "insert into oauth_states (state_hash, provider, user_id, created_at, expires_at)
                     values ($1, $2, $3, $4, $5)",
                )
                .bind(&hash)
                .bind(self.provider)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query("delete from oauth_states where created_at < ?")
                    .bind(forget_before)
                    .execute(pool)
                    .await?;
                sqlx::query(
                    "insert into oauth_states (state_hash, provider, user_id, created_at, expires_at)
                     values (?, ?, ?, ?, ?)",
                )
                .bind(&hash)
                .bind(self.provider)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
            }
        }
        Ok(state)
    }

    /// Redeems `state`: the first valid call wins and every later one sees `Reused`.
    pub async fn redeem(&self, state: &str, now: DateTime<Utc>) -> Result<StateCheck, StoreError> {
        let hash = state_hash(state);
        // Claim it first, in one statement, whatever its age: an expired state is spent too.
        let claimed: Option<(String, DateTime<Utc>)> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "update oauth_states set used_at = $3
                     where state_hash = $1 and provider = $2 and used_at is null
                     returning user_id, expires_at",
                )
                .bind(&hash)
                .bind(self.provider)
                .bind(now)
                .fetch_optional(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "update oauth_states set used_at = ?
                     where state_hash = ? and provider = ? and used_at is null
                     returning user_id, expires_at",
                )
                .bind(now)
                .bind(&hash)
                .bind(self.provider)
                .fetch_optional(pool)
                .await?
            }
        };
        if let Some((user_id, expires_at)) = claimed {
            return Ok(if now > expires_at {
                StateCheck::Expired
            } else {
                StateCheck::Valid { user_id }
            });
        }
        let known: Option<i64> =
            match &self.db {
                Db::Postgres(pool) => sqlx::query_scalar(
                    "select 1::bigint from oauth_states where state_hash = $1 and provider = $2",
                )
                .bind(&hash)
                .bind(self.provider)
                .fetch_optional(pool)
                .await?,
                Db::Sqlite(pool) => {
                    sqlx::query_scalar(
                        "select 1 from oauth_states where state_hash = ? and provider = ?",
                    )
                    .bind(&hash)
                    .bind(self.provider)
                    .fetch_optional(pool)
                    .await?
                }
            };
        Ok(if known.is_some() {
            StateCheck::Reused
        } else {
            StateCheck::Unknown
        })
    }
}

/// Only the hash is stored: the state itself is a bearer secret until it is redeemed.
fn state_hash(state: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(state.as_bytes()))
}
