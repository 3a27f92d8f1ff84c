use chrono::{DateTime, Utc};

/// Why a `JobEvaluation` refused an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobEvaluationError {
    /// An evaluator that read older facts finished after a newer evaluation was recorded;
    /// its outcome must not replace the newer one.
    #[error("an evaluation at {offered} is older than the one recorded at {recorded}")]
    Stale {
        offered: DateTime<Utc>,
        recorded: DateTime<Utc>,
    },
}
