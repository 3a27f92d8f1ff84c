/// Why a `Job` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("a job snapshot needs a non-empty name")]
    EmptyName,
    #[error("a job we never recorded cannot vanish")]
    NeverRecorded,
    #[error("files cannot be recorded for a job we never recorded")]
    FilesOfUnrecordedJob,
    #[error("a listed file has a blank id")]
    FileWithoutId,
    #[error("file {0} has a blank filename")]
    FileWithoutName(String),
    #[error("file {0} is listed twice")]
    FileListedTwice(String),
}
