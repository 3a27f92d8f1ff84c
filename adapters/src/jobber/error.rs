//! What can go wrong talking to Jobber, typed so callers can tell "the user must connect
//! again" from "try later" from "our app credentials are wrong".
//!
//! Invariant: no variant holds a token, a code or the client secret. Details are the
//! provider's error code and description, which never echo credentials.

/// A failed OAuth or GraphQL call to Jobber.
#[derive(Debug, thiserror::Error)]
pub enum JobberError {
    /// The configuration cannot work (bad URL, …).
    #[error("invalid Jobber client configuration: {0}")]
    Config(String),

    /// The provider says the grant is dead (`invalid_grant`: a used, rotated, revoked or
    /// expired code or refresh token). Only a new authorisation by the user fixes it.
    #[error("Jobber rejected the grant: {0}")]
    GrantRejected(String),

    /// Our client id or secret is wrong (`invalid_client`, 401 at the token endpoint).
    #[error("Unauthorized – invalid credentials")]
    InvalidClient,

    /// The access token was refused (401 at the API): expired, revoked or malformed.
    #[error("Jobber refused the access token")]
    TokenRejected,

    /// The user disconnected the app from their Jobber account; every token is dead.
    #[error("the user has disconnected this app from their Jobber account")]
    Disconnected,

    /// A failure worth retrying later: network, timeout, 5xx, throttling.
    #[error("Jobber is unavailable: {0}")]
    Unavailable(String),

    /// Jobber answered something we cannot use (4xx other than the above, unexpected body).
    #[error("unexpected answer from Jobber: {0}")]
    Protocol(String),
}

impl JobberError {
    /// True when retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, JobberError::Unavailable(_))
    }
}
