use chrono::{DateTime, Utc};

/// Why a `WriteBack` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteBackError {
    #[error("this write-back was already requested with other content")]
    AlreadyRequested,
    #[error("this write-back was never requested")]
    NotRequested,
    #[error("this write-back is settled ({0})")]
    Settled(&'static str),
    #[error("an attempt holds this write-back until {0}")]
    InFlight(DateTime<Utc>),
    #[error("this write-back's next attempt is due at {0}")]
    NotDue(DateTime<Utc>),
    #[error("no attempt of this write-back is in flight")]
    NoAttemptInFlight,
    #[error("this write-back already succeeded as {0}")]
    SucceededAs(String),
    #[error("a remote id is never blank")]
    BlankRemoteId,
}
