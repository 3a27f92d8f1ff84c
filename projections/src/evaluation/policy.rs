//! The evaluation policy: re-evaluates a job as soon as one of its events changes what the
//! rules read (a file attached, changed or removed, a photo reclassified, a new snapshot —
//! status, dates, update time — or the job leaving or coming back to the CRM).
//!
//! It follows the log like a projection, with its own checkpoint (`evaluation_policy`) and
//! lock, so it runs in one instance at a time. It is not a read model: a rebuild leaves its
//! checkpoint alone (replaying history must not re-run it), and it advances its checkpoint
//! after the evaluation it caused, so a crash in between evaluates those jobs again, which
//! appends nothing when their outcome is already recorded.

use std::collections::HashSet;
use std::time::Duration;

use adapters::store::{
    AppendSignal, Db, EventLog, ExclusiveLock, LockKind, StoreError, StoredEvent,
};
use cqrs_es::Aggregate;
use domain::{EvaluationTrigger, Job};
use tokio::task::JoinHandle;

use super::Evaluator;
use crate::checkpoint::{self, Checkpoint};
use crate::{ProjectionError, ProjectionProgress};

pub const NAME: &str = "evaluation_policy";

/// Events read per step.
const BATCH: i64 = 1_000;
/// Longest a step waits for the read models it reads facts from before trying again.
const FACTS_WAIT: Duration = Duration::from_secs(30);
const IDLE_RECHECK: Duration = Duration::from_secs(1);
const STANDBY_RETRY: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct EvaluationPolicy {
    db: Db,
    log: EventLog,
    signal: AppendSignal,
    progress: ProjectionProgress,
    evaluator: Evaluator,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing new in the log.
    Idle,
    /// Events were read; `jobs` of them were evaluated.
    Advanced { events: usize, jobs: usize },
    /// The read models had not caught up with the events yet; nothing was done.
    Waiting,
}

impl EvaluationPolicy {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        progress: &ProjectionProgress,
        evaluator: &Evaluator,
    ) -> Self {
        Self {
            db: db.clone(),
            log: EventLog::new(db.clone()),
            signal: signal.clone(),
            progress: progress.clone(),
            evaluator: evaluator.clone(),
        }
    }

    /// Runs until aborted, in the one instance holding the policy's lock.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match ExclusiveLock::try_acquire(&self.db, LockKind::Projection, NAME).await {
                    Ok(Some(lock)) => {
                        tracing::info!("running the evaluation policy");
                        if let Err(error) = self.follow().await {
                            tracing::error!(error = %error, "evaluation policy stopped; retrying");
                        }
                        lock.release().await;
                    }
                    Ok(None) => {
                        tracing::debug!("another instance runs the evaluation policy");
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot take the evaluation policy lock");
                    }
                }
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        })
    }

    async fn follow(&self) -> Result<(), ProjectionError> {
        let mut wake = self.signal.subscribe();
        loop {
            wake.borrow_and_update();
            match self.step().await? {
                Step::Advanced { .. } => continue,
                Step::Idle | Step::Waiting => {
                    tokio::select! {
                        _ = wake.changed() => {}
                        _ = tokio::time::sleep(IDLE_RECHECK) => {}
                    }
                }
            }
        }
    }

    /// One step: reads the events after the checkpoint, evaluates the jobs they concern at
    /// the clock's instant, then advances the checkpoint past them.
    pub async fn step(&self) -> Result<Step, ProjectionError> {
        let at = checkpoint::load(&self.db, NAME).await?;
        let events = self.log.read_after(at.position, BATCH).await?;
        let Some(last) = events.last() else {
            return Ok(Step::Idle);
        };
        let jobs = jobs_to_evaluate(&events);
        if !jobs.is_empty() {
            // The facts come from the mirror and the files view: they must show these
            // events before the rules read them.
            if self
                .progress
                .wait_for(last.position, FACTS_WAIT)
                .await
                .is_err()
            {
                return Ok(Step::Waiting);
            }
            let now = self.evaluator.clock().now();
            self.evaluator
                .evaluate_jobs(&jobs, now, EvaluationTrigger::JobChanged)
                .await?;
        }
        advance(&self.db, at, last.position, events.len()).await?;
        Ok(Step::Advanced {
            events: events.len(),
            jobs: jobs.len(),
        })
    }
}

async fn advance(
    db: &Db,
    from: Checkpoint,
    to: adapters::store::LogPosition,
    events: usize,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    // A lost compare-and-set means another holder moved it (a lock handover): its next
    // step starts from the stored checkpoint, so nothing is skipped either way.
    if checkpoint::advance(&mut tx, NAME, from, to, events as i64).await? {
        tx.commit().await?;
    }
    Ok(())
}

/// The jobs whose events change what the rules read, each once, in log order.
fn jobs_to_evaluate(events: &[StoredEvent]) -> Vec<String> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| e.aggregate_type == Job::TYPE && matters(&e.event_type))
        .filter(|e| seen.insert(e.aggregate_id.as_str()))
        .map(|e| e.aggregate_id.clone())
        .collect()
}

/// Every Job event type today changes a fact some rule reads; listed by name so a new
/// event type is a decision, not an accident.
fn matters(event_type: &str) -> bool {
    matches!(
        event_type,
        "JobSnapshotRecorded"
            | "JobSnapshotChanged"
            | "JobDeactivated"
            | "JobReactivated"
            | "JobVanished"
            | "JobReappeared"
            | "JobFileAttached"
            | "JobFileChanged"
            | "JobFileRemoved"
            | "JobPhotoReclassified"
    )
}

#[cfg(test)]
mod tests {
    use adapters::store::LogPosition;
    use chrono::Utc;

    use super::*;

    fn event(aggregate_type: &str, id: &str, event_type: &str) -> StoredEvent {
        StoredEvent {
            position: LogPosition::START,
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.into(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
            committed_at: Utc::now(),
        }
    }

    #[test]
    fn each_changed_job_is_evaluated_once_and_evaluation_events_trigger_nothing() {
        let events = [
            event("Job", "jobnimbus:a", "JobFileAttached"),
            event("JobEvaluation", "jobnimbus:a", "QcCheckChanged"),
            event("Job", "jobnimbus:b", "JobSnapshotChanged"),
            event("Job", "jobnimbus:a", "JobFileRemoved"),
            event("EvaluationRun", "run", "EvaluationRunCompleted"),
            event("Contact", "jobnimbus:c", "ContactSnapshotChanged"),
        ];
        assert_eq!(
            jobs_to_evaluate(&events),
            vec!["jobnimbus:a".to_string(), "jobnimbus:b".to_string()]
        );
    }
}
