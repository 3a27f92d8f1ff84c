/// Why a `Job` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("a job snapshot needs a non-empty name")]
    EmptyName,
    #[error("a job we never recorded cannot vanish")]
    NeverRecorded,
}
