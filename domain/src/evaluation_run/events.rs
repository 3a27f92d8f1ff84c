use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// Who or what asked for an evaluation pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationTrigger {
    /// `POST /api/v1/qc|risk/…/evaluate…`.
    Manual,
    /// The daily pass for the time-based rules (`EVALUATION_CRON`).
    Scheduled,
    /// A job event that changes what the rules read (a photo, a status, a snapshot).
    JobChanged,
    /// The demo, the benchmark and other commands of the CLI.
    Cli,
}

impl EvaluationTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationTrigger::Manual => "manual",
            EvaluationTrigger::Scheduled => "scheduled",
            EvaluationTrigger::JobChanged => "job_changed",
            EvaluationTrigger::Cli => "cli",
        }
    }
}

/// Which jobs a pass checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationScope {
    /// Every mirrored job.
    AllJobs,
    /// These jobs (ids as `jobnimbus:<jnid>`…).
    Jobs(Vec<String>),
}

/// The run's history. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvaluationRunEvent {
    EvaluationRunCompleted {
        trigger: EvaluationTrigger,
        scope: EvaluationScope,
        evaluated_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        jobs_checked: u64,
        outcomes_changed: u64,
        failed: u64,
    },
}

impl DomainEvent for EvaluationRunEvent {
    fn event_type(&self) -> String {
        match self {
            EvaluationRunEvent::EvaluationRunCompleted { .. } => "EvaluationRunCompleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
