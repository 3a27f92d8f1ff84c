use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::qc::QcCheck;
use crate::risk::RiskAssessment;

/// Changes of a job's evaluations. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvaluationEvent {
    /// The job's QC photo check has a new outcome (the first, or one that differs).
    QcCheckChanged {
        check: QcCheck,
        evaluated_at: DateTime<Utc>,
    },
    /// The job's risk assessment has a new outcome.
    RiskAssessmentChanged {
        assessment: RiskAssessment,
        evaluated_at: DateTime<Utc>,
    },
}

impl DomainEvent for JobEvaluationEvent {
    fn event_type(&self) -> String {
        match self {
            JobEvaluationEvent::QcCheckChanged { .. } => "QcCheckChanged",
            JobEvaluationEvent::RiskAssessmentChanged { .. } => "RiskAssessmentChanged",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
