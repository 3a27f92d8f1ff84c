use std::sync::Arc;
use std::time::Duration;

use adapters::store::{AppendSignal, Db, DbTx, EventLog, ExclusiveLock, LockKind, StoredEvent};
use tokio::task::JoinHandle;

use crate::checkpoint::{self, Checkpoint};
use crate::{Projection, ProjectionError, ProjectionProgress};

/// Tuning of the catch-up loop.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Events read and applied per transaction.
    pub batch_size: i64,
    /// Safety net: re-check the log this often even without a wake-up (e.g. when a long
    /// unrelated transaction held back the PostgreSQL read horizon and then ended).
    pub idle_recheck: Duration,
    /// How often an instance that does not hold a projection's lock tries to take it over.
    pub standby_retry: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            idle_recheck: Duration::from_secs(1),
            standby_retry: Duration::from_secs(2),
        }
    }
}

/// Runs each projection as a catch-up subscriber of the event log.
#[derive(Clone)]
pub struct ProjectionRunner {
    db: Db,
    log: EventLog,
    signal: AppendSignal,
    progress: ProjectionProgress,
    config: RunnerConfig,
}

impl ProjectionRunner {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        progress: &ProjectionProgress,
        config: RunnerConfig,
    ) -> Self {
        Self {
            db: db.clone(),
            log: EventLog::new(db.clone()),
            signal: signal.clone(),
            progress: progress.clone(),
            config,
        }
    }

    /// Starts one task per projection; they run until aborted.
    pub fn spawn(&self, projections: Vec<Arc<dyn Projection>>) -> Vec<JoinHandle<()>> {
        projections
            .into_iter()
            .map(|projection| {
                let runner = self.clone();
                tokio::spawn(async move { runner.run(projection).await })
            })
            .collect()
    }

    async fn run(self, projection: Arc<dyn Projection>) {
        let name = projection.name();
        loop {
            match ExclusiveLock::try_acquire(&self.db, LockKind::Projection, name).await {
                Ok(Some(lock)) => {
                    tracing::info!(projection = name, "running projection");
                    if let Err(error) = self.follow(projection.as_ref()).await {
                        tracing::error!(projection = name, error = %error, "projection stopped; retrying");
                    }
                    lock.release().await;
                    tokio::time::sleep(self.config.standby_retry).await;
                }
                Ok(None) => {
                    tracing::debug!(projection = name, "another instance runs this projection");
                    tokio::time::sleep(self.config.standby_retry).await;
                }
                Err(error) => {
                    tracing::warn!(projection = name, error = %error, "cannot take projection lock");
                    tokio::time::sleep(self.config.standby_retry).await;
                }
            }
        }
    }

    /// Tails the log for one projection until an error occurs.
    async fn follow(&self, projection: &dyn Projection) -> Result<(), ProjectionError> {
        let name = projection.name();
        let mut wake = self.signal.subscribe();
        let mut at = checkpoint::load(&self.db, name).await?;
        self.progress.publish(name, at.position);
        loop {
            // Mark wake-ups seen *before* reading, so an append during the read still
            // wakes the wait below.
            wake.borrow_and_update();
            let events = self
                .log
                .read_after(at.position, self.config.batch_size)
                .await?;
            if events.is_empty() {
                let lag = self.record_lag(name, at).await;
                // Committed events exist past our position but are not readable yet: an
                // older transaction is still open. Its commit notifies us, unless it belongs
                // to another database of the cluster (the horizon is cluster-wide), so look
                // again soon.
                let recheck = if lag > 0 {
                    HELD_BACK_RECHECK
                } else {
                    self.config.idle_recheck
                };
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(recheck) => {}
                }
                continue;
            }
            at = match apply_batch(&self.db, projection, at, &events).await? {
                Some(next) => next,
                // Someone else moved the checkpoint (a rebuild): start again from it.
                None => checkpoint::load(&self.db, name).await?,
            };
            self.progress.publish(name, at.position);
        }
    }

    /// Publishes and returns how many committed events the projection has yet to apply.
    async fn record_lag(&self, name: &'static str, at: Checkpoint) -> i64 {
        let Ok(lag) = self.log.count_after(at.position).await else {
            return 0;
        };
        metrics::gauge!("projection_lag_events", "projection" => name).set(lag as f64);
        lag
    }
}

/// Re-check interval while unreadable rows exist past the checkpoint.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(50);

/// Applies `events` and advances the checkpoint in one transaction. `None` means the
/// checkpoint had moved under us and nothing was written.
pub(crate) async fn apply_batch(
    db: &Db,
    projection: &dyn Projection,
    from: Checkpoint,
    events: &[StoredEvent],
) -> Result<Option<Checkpoint>, ProjectionError> {
    let Some(last) = events.last() else {
        return Ok(Some(from));
    };
    let count = events.len() as i64;
    let mut tx = db.begin().await?;
    if let DbTx::Postgres(tx) = &mut tx {
        // A read-model batch can always be derived again from the events, so its commit
        // need not wait for the WAL flush. Atomicity is unaffected: after a crash the rows
        // and the checkpoint are lost or kept together, and the batch is simply re-applied.
        sqlx::query("set local synchronous_commit = off")
            .execute(&mut **tx)
            .await?;
    }
    projection.apply(&mut tx, events).await?;
    if !checkpoint::advance(&mut tx, projection.name(), from, last.position, count).await? {
        return Ok(None); // dropping the transaction rolls the rows back
    }
    tx.commit().await?;
    metrics::counter!("projection_events_applied_total", "projection" => projection.name())
        .increment(count as u64);
    Ok(Some(Checkpoint {
        position: last.position,
        events_applied: from.events_applied + count,
    }))
}
