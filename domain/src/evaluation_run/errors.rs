/// Why an `EvaluationRun` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationRunError {
    /// A run is recorded once; a second record under the same id is a programming error
    /// (ids are fresh per run), refused rather than silently doubling the history.
    #[error("the evaluation run is already recorded")]
    AlreadyRecorded,
    #[error("a run cannot finish ({finished_at}) before it started ({started_at})")]
    FinishedBeforeStart {
        started_at: chrono::DateTime<chrono::Utc>,
        finished_at: chrono::DateTime<chrono::Utc>,
    },
}
