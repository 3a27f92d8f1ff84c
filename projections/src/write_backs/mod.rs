//! The write-backs read model: one row per `WriteBack` (which job, what, where it stands,
//! the CRM's id once written), for the job's write-back lists and the retry worker.
//!
//! Every write is guarded by the stream's sequence, so a replayed batch changes nothing.

pub mod query;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use cqrs_es::Aggregate;
use domain::{WriteBack, WriteBackEvent};

use crate::{Projection, ProjectionError};

pub struct WriteBacks;

pub const NAME: &str = "write_backs";

#[async_trait]
impl Projection for WriteBacks {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["write_backs"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        // One statement per event: a write-back has a handful of events in its life.
        for stored in events
            .iter()
            .filter(|e| e.aggregate_type == WriteBack::TYPE)
        {
            let event: WriteBackEvent =
                serde_json::from_str(&stored.payload).map_err(|source| {
                    ProjectionError::Decode {
                        event_type: stored.event_type.clone(),
                        aggregate_id: stored.aggregate_id.clone(),
                        source,
                    }
                })?;
            apply_event(tx, stored, event).await?;
        }
        Ok(())
    }
}

/// Runs one statement on whichever backend `tx` is (sqlx binds `$n` on SQLite too).
macro_rules! execute {
    ($tx:expr, $query:expr) => {
        match $tx {
            DbTx::Postgres(tx) => {
                $query.execute(&mut **tx).await?;
            }
            DbTx::Sqlite(tx) => {
                $query.execute(&mut **tx).await?;
            }
        }
    };
}

/// Who asked: the `caller` of the intent's metadata, else its `actor`.
fn requested_by(metadata: &str) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(metadata).ok()?;
    metadata
        .get("caller")
        .or_else(|| metadata.get("actor"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

async fn apply_event(
    tx: &mut DbTx,
    stored: &StoredEvent,
    event: WriteBackEvent,
) -> Result<(), sqlx::Error> {
    let id = stored.aggregate_id.as_str();
    let version = stored.sequence;
    let position = stored.position.global_position;
    match event {
        WriteBackEvent::WriteBackRequested {
            job_id,
            payload,
            marker,
            requested_at,
            ..
        } => {
            let kind = payload.kind().as_str();
            let payload = serde_json::to_string(&payload).unwrap_or_default();
            let by = requested_by(&stored.metadata);
            execute!(
                tx,
                sqlx::query(
                    "insert into write_backs (write_back_id, job_id, kind, state, payload, marker,
                         attempts, next_attempt_at, confirmed_by_read_back, requested_at,
                         requested_by, version, last_position)
                     values ($1, $2, $3, 'pending', $4, $5, 0, $6, false, $6, $7, $8, $9)
                     on conflict (write_back_id) do nothing"
                )
                .bind(id)
                .bind(job_id.as_str())
                .bind(kind)
                .bind(&payload)
                .bind(&marker)
                .bind(requested_at)
                .bind(&by)
                .bind(version)
                .bind(position)
            );
        }
        WriteBackEvent::WriteBackAttemptStarted {
            attempt,
            lease_until,
            ..
        } => {
            // Due again when the lease runs out: a crashed attempt is retried then.
            execute!(
                tx,
                sqlx::query(
                    "update write_backs set attempts = $2, next_attempt_at = $3, version = $4,
                         last_position = $5
                     where write_back_id = $1 and version < $4"
                )
                .bind(id)
                .bind(i64::from(attempt))
                .bind(lease_until)
                .bind(version)
                .bind(position)
            );
        }
        WriteBackEvent::WriteBackNotFoundOnReadBack { .. } => {
            execute!(
                tx,
                sqlx::query(
                    "update write_backs set version = $2, last_position = $3
                     where write_back_id = $1 and version < $2"
                )
                .bind(id)
                .bind(version)
                .bind(position)
            );
        }
        WriteBackEvent::WriteBackSucceeded {
            remote_id,
            confirmed_by_read_back,
            succeeded_at,
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update write_backs set state = 'succeeded', remote_id = $2,
                         confirmed_by_read_back = $3, settled_at = $4, next_attempt_at = null,
                         version = $5, last_position = $6
                     where write_back_id = $1 and version < $5"
                )
                .bind(id)
                .bind(&remote_id)
                .bind(confirmed_by_read_back)
                .bind(succeeded_at)
                .bind(version)
                .bind(position)
            );
        }
        WriteBackEvent::WriteBackRetryScheduled {
            reason,
            next_attempt_at,
            ..
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update write_backs set last_error = $2, next_attempt_at = $3, version = $4,
                         last_position = $5
                     where write_back_id = $1 and version < $4"
                )
                .bind(id)
                .bind(&reason)
                .bind(next_attempt_at)
                .bind(version)
                .bind(position)
            );
        }
        WriteBackEvent::WriteBackFailed {
            reason,
            retryable,
            failed_at,
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update write_backs set state = 'failed', last_error = $2, retryable = $3,
                         settled_at = $4, next_attempt_at = null, version = $5,
                         last_position = $6
                     where write_back_id = $1 and version < $5"
                )
                .bind(id)
                .bind(&reason)
                .bind(retryable)
                .bind(failed_at)
                .bind(version)
                .bind(position)
            );
        }
    }
    Ok(())
}
