//! The sync log: one row per `SyncRun` (what it was asked to do, its tallies so far, how it
//! ended) and the first failure reasons of each run.
//!
//! A running run's row grows page by page, so the log shows progress while it runs. Every
//! write is guarded by the run's event sequence, so replaying events already applied
//! changes nothing, even though page tallies are added rather than set.

pub mod query;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{SyncOutcome, SyncRun, SyncRunEvent, SyncStatus};

use crate::{Projection, ProjectionError};

pub struct SyncLog;

pub const NAME: &str = "sync_log";

/// Failure reasons kept per run. Later failures are still counted (`failed`), but a run
/// that fails every record must not fill the log with thousands of reasons.
pub const MAX_ERRORS_PER_RUN: i64 = 100;

#[async_trait]
impl Projection for SyncLog {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sync_run_errors", "sync_runs"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        // One statement or two per event: a run has about a hundred events, so batching
        // them would buy little and cost a fold whose guard is harder to get right.
        for stored in events.iter().filter(|e| e.aggregate_type == SyncRun::TYPE) {
            let event: SyncRunEvent = serde_json::from_str(&stored.payload).map_err(|source| {
                ProjectionError::Decode {
                    event_type: stored.event_type.clone(),
                    aggregate_id: stored.aggregate_id.clone(),
                    source,
                }
            })?;
            let at = At {
                run_id: &stored.aggregate_id,
                version: stored.sequence,
                position: stored.position.global_position,
            };
            apply_event(tx, &at, event).await?;
        }
        Ok(())
    }
}

/// The event being applied: which run, and its place in the run's stream and in the log.
struct At<'a> {
    run_id: &'a str,
    /// The event's sequence; a row whose version is already this far took the event.
    version: i64,
    position: i64,
}

/// Runs one statement on whichever backend `tx` is, returning the rows affected. The SQL
/// text is shared: sqlx binds `$n` placeholders on SQLite too.
macro_rules! execute {
    ($tx:expr, $query:expr) => {
        match $tx {
            DbTx::Postgres(tx) => $query.execute(&mut **tx).await?.rows_affected(),
            DbTx::Sqlite(tx) => $query.execute(&mut **tx).await?.rows_affected(),
        }
    };
}

async fn apply_event(tx: &mut DbTx, at: &At<'_>, event: SyncRunEvent) -> Result<(), sqlx::Error> {
    let status_after = status_after(&event);
    match event {
        SyncRunEvent::SyncRunStarted {
            source,
            resource,
            mode,
            trigger,
            updated_since,
            started_at,
        } => {
            execute!(
                tx,
                // The first event of a run creates its row; a replayed start finds it there.
                sqlx::query(
                    "insert into sync_runs (run_id, source, resource, mode, triggered_by, status,
                         updated_since, started_at, pages, fetched, created, updated, unchanged,
                         failed, vanished, errors_seen, version, last_position)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0, 0, 0, 0, 0, 0, $9, $10)
                     on conflict (run_id) do nothing",
                )
                .bind(at.run_id)
                .bind(source.as_str())
                .bind(resource.as_str())
                .bind(mode.as_str())
                .bind(trigger.as_str())
                .bind(status_after.as_str())
                .bind(updated_since)
                .bind(started_at)
                .bind(at.version)
                .bind(at.position)
            );
        }
        SyncRunEvent::SyncPageProcessed { page, tally, .. } => {
            execute!(
                tx,
                // Tallies are added, so the version guard is what keeps a replayed page
                // from counting twice.
                sqlx::query(
                    "update sync_runs
                     set pages = $2, fetched = fetched + $3, created = created + $4,
                         updated = updated + $5, unchanged = unchanged + $6,
                         failed = failed + $7, vanished = vanished + $8,
                         version = $9, last_position = $10
                     where run_id = $1 and version < $9",
                )
                .bind(at.run_id)
                .bind(i64::from(page))
                .bind(count(tally.fetched))
                .bind(count(tally.created))
                .bind(count(tally.updated))
                .bind(count(tally.unchanged))
                .bind(count(tally.failed))
                .bind(count(tally.vanished))
                .bind(at.version)
                .bind(at.position)
            );
        }
        SyncRunEvent::SyncRecordFailed {
            external_id,
            reason,
            ..
        } => {
            if let Some(ordinal) = count_failure(tx, at).await? {
                if ordinal <= MAX_ERRORS_PER_RUN {
                    execute!(
                        tx,
                        sqlx::query(
                            "insert into sync_run_errors (run_id, ordinal, external_id, reason)
                             values ($1, $2, $3, $4)",
                        )
                        .bind(at.run_id)
                        .bind(ordinal)
                        .bind(external_id.as_deref())
                        .bind(reason.as_str())
                    );
                }
            }
        }
        SyncRunEvent::SyncVanishedRecorded {
            count: vanished, ..
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update sync_runs
                     set vanished = vanished + $2, version = $3, last_position = $4
                     where run_id = $1 and version < $3",
                )
                .bind(at.run_id)
                .bind(count(vanished))
                .bind(at.version)
                .bind(at.position)
            );
        }
        SyncRunEvent::SyncRunCompleted {
            outcome,
            finished_at,
            ..
        } => {
            end_run(tx, at, status_after, &outcome, finished_at, None).await?;
        }
        SyncRunEvent::SyncRunFailed {
            outcome,
            error,
            finished_at,
        } => {
            end_run(tx, at, status_after, &outcome, finished_at, Some(&error)).await?;
        }
    }
    Ok(())
}

/// Counts one more failure of the run and returns its 1-based ordinal, or `None` when the
/// row had already taken this event (a replay) and nothing changed.
async fn count_failure(tx: &mut DbTx, at: &At<'_>) -> Result<Option<i64>, sqlx::Error> {
    // The counter lives on the run's row, under the same guard as every other write, so the
    // ordinal of a failure is the same however often the log is replayed.
    const SQL: &str = "update sync_runs
                       set errors_seen = errors_seen + 1, version = $2, last_position = $3
                       where run_id = $1 and version < $2
                       returning errors_seen";
    Ok(match tx {
        DbTx::Postgres(tx) => {
            sqlx::query_scalar(SQL)
                .bind(at.run_id)
                .bind(at.version)
                .bind(at.position)
                .fetch_optional(&mut **tx)
                .await?
        }
        DbTx::Sqlite(tx) => {
            sqlx::query_scalar(SQL)
                .bind(at.run_id)
                .bind(at.version)
                .bind(at.position)
                .fetch_optional(&mut **tx)
                .await?
        }
    })
}

async fn end_run(
    tx: &mut DbTx,
    at: &At<'_>,
    status: SyncStatus,
    outcome: &SyncOutcome,
    finished_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    execute!(
        tx,
        // The end event carries the whole run's tally: take it as the final word rather
        // than the sum of the pages seen here.
        sqlx::query(
            "update sync_runs
             set status = $2, finished_at = $3, error_message = $4,
                 fetched = $5, created = $6, updated = $7, unchanged = $8, failed = $9,
                 vanished = $10, version = $11, last_position = $12
             where run_id = $1 and version < $11",
        )
        .bind(at.run_id)
        .bind(status.as_str())
        .bind(finished_at)
        .bind(error)
        .bind(count(outcome.fetched))
        .bind(count(outcome.created))
        .bind(count(outcome.updated))
        .bind(count(outcome.unchanged))
        .bind(count(outcome.failed))
        .bind(count(outcome.vanished))
        .bind(at.version)
        .bind(at.position)
    );
    Ok(())
}

/// The run's status once `event` is applied. The aggregate owns that rule (e.g. PARTIAL
/// when any record failed), so the log asks it instead of restating it.
fn status_after(event: &SyncRunEvent) -> SyncStatus {
    match event {
        SyncRunEvent::SyncRunStarted { .. }
        | SyncRunEvent::SyncRunCompleted { .. }
        | SyncRunEvent::SyncRunFailed { .. } => {
            let mut run = SyncRun::default();
            run.apply(event.clone());
            run.status()
        }
        SyncRunEvent::SyncPageProcessed { .. }
        | SyncRunEvent::SyncRecordFailed { .. }
        | SyncRunEvent::SyncVanishedRecorded { .. } => SyncStatus::Running,
    }
}

/// A tally as stored: counts never come near 2^63, and saturating beats failing the whole
/// projection over an absurd number.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::{CrmSource, SyncMode, SyncResource, SyncTrigger};

    use super::*;

    fn outcome(failed: u64) -> SyncOutcome {
        SyncOutcome {
            fetched: 2 + failed,
            created: 1,
            updated: 1,
            unchanged: 0,
            failed,
            vanished: 0,
        }
    }

    #[test]
    fn the_status_after_each_end_is_the_aggregates() {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let cases = [
            (
                SyncRunEvent::SyncRunStarted {
                    source: CrmSource::JobNimbus,
                    resource: SyncResource::Jobs,
                    mode: SyncMode::Full,
                    trigger: SyncTrigger::Manual,
                    updated_since: None,
                    started_at: at,
                },
                SyncStatus::Running,
            ),
            (
                SyncRunEvent::SyncRunCompleted {
                    outcome: outcome(0),
                    resume_from: None,
                    finished_at: at,
                },
                SyncStatus::Success,
            ),
            (
                SyncRunEvent::SyncRunCompleted {
                    outcome: outcome(1),
                    resume_from: None,
                    finished_at: at,
                },
                SyncStatus::Partial,
            ),
            (
                SyncRunEvent::SyncRunFailed {
                    outcome: outcome(0),
                    error: "JobNimbus answered 503".into(),
                    finished_at: at,
                },
                SyncStatus::Failed,
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(status_after(&event), expected, "{event:?}");
        }
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        assert_eq!(count(7), 7);
        assert_eq!(count(u64::MAX), i64::MAX);
    }
}
