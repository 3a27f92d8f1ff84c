//! What can go wrong talking to JobNimbus, typed so callers can tell "fix the key" from "try
//! later" from "we asked for something the API refuses".
//!
//! Invariant: no variant ever holds the API key. Messages carry the method, the URL path (never
//! the query string, whose `filter` may hold record values) and what the server answered.

use std::fmt;
use std::time::Duration;

/// A failed call to the JobNimbus API, or a client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot work (bad base URL, a key that cannot be sent as a header…).
    #[error("invalid JobNimbus client configuration: {0}")]
    Config(String),

    /// A request the client refuses to send because the API would refuse it (e.g. a page past
    /// the 10,000-row window, or an id that is not a jnid).
    #[error("invalid JobNimbus request: {0}")]
    InvalidRequest(String),

    /// 401: the key is wrong, revoked or missing. Never retried: retrying cannot fix it.
    #[error("JobNimbus rejected the API key (401) on {method} {path}")]
    Unauthorized { method: String, path: String },

    /// Any other 4xx (and 404 where a record was required): the request itself is wrong.
    /// `message` is the body's `error` field when there is one, else the body's start.
    #[error("JobNimbus refused {method} {path} with HTTP {status}: {message}")]
    Rejected {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// A server error the client does not retry (500, 501…): a GET may be safe to repeat, but
    /// these usually mean a bug on their side that repeating will not fix.
    #[error("JobNimbus failed {method} {path} with HTTP {status}: {message}")]
    Server {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// A create (or another write that must not be repeated blindly) was sent, and then the
    /// answer was lost or was a server error: it may or may not have been applied. Never
    /// retried by the client; read back (by the marker written with it) before trying again.
    #[error(
        "{method} {path} may or may not have been applied ({reason}); read back before retrying"
    )]
    Ambiguous {
        method: String,
        path: String,
        reason: String,
    },

    /// Every attempt hit a transient failure (429, 502/503/504, timeout, network).
    #[error("{method} {path} failed after {attempts} attempt(s); last failure: {last}")]
    RetriesExhausted {
        method: String,
        path: String,
        attempts: u32,
        last: TransientFailure,
    },

    /// The request could not be sent at all for a reason retrying cannot fix.
    #[error("cannot send {method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },

    /// A 2xx whose body is not the envelope we expect (not JSON, no `count`, …). Single
    /// records that do not map are reported in `Page::rejected` instead.
    #[error("unexpected response to {method} {path}: {detail}")]
    Decode {
        method: String,
        path: String,
        detail: String,
    },

    /// More records match than the API's 10,000-row window can list, and the query cannot be
    /// narrowed further (e.g. more than 10,000 records share one `date_updated` second), so
    /// listing them would skip some.
    #[error("{count} {resource} match {what}, more than the 10,000-row window can list")]
    WindowExceeded {
        resource: &'static str,
        what: String,
        count: u64,
    },
}

impl ClientError {
    /// True when the failure may go away by itself (the caller may try again later).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::RetriesExhausted { .. })
    }

    /// True when a write that failed may still have been applied: always for
    /// [`ClientError::Ambiguous`]; for an idempotent write (a `PUT`) when its last attempt
    /// failed after sending. Reads never apply anything.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            ClientError::Ambiguous { .. } => true,
            ClientError::RetriesExhausted { method, last, .. } => {
                method != "GET" && last.may_have_applied()
            }
            ClientError::Server { method, .. } => method != "GET",
            _ => false,
        }
    }

    /// True for a 404: the record (or the upload) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Rejected { status: 404, .. })
    }
}

/// One failed attempt that is worth retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransientFailure {
    /// 429, with the server's `Retry-After` when it sent one.
    RateLimited { retry_after: Option<Duration> },
    /// 502, 503 or 504.
    Gateway { status: u16 },
    /// No response within the configured timeout.
    Timeout,
    /// The TCP/TLS connection could not be made.
    Connect(String),
    /// The connection broke mid-request or mid-response.
    Network(String),
}

impl TransientFailure {
    /// False only when the failure proves the server did not act on the request: it refused
    /// it (429) or the connection was never made. A timeout, a broken connection or a gateway
    /// error may come after the server applied it.
    pub fn may_have_applied(&self) -> bool {
        !matches!(
            self,
            TransientFailure::RateLimited { .. } | TransientFailure::Connect(_)
        )
    }
}

impl fmt::Display for TransientFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransientFailure::RateLimited {
                retry_after: Some(wait),
            } => write!(f, "HTTP 429 (Retry-After {} s)", wait.as_secs()),
            TransientFailure::RateLimited { retry_after: None } => f.write_str("HTTP 429"),
            TransientFailure::Gateway { status } => write!(f, "HTTP {status}"),
            TransientFailure::Timeout => f.write_str("timed out"),
            TransientFailure::Connect(detail) => write!(f, "cannot connect: {detail}"),
            TransientFailure::Network(detail) => write!(f, "connection failed: {detail}"),
        }
    }
}
