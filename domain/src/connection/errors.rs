use super::SecretVersion;

/// Why a `Connection` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// Refresh, failure or revoke of a user who never completed the OAuth flow.
    #[error("the user has not connected Jobber")]
    NotConnected,
    /// Refresh or failure after a disconnect: only a new grant reopens the connection.
    #[error("the connection was revoked; the user must connect Jobber again")]
    Revoked,
    /// Secret versions only grow: an older or equal one is a late or replayed write that
    /// would make the events point at tokens that were already replaced.
    #[error("secret version {offered} is not newer than the recorded {current}")]
    StaleSecretVersion {
        current: SecretVersion,
        offered: SecretVersion,
    },
}
