//! The durable inbox table (`jobnimbus_webhook_inbox`, migration 0013): one row per distinct
//! change, shared by every instance on the database.
//!
//! Work is serialised per record: a claim takes only records whose oldest pending row is due
//! and unleased, and leases all of that record's pending rows at once. Two instances never
//! refetch one record at the same time, so an older copy can never be recorded after a newer
//! one. On PostgreSQL the claim skips rows another claim has locked (`skip locked`); SQLite
//! has one writer, so its claim statement is atomic as it stands.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::payload::{InboxAction, WebhookDelivery};
use crate::store::{Backend, Db, StoreError};

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds: the statements are the
/// same on both backends (sqlx reads `$1` on SQLite too).
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Postgres($pool) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxState {
    /// Waiting for (or in) processing.
    Pending,
    /// Processed: the record was refetched (or JobNimbus no longer has it; see the note).
    Done,
    /// A kind we do not mirror; stored for auditors only.
    Ignored,
    /// Failed `max_attempts` times, or failed in a way retrying cannot fix; `last_error`
    /// says why. Left for an operator.
    Dead,
}

impl InboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::Pending => "pending",
            InboxState::Done => "done",
            InboxState::Ignored => "ignored",
            InboxState::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            InboxState::Pending,
            InboxState::Done,
            InboxState::Ignored,
            InboxState::Dead,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// A new change: a row was inserted.
    Stored { id: i64, state: InboxState },
    /// The change is already in the inbox; nothing was inserted.
    Duplicate,
}

/// Rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    pub pending: u64,
    pub done: u64,
    pub ignored: u64,
    pub dead: u64,
}

impl InboxCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.done + self.ignored + self.dead
    }
}

/// One inbox row, for audits and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub id: i64,
    pub dedupe_key: String,
    pub kind: String,
    pub jnid: String,
    pub remote_updated_at: Option<i64>,
    pub action: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub note: Option<String>,
    pub payload: String,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

type EntryRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    i32,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// A row a claim leased to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClaimedRow {
    pub(super) id: i64,
    pub(super) kind: String,
    pub(super) jnid: String,
    pub(super) action: String,
    /// Including the attempt this claim starts.
    pub(super) attempts: i32,
}

/// The inbox, and the bell that wakes this process's processor when a row arrives. Cheap
/// to clone; clones share the bell.
#[derive(Clone)]
pub struct WebhookInbox {
    db: Db,
    wake: Arc<Notify>,
}

impl fmt::Debug for WebhookInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookInbox")
            .field("backend", &self.db.backend())
            .finish()
    }
}

impl WebhookInbox {
    pub fn new(db: &Db) -> Self {
        Self {
            db: db.clone(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Stores a delivery: a row for a new change (pending, or ignored for kinds we do not
    /// mirror), nothing for a change already stored. Wakes the processor for pending rows.
    pub async fn record(
        &self,
        delivery: &WebhookDelivery,
        now: DateTime<Utc>,
    ) -> Result<Receipt, StoreError> {
        let action = delivery.action();
        let (state, note, processed_at) = match action {
            InboxAction::Ignore => (
                InboxState::Ignored,
                Some(format!(
                    "{} records are not mirrored",
                    delivery.kind.as_str()
                )),
                Some(now),
            ),
            _ => (InboxState::Pending, None, None),
        };
        // `do nothing` on the key: the same change delivered again (or concurrently, by
        // another instance) leaves the first row as it is.
        let sql = "insert into jobnimbus_webhook_inbox
                (dedupe_key, kind, jnid, remote_updated_at, action, state, next_attempt_at,
                 note, payload, received_at, processed_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $10)
             on conflict (dedupe_key) do nothing
             returning id";
        let id: Option<i64> = on_pool!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(&delivery.dedupe_key)
            .bind(delivery.kind.as_str())
            .bind(&delivery.jnid)
            .bind(delivery.date_updated)
            .bind(action.as_str())
            .bind(state.as_str())
            .bind(now)
            .bind(note)
            .bind(&delivery.payload)
            .bind(processed_at)
            .fetch_optional(pool)
            .await?);
        Ok(match id {
            Some(id) => {
                if state == InboxState::Pending {
                    self.wake();
                }
                Receipt::Stored { id, state }
            }
            None => Receipt::Duplicate,
        })
    }

    /// Wakes this process's processor (a permit is kept if it is busy, so no row waits for
    /// the poll interval).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`WebhookInbox::wake`] was called since the last time this resolved.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Rows per state.
    pub async fn counts(&self) -> Result<InboxCounts, StoreError> {
        let sql = "select state, count(*) from jobnimbus_webhook_inbox group by state";
        let rows: Vec<(String, i64)> =
            on_pool!(&self.db, |pool| sqlx::query_as(sql).fetch_all(pool).await?);
        let mut counts = InboxCounts::default();
        for (state, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match InboxState::parse(&state) {
                Some(InboxState::Pending) => counts.pending += n,
                Some(InboxState::Done) => counts.done += n,
                Some(InboxState::Ignored) => counts.ignored += n,
                Some(InboxState::Dead) => counts.dead += n,
                None => tracing::warn!(state, "inbox rows in an unknown state"),
            }
        }
        Ok(counts)
    }

    /// The first `limit` rows, oldest first.
    pub async fn entries(&self, limit: i64) -> Result<Vec<InboxEntry>, StoreError> {
        let sql = "select id, dedupe_key, kind, jnid, remote_updated_at, action, state, attempts,
                    next_attempt_at, last_error, note, payload, received_at, processed_at
             from jobnimbus_webhook_inbox order by id limit $1";
        let rows: Vec<EntryRow> = on_pool!(&self.db, |pool| sqlx::query_as(sql)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    dedupe_key,
                    kind,
                    jnid,
                    remote_updated_at,
                    action,
                    state,
                    attempts,
                    next_attempt_at,
                    last_error,
                    note,
                    payload,
                    received_at,
                    processed_at,
                )| InboxEntry {
                    id,
                    dedupe_key,
                    kind,
                    jnid,
                    remote_updated_at,
                    action,
                    state,
                    attempts,
                    next_attempt_at,
                    last_error,
                    note,
                    payload,
                    received_at,
                    processed_at,
                },
            )
            .collect())
    }

    /// Leases to `owner` until `lease_until` every pending row of up to `records` records
    /// whose oldest pending row is due at `now` and not leased, counting an attempt on each.
    pub(super) async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        records: i64,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        // The inner select picks records by their oldest pending row: a newer row of a
        // record whose older row is leased or backing off waits for it, which is what
        // keeps one record's work on one processor at a time.
        let lock = match self.db.backend() {
            Backend::Postgres => "for update of a skip locked",
            Backend::Sqlite => "",
        };
        // Materialised, so the candidates (and their `limit`) are picked once: as a plain
        // `in (subquery)`, PostgreSQL may run the locking subquery again per row it updates,
        // claiming more records than asked and leaving their newer rows out.
        let sql = format!(
            "with candidates (c_kind, c_jnid) as materialized (
                 select a.kind, a.jnid from jobnimbus_webhook_inbox a
                 where a.state = 'pending'
                   and a.next_attempt_at <= $3
                   and (a.lease_until is null or a.lease_until <= $3)
                   and not exists (
                       select 1 from jobnimbus_webhook_inbox o
                       where o.kind = a.kind and o.jnid = a.jnid
                         and o.state = 'pending' and o.id < a.id)
                 order by a.next_attempt_at, a.id
                 limit $4
                 {lock})
             update jobnimbus_webhook_inbox
             set lease_owner = $1, lease_until = $2, attempts = attempts + 1
             from candidates
             where kind = c_kind and jnid = c_jnid and state = 'pending'
               and (lease_until is null or lease_until <= $3)
             returning id, kind, jnid, action, attempts"
        );
        let rows: Vec<(i64, String, String, String, i32)> =
            on_pool!(&self.db, |pool| sqlx::query_as(&sql)
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(records)
                .fetch_all(pool)
                .await?);
        let mut rows: Vec<ClaimedRow> = rows
            .into_iter()
            .map(|(id, kind, jnid, action, attempts)| ClaimedRow {
                id,
                kind,
                jnid,
                action,
                attempts,
            })
            .collect();
        // `returning` promises no order.
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// Ends the processing of a record's rows that `owner` holds.
    pub(super) async fn finish(
        &self,
        record: (&str, &str),
        owner: &str,
        outcome: Finish<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (kind, jnid) = record;
        match outcome {
            Finish::Done { note } => {
                self.settle(record, owner, InboxState::Done, Some(note), None, now)
                    .await?
            }
            Finish::Dead { error } => {
                self.settle(record, owner, InboxState::Dead, None, Some(error), now)
                    .await?
            }
            Finish::Retry { error, at } => {
                // Still pending: the claim picks it up again once `at` has passed.
                let sql = "update jobnimbus_webhook_inbox
                     set next_attempt_at = $4, last_error = $5, lease_owner = null,
                         lease_until = null
                     where kind = $1 and jnid = $2 and lease_owner = $3 and state = 'pending'";
                on_pool!(&self.db, |pool| {
                    sqlx::query(sql)
                        .bind(kind)
                        .bind(jnid)
                        .bind(owner)
                        .bind(at)
                        .bind(error)
                        .execute(pool)
                        .await?;
                });
            }
        }
        Ok(())
    }
}

impl WebhookInbox {
    /// Moves a record's rows that `owner` holds to a final state.
    async fn settle(
        &self,
        (kind, jnid): (&str, &str),
        owner: &str,
        state: InboxState,
        note: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "update jobnimbus_webhook_inbox
             set state = $4, note = coalesce($5, note), last_error = coalesce($6, last_error),
                 processed_at = $7, lease_owner = null, lease_until = null
             where kind = $1 and jnid = $2 and lease_owner = $3 and state = 'pending'";
        on_pool!(&self.db, |pool| {
            sqlx::query(sql)
                .bind(kind)
                .bind(jnid)
                .bind(owner)
                .bind(state.as_str())
                .bind(note)
                .bind(error)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// How a record's rows end a processing attempt.
#[derive(Debug, Clone, Copy)]
pub(super) enum Finish<'a> {
    Done { note: &'a str },
    Retry { error: &'a str, at: DateTime<Utc> },
    Dead { error: &'a str },
}
