use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::qc::QcCheck;
use crate::risk::RiskAssessment;

/// An evaluation's outcome, computed by the application from the read models at
/// `evaluated_at` (the pure rules in `qc` and `risk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvaluationCommand {
    RecordQcCheck {
        check: QcCheck,
        evaluated_at: DateTime<Utc>,
    },
    RecordRiskAssessment {
        assessment: RiskAssessment,
        evaluated_at: DateTime<Utc>,
    },
}
