//! The retry worker: one step (`run_once`) that attempts every write-back due, which the
//! background task runs every poll interval and tests call directly.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use tokio::task::JoinHandle;

use super::WriteBacks;
use crate::store::{Db, StoreError};

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Write-backs due and attempted (some may have been taken by another attempt).
    pub attempted: usize,
    pub succeeded: usize,
    pub still_pending: usize,
    pub failed: usize,
    /// Attempts that could not run (database errors).
    pub errors: usize,
    /// Expired idempotency keys deleted.
    pub keys_purged: u64,
}

impl WriteBacks {
    /// Attempts the write-backs due at `now` (a few at once), then purges expired keys.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<WorkerReport, StoreError> {
        let settings = self.settings();
        let ids = due(self.db(), now, settings.worker_batch).await?;
        let mut report = WorkerReport {
            attempted: ids.len(),
            ..WorkerReport::default()
        };
        let metadata = HashMap::from([("actor".to_string(), "write_back_worker".to_string())]);
        let outcomes: Vec<_> = stream::iter(ids)
            .map(|id| {
                let metadata = metadata.clone();
                async move { (self.attempt(&id, metadata).await, id) }
            })
            .buffer_unordered(settings.worker_concurrency.max(1))
            .collect()
            .await;
        for (outcome, id) in outcomes {
            match outcome {
                Ok((write_back, _)) => match write_back.state() {
                    domain::WriteBackState::Pending => report.still_pending += 1,
                    domain::WriteBackState::Succeeded => report.succeeded += 1,
                    domain::WriteBackState::Failed => report.failed += 1,
                },
                Err(error) => {
                    report.errors += 1;
                    tracing::error!(write_back_id = %id, %error, "write-back retry failed to run");
                }
            }
        }
        report.keys_purged = self.keys().purge_expired(now).await?;
        Ok(report)
    }
}

/// Pending write-backs whose next attempt is due: the read model sets `next_attempt_at` to
/// the request time, a retry's time, or an attempt's lease end (so a crashed attempt is
/// picked up when its lease runs out).
async fn due(db: &Db, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>, StoreError> {
    let sql = "select write_back_id from write_backs
               where state = 'pending' and next_attempt_at <= $1
               order by next_attempt_at limit $2";
    let rows: Vec<(String,)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Runs `run_once` every `settings.poll_interval` until aborted.
pub fn spawn_worker(write_backs: WriteBacks) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(write_backs.settings().poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match write_backs.run_once(Utc::now()).await {
                Ok(report) if report.attempted > 0 => {
                    tracing::info!(?report, "write-back retries");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "write-back worker step failed"),
            }
        }
    })
}
