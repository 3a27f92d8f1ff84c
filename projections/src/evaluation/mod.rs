//! Keeps each job's QC check and risk assessment current: reads the facts from the mirror
//! and the files view, applies the pure rules of `domain::qc` and `domain::risk` at an
//! instant, and records the outcomes as `JobEvaluation` commands a page at a time (one load,
//! decisions in memory, one append). Each pass ends with its own `EvaluationRun` record.

mod clock;
mod crm_workflows;
mod facts;
pub mod policy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use adapters::jobnimbus::JobWorkflow;
use adapters::store::{
    AppendSignal, BatchCommand, BatchExecutor, CommandOutcome, Db, LogPosition, PreparedPage,
    StoreError,
};
use chrono::{DateTime, Utc};
use domain::qc::{check_photos, QcCheck, QcFacts, QcPolicy};
use domain::risk::{
    assess, DocumentFacts, JobRiskFacts, LatestQc, MissingPhotos, RiskAssessment, RiskPolicy,
};
use domain::{
    EvaluationRun, EvaluationRunCommand, EvaluationScope, EvaluationTrigger, JobEvaluation,
    JobEvaluationCommand, JobEvaluationError,
};

pub use clock::Clock;
pub use crm_workflows::CrmWorkflowSource;
use crm_workflows::CrmWorkflows;
use facts::{JobFacts, Selection};
pub use policy::EvaluationPolicy;

/// The requirements and thresholds the rules apply (from the `QC_*` and `RISK_*` settings).
#[derive(Debug, Clone, Default)]
pub struct EvaluationRules {
    pub qc: QcPolicy,
    pub risk: RiskPolicy,
    /// Each workflow's statuses in pipeline order (lower-cased workflow name), as the CRM
    /// lists them: how MISSING_DOCUMENTS tells a job past the status a document was needed
    /// from. Empty until the CRM's workflows are read.
    pub workflow_statuses: HashMap<String, Vec<String>>,
}

/// A job an evaluation could not record, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub job_id: String,
    pub error: String,
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct EvaluationSummary {
    /// Jobs whose facts were read and evaluated.
    pub jobs_checked: u64,
    /// Jobs whose QC or risk outcome changed (and so had events appended).
    pub outcomes_changed: u64,
    /// `JobEvaluation` events appended (the run's own record not counted).
    pub events_appended: u64,
    pub failures: Vec<JobFailure>,
    /// Where the pass's last event (its run record) landed, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
}

/// Jobs per page: one facts query, one aggregate load and one append each.
const PAGE_SIZE: i64 = 1_000;

#[derive(Clone)]
pub struct Evaluator {
    db: Db,
    signal: AppendSignal,
    /// The rules in force: the configured ones, plus the statuses the CRM says are closed
    /// once they are known. Each page reads one snapshot.
    rules: Arc<RwLock<Arc<EvaluationRules>>>,
    /// `RISK_CLOSED_STATUSES` as configured, kept apart from what the CRM adds to it.
    configured_closed: Arc<Vec<String>>,
    /// Where the CRM's own workflows are read, when there is a CRM to ask.
    crm_workflows: Option<CrmWorkflows>,
    clock: Clock,
}

/// A page decided in memory: the job id of each command beside the prepared append.
struct Decided {
    job_ids: Vec<String>,
    page: PreparedPage<JobEvaluation>,
}

impl Evaluator {
    pub fn new(db: &Db, signal: &AppendSignal, rules: EvaluationRules, clock: Clock) -> Self {
        Self {
            db: db.clone(),
            signal: signal.clone(),
            configured_closed: Arc::new(rules.risk.closed_statuses.clone()),
            rules: Arc::new(RwLock::new(Arc::new(rules))),
            crm_workflows: None,
            clock,
        }
    }

    /// Reads the CRM's job workflows from `source` before a pass, at most once per
    /// `refresh_every`: their closed statuses are treated as closed beside the configured
    /// ones, and their status order places a job before or past a document's status.
    pub fn with_crm_workflows(
        mut self,
        source: CrmWorkflowSource,
        refresh_every: std::time::Duration,
    ) -> Self {
        self.crm_workflows = Some(CrmWorkflows::new(source, refresh_every));
        self
    }

    /// Adopts the CRM's workflows when a read is due.
    async fn refresh_crm_workflows(&self) {
        let Some(crm) = &self.crm_workflows else {
            return;
        };
        if let Some(workflows) = crm.read_if_due().await {
            if self.adopt_crm_workflows(workflows) {
                let rules = self.rules();
                tracing::info!(
                    closed = ?rules.risk.closed_statuses,
                    workflows = rules.workflow_statuses.len(),
                    "evaluations now follow the CRM's workflows"
                );
            }
        }
    }

    /// Follows the CRM's `workflows`: the statuses they mark closed are closed too, beside
    /// the configured ones, and their status order is the pipeline MISSING_DOCUMENTS reads.
    /// Returns whether the rules changed.
    pub fn adopt_crm_workflows(&self, workflows: Vec<JobWorkflow>) -> bool {
        let mut closed: Vec<String> = self.configured_closed.as_ref().clone();
        let mut pipelines = HashMap::new();
        for workflow in workflows {
            for status in workflow.closed_statuses {
                if !closed
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(&status))
                {
                    closed.push(status);
                }
            }
            pipelines.insert(workflow.name.trim().to_lowercase(), workflow.statuses);
        }
        let mut rules = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        if rules.risk.closed_statuses == closed && rules.workflow_statuses == pipelines {
            return false;
        }
        let mut updated = rules.as_ref().clone();
        updated.risk.closed_statuses = closed;
        updated.workflow_statuses = pipelines;
        *rules = Arc::new(updated);
        true
    }

    /// The clock evaluations read "now" from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The rules in force now.
    pub fn rules(&self) -> Arc<EvaluationRules> {
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Evaluates every mirrored job at `now`, page by page; the next page is read and
    /// decided while the previous one is appended.
    pub async fn evaluate_all_once(
        &self,
        now: DateTime<Utc>,
        trigger: EvaluationTrigger,
    ) -> Result<EvaluationSummary, StoreError> {
        self.refresh_crm_workflows().await;
        let started_at = Utc::now();
        let executor = BatchExecutor::<JobEvaluation>::new(&self.db, &self.signal);
        let mut summary = EvaluationSummary::default();
        let mut after: Option<String> = None;
        let mut in_flight: Option<Decided> = None;
        loop {
            let previous = in_flight.take();
            let selection = Selection::After {
                after: after.as_deref(),
                limit: PAGE_SIZE,
            };
            let next = self.decide(&executor, selection, now);
            let commit = async {
                match previous {
                    Some(decided) => commit(&executor, decided).await.map(Some),
                    None => Ok(None),
                }
            };
            let (decided, committed) = tokio::join!(next, commit);
            if let Some(page) = committed? {
                summary.add(page);
            }
            let Some((decided, jobs)) = decided? else {
                break;
            };
            summary.jobs_checked += jobs;
            after = decided.job_ids.last().cloned();
            in_flight = Some(decided);
        }
        if let Some(decided) = in_flight {
            summary.add(commit(&executor, decided).await?);
        }
        self.record_run(trigger, EvaluationScope::AllJobs, now, started_at, summary)
            .await
    }

    /// Evaluates the given jobs at `now` (those the mirror holds; others are skipped).
    pub async fn evaluate_jobs(
        &self,
        job_ids: &[String],
        now: DateTime<Utc>,
        trigger: EvaluationTrigger,
    ) -> Result<EvaluationSummary, StoreError> {
        self.refresh_crm_workflows().await;
        let started_at = Utc::now();
        let executor = BatchExecutor::<JobEvaluation>::new(&self.db, &self.signal);
        let mut summary = EvaluationSummary::default();
        let mut checked = Vec::new();
        for chunk in job_ids.chunks(PAGE_SIZE as usize) {
            let Some((decided, jobs)) = self.decide(&executor, Selection::Ids(chunk), now).await?
            else {
                continue;
            };
            summary.jobs_checked += jobs;
            checked.extend(decided.job_ids.iter().step_by(2).cloned());
            summary.add(commit(&executor, decided).await?);
        }
        if checked.is_empty() {
            return Ok(summary);
        }
        self.record_run(
            trigger,
            EvaluationScope::Jobs(checked),
            now,
            started_at,
            summary,
        )
        .await
    }

    /// Reads a page's facts, applies the rules and decides the commands in memory. `None`
    /// when the selection holds no mirrored job.
    async fn decide(
        &self,
        executor: &BatchExecutor<JobEvaluation>,
        selection: Selection<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Decided, u64)>, StoreError> {
        let rules = self.rules();
        let with_documents = !rules.risk.required_documents.is_empty();
        let jobs = facts::load(&self.db, selection, with_documents).await?;
        if jobs.is_empty() {
            return Ok(None);
        }
        let mut job_ids = Vec::with_capacity(jobs.len() * 2);
        let mut commands = Vec::with_capacity(jobs.len() * 2);
        for job in &jobs {
            let (check, assessment) = evaluate(job, &rules, now);
            for command in [
                JobEvaluationCommand::RecordQcCheck {
                    check,
                    evaluated_at: now,
                },
                JobEvaluationCommand::RecordRiskAssessment {
                    assessment,
                    evaluated_at: now,
                },
            ] {
                job_ids.push(job.job_id.clone());
                commands.push(BatchCommand {
                    aggregate_id: job.job_id.clone(),
                    command,
                    metadata: Default::default(),
                });
            }
        }
        let page = executor.prepare(commands).await?;
        Ok(Some((Decided { job_ids, page }, jobs.len() as u64)))
    }

    async fn record_run(
        &self,
        trigger: EvaluationTrigger,
        scope: EvaluationScope,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
        mut summary: EvaluationSummary,
    ) -> Result<EvaluationSummary, StoreError> {
        let finished_at = Utc::now().max(started_at);
        let command = EvaluationRunCommand::RecordCompleted {
            trigger,
            scope,
            evaluated_at: now,
            started_at,
            finished_at,
            jobs_checked: summary.jobs_checked,
            outcomes_changed: summary.outcomes_changed,
            failed: summary.failures.len() as u64,
        };
        let report = BatchExecutor::<EvaluationRun>::new(&self.db, &self.signal)
            .execute(vec![BatchCommand {
                aggregate_id: uuid::Uuid::new_v4().to_string(),
                command,
                metadata: [("trigger".to_string(), trigger.as_str().to_string())].into(),
            }])
            .await?;
        summary.last_position = report.last_position.or(summary.last_position);
        tracing::info!(
            trigger = trigger.as_str(),
            jobs_checked = summary.jobs_checked,
            outcomes_changed = summary.outcomes_changed,
            failed = summary.failures.len(),
            "evaluation pass finished"
        );
        Ok(summary)
    }
}

/// What one committed page contributed.
struct Committed {
    changed_jobs: u64,
    events: u64,
    failures: Vec<JobFailure>,
    last_position: Option<LogPosition>,
}

impl EvaluationSummary {
    fn add(&mut self, page: Committed) {
        self.outcomes_changed += page.changed_jobs;
        self.events_appended += page.events;
        self.failures.extend(page.failures);
        self.last_position = page.last_position.or(self.last_position);
    }
}

async fn commit(
    executor: &BatchExecutor<JobEvaluation>,
    decided: Decided,
) -> Result<Committed, StoreError> {
    let report = executor.commit(decided.page).await?;
    let mut changed: HashSet<&str> = HashSet::new();
    for (job_id, outcome) in decided.job_ids.iter().zip(&report.outcomes) {
        match outcome {
            CommandOutcome::Applied(events) if !events.is_empty() => {
                changed.insert(job_id);
            }
            CommandOutcome::Applied(_) => {}
            // A newer evaluation (a concurrent pass with a later instant) was recorded
            // first: this outcome is superseded, not failed.
            CommandOutcome::Refused(JobEvaluationError::Stale { .. }) => {}
        }
    }
    Ok(Committed {
        changed_jobs: changed.len() as u64,
        events: report.events_appended as u64,
        // The aggregate's only refusal is a superseded outcome; store errors end the pass.
        failures: Vec::new(),
        last_position: report.last_position,
    })
}

/// The rules applied to one job at `now`: its QC check, then its risk assessment, which
/// reads that fresh check (MISSING_QC_PHOTOS).
fn evaluate(
    job: &JobFacts,
    rules: &EvaluationRules,
    now: DateTime<Utc>,
) -> (QcCheck, RiskAssessment) {
    let required = rules.qc.for_workflow(job.workflow.as_deref());
    let check = check_photos(
        &QcFacts {
            dates: job.dates,
            files_pulled: job.files_pulled,
            photos: job.photos,
        },
        required,
        now,
    );
    let documents: Vec<DocumentFacts<'_>> = job
        .documents
        .iter()
        .map(|d| DocumentFacts {
            type_name: d.file_type.as_deref(),
            filename: &d.filename,
            description: d.description.as_deref(),
        })
        .collect();
    let facts = JobRiskFacts {
        status: job.status.as_deref(),
        workflow: job.workflow.as_deref(),
        workflow_statuses: job
            .workflow
            .as_deref()
            .and_then(|workflow| rules.workflow_statuses.get(&workflow.trim().to_lowercase()))
            .map_or(&[], Vec::as_slice),
        is_active: job.is_active,
        status_changed_at: job.status_changed_at,
        updated_at: job.updated_at,
        latest_qc: Some(LatestQc {
            status: check.status,
            missing: check
                .missing
                .iter()
                .map(|gap| MissingPhotos {
                    category: gap.category.as_str().to_string(),
                    missing: gap.missing,
                })
                .collect(),
        }),
        documents: &documents,
    };
    let assessment = assess(&facts, &rules.risk, now);
    (check, assessment)
}
