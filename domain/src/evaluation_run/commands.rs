use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EvaluationScope, EvaluationTrigger};

/// What the application asks of an `EvaluationRun`: the pass is over, here is what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvaluationRunCommand {
    RecordCompleted {
        trigger: EvaluationTrigger,
        scope: EvaluationScope,
        /// The instant the rules were evaluated at (the jobs' "checked at").
        evaluated_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        jobs_checked: u64,
        outcomes_changed: u64,
        failed: u64,
    },
}
