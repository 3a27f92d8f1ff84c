//! When syncs run on their own. The work itself is `SyncEngine::sync_once`; this module only
//! decides the mode of each tick and asks tokio-cron-scheduler to call it.
//!
//! Several instances may run the same schedule on one PostgreSQL. A tick first takes the
//! tick lock and keeps it for at least `hold_at_least` (as ShedLock's "lock at least for"
//! does), so instances whose clocks fire the same tick a little apart still run it once;
//! the others log a skip. Within a tick, the engine's run lock stops a run from overlapping
//! one still in progress (a manual trigger, or a long previous tick).

use std::time::Duration;

use adapters::jobber::{ConnectionFailure, JobberConnections, RefreshSweep};
use adapters::store::{Db, ExclusiveLock, LockKind, StoreError};
use adapters::sync::{SyncEngine, SyncError, SyncReport, SyncRequest};
use chrono::{DateTime, Utc};
use domain::{SyncMode, SyncResource, SyncTrigger};
use projections::connection_status;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Accepts the classic five cron fields (minute hour day month weekday), as the seed
/// writes them, or six with seconds first; returns the six-field form the scheduler takes.
pub fn six_field_cron(expression: &str) -> Result<String, String> {
    let trimmed = expression.trim();
    let six = match trimmed.split_whitespace().count() {
        5 => format!("0 {trimmed}"),
        6 => trimmed.to_string(),
        n => {
            return Err(format!(
                "`{trimmed}` has {n} fields; expected 5 (minute hour day month weekday) \
                 or 6 (seconds first)"
            ))
        }
    };
    Job::new_async(six.as_str(), |_, _| Box::pin(async {}))
        .map_err(|e| format!("`{trimmed}` is not a valid cron expression: {e}"))?;
    Ok(six)
}

/// The mode of a scheduled run of `resource`: a reconcile scan when the last complete scan
/// is older than `reconcile_every` (or an interrupted first import never completed one),
/// else incremental (which reads everything the first time, when there is no cursor).
pub async fn scheduled_mode(
    engine: &SyncEngine,
    resource: SyncResource,
    reconcile_every: Duration,
    now: DateTime<Utc>,
) -> Result<SyncMode, SyncError> {
    let cursor = engine.cursor(resource).await?;
    let every = chrono::Duration::from_std(reconcile_every).unwrap_or(chrono::Duration::MAX);
    Ok(match (cursor.last_complete_scan(), cursor.position()) {
        (Some(scanned), _) if now - scanned >= every => SyncMode::Reconcile,
        (None, Some(_)) => SyncMode::Reconcile,
        _ => SyncMode::Incremental,
    })
}

/// What a scheduled tick does, and how.
#[derive(Clone)]
pub struct ScheduledSync {
    pub engine: SyncEngine,
    pub db: Db,
    pub reconcile_every: Duration,
    /// Least time the tick lock is held, covering clock skew between instances.
    pub hold_at_least: Duration,
}

/// The tick lock is held at least this long in production: instances' clocks agree far
/// better than this, and no schedule fires more often than every minute.
pub const DEFAULT_TICK_HOLD: Duration = Duration::from_secs(30);

/// What one tick did.
#[derive(Debug)]
pub enum TickOutcome {
    /// Another instance holds this tick.
    Skipped,
    /// Each resource's run, or why it did not run.
    Ran(Vec<(SyncResource, Result<SyncReport, SyncError>)>),
}

impl ScheduledSync {
    /// One tick: syncs jobs, then contacts, unless another instance has the tick. A
    /// resource whose run is already in progress is skipped; one resource failing does not
    /// stop the other.
    pub async fn tick(&self) -> Result<TickOutcome, StoreError> {
        let started = tokio::time::Instant::now();
        let Some(lock) =
            ExclusiveLock::try_acquire(&self.db, LockKind::ScheduledTick, "jobnimbus").await?
        else {
            tracing::info!("scheduled sync skipped: another instance has this tick");
            return Ok(TickOutcome::Skipped);
        };
        let mut results = Vec::new();
        for resource in [SyncResource::Jobs, SyncResource::Contacts] {
            let result = self.run(resource).await;
            log_result(resource, &result);
            results.push((resource, result));
        }
        tokio::time::sleep_until(started + self.hold_at_least).await;
        lock.release().await;
        Ok(TickOutcome::Ran(results))
    }

    async fn run(&self, resource: SyncResource) -> Result<SyncReport, SyncError> {
        let mode = scheduled_mode(&self.engine, resource, self.reconcile_every, Utc::now()).await?;
        let request = SyncRequest {
            resource,
            mode,
            trigger: SyncTrigger::Scheduled,
        };
        self.engine.sync_once(request).await
    }
}

fn log_result(resource: SyncResource, result: &Result<SyncReport, SyncError>) {
    match result {
        Ok(report) => tracing::info!(
            resource = resource.as_str(),
            status = report.status.as_str(),
            fetched = report.outcome.fetched,
            "scheduled sync finished"
        ),
        Err(SyncError::AlreadyRunning(_)) => tracing::info!(
            resource = resource.as_str(),
            "scheduled sync skipped: a run is already in progress"
        ),
        Err(error) => tracing::error!(
            resource = resource.as_str(),
            error.message = %error,
            "scheduled sync failed"
        ),
    }
}

/// Starts the schedule; runs until the returned scheduler is shut down.
pub async fn start(sync: ScheduledSync, cron: &str) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(cron, move |_, _| {
        let sync = sync.clone();
        Box::pin(async move {
            if let Err(error) = sync.tick().await {
                tracing::error!(error.message = %error, "scheduled sync could not start");
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    tracing::info!(cron, "JobNimbus sync scheduled");
    Ok(scheduler)
}

/// Keeps Jobber access tokens fresh: every `every`, refreshes those within the margin of
/// expiry. A plain interval rather than cron: the check is cheap and must run often. Every
/// instance runs it; the refresh itself is single-flight per connection across instances,
/// so a sweep racing another instance's makes no second call to Jobber.
pub fn spawn_jobber_refresh(
    db: Db,
    connections: JobberConnections,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match refresh_jobber_tokens_once(&db, &connections, Utc::now()).await {
                Ok(sweep) if sweep.due > 0 => {
                    tracing::info!(
                        due = sweep.due,
                        refreshed = sweep.refreshed,
                        failed = sweep.failed,
                        "Jobber token refresh sweep"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error.message = %error, "Jobber token refresh sweep failed");
                }
            }
        }
    })
}

/// Most connections one sweep refreshes; the rest wait for the next tick, which comes long
/// before a 5-minute margin runs out.
const REFRESHES_PER_SWEEP: i64 = 1_000;

/// One sweep: the connections the read model lists as due, each re-checked by its
/// aggregate and refreshed. The single step the interval runs and tests call.
pub async fn refresh_jobber_tokens_once(
    db: &Db,
    connections: &JobberConnections,
    now: DateTime<Utc>,
) -> Result<RefreshSweep, ConnectionFailure> {
    let due = connection_status::query::due_for_refresh(
        db,
        now,
        connections.refresh_margin(),
        REFRESHES_PER_SWEEP,
    )
    .await?;
    if due.len() as i64 == REFRESHES_PER_SWEEP {
        tracing::warn!(
            limit = REFRESHES_PER_SWEEP,
            "more Jobber tokens are due than one sweep refreshes"
        );
    }
    connections
        .refresh_due(due.into_iter().map(|row| row.user_id), now)
        .await
}

/// Works through the JobNimbus webhook inbox: at once when the endpoint stores a row in this
/// process, and every `poll_every` for rows stored by other instances or due for a retry.
/// Each wake drains what is due, a step at a time.
pub fn spawn_jobnimbus_webhooks(
    processor: adapters::jobnimbus::webhook_inbox::WebhookProcessor,
    poll_every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match processor.process_once(Utc::now()).await {
                    // A step that claimed rows may have left more due.
                    Ok(report) if report.rows > 0 => continue,
                    Ok(_) => break,
                    Err(error) => {
                        // Rows of the failed step come back when their lease runs out.
                        tracing::error!(error.message = %error, "JobNimbus webhook inbox step failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = processor.inbox().woken() => {}
                () = tokio::time::sleep(poll_every) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::six_field_cron;

    #[test]
    fn five_field_cron_gains_a_seconds_field_and_six_fields_pass_through() {
        assert_eq!(six_field_cron("*/15 * * * *").unwrap(), "0 */15 * * * *");
        assert_eq!(six_field_cron(" 30 0 3 * * * ").unwrap(), "30 0 3 * * *");
    }

    #[test]
    fn malformed_cron_is_refused_with_the_reason() {
        for bad in ["", "* * *", "*/15 * * * * * * *", "61 * * * *", "every day"] {
            assert!(six_field_cron(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

/// The daily QC and risk pass (`EVALUATION_CRON`): the time-based rules (stuck in status,
/// stale) change with no event to trigger them, so every job is evaluated again on a
/// schedule. Like a sync tick, one instance runs it, under the tick lock.
#[derive(Clone)]
pub struct ScheduledEvaluation {
    pub evaluator: projections::evaluation::Evaluator,
    pub db: Db,
    /// Least time the tick lock is held, covering clock skew between instances.
    pub hold_at_least: Duration,
}

impl ScheduledEvaluation {
    /// One pass at the evaluator's clock, unless another instance has this tick (`None`).
    pub async fn tick(
        &self,
    ) -> Result<Option<projections::evaluation::EvaluationSummary>, StoreError> {
        let started = tokio::time::Instant::now();
        let Some(lock) =
            ExclusiveLock::try_acquire(&self.db, LockKind::ScheduledTick, "evaluation").await?
        else {
            tracing::info!("scheduled evaluation skipped: another instance has this tick");
            return Ok(None);
        };
        let now = self.evaluator.clock().now();
        let result = self
            .evaluator
            .evaluate_all_once(now, domain::EvaluationTrigger::Scheduled)
            .await;
        tokio::time::sleep_until(started + self.hold_at_least).await;
        lock.release().await;
        result.map(Some)
    }
}

/// Starts the daily evaluation schedule; runs until the returned scheduler is shut down.
pub async fn start_evaluations(
    evaluation: ScheduledEvaluation,
    cron: &str,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(cron, move |_, _| {
        let evaluation = evaluation.clone();
        Box::pin(async move {
            if let Err(error) = evaluation.tick().await {
                tracing::error!(error.message = %error, "scheduled evaluation failed");
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    tracing::info!(cron, "QC and risk evaluation scheduled");
    Ok(scheduler)
}
