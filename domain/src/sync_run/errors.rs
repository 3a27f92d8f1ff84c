/// Why a `SyncRun` refused a command: the engine sent it out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncRunError {
    #[error("the sync run has already started")]
    AlreadyStarted,
    #[error("the sync run is not running")]
    NotRunning,
}
