//! A sandbox Jobber: an in-process HTTP server that behaves like Jobber's OAuth 2.0
//! authorisation server and a sliver of its GraphQL API (reference/external-apis.md §2.1–2.3,
//! §2.7, §2.8), as strict as the real one, so our OAuth client, token vault and refresh logic
//! meet Jobber's awkward parts in tests, not in production.
//!
//! What it enforces: registered `client_id` and `redirect_uri` (else an error page, never a
//! redirect); codes that are single-use, bound to client and redirect URI, and dead after 10
//! minutes; a form-only token endpoint answering exactly `{access_token, refresh_token}` (no
//! `expires_in`: the expiry is only in the JWT's `exp`); refresh-token rotation with immediate
//! invalidation of the old token (or, rotation off, the same token back with a `warning`);
//! HS256 access tokens checked against the sandbox clock; GraphQL requiring JSON, a bearer
//! token and `X-JOBBER-GRAPHQL-VERSION`, answering with `extensions.cost` and
//! `extensions.versioning`; `appDisconnect` killing every token of the account; the query-cost
//! bucket (10,000 points, 500 per second) with `THROTTLED`.
//!
//! What tests steer through the [`JobberSandboxHandle`]: the consent answer, the signed-in
//! user, the clock, rotation, disconnects from Jobber's side, injected failures and latency,
//! the cost bucket, and counters of what happened.
//!
//! Not simulated: scopes, PKCE, the 2,500-requests-per-300-s cap (only as an injected 429),
//! GraphQL beyond `account { id name }` and `appDisconnect`, webhooks, the pre-2024
//! "Unexpected Refresh Token Redemption" warning, and account deactivation.

mod clock;
mod config;
mod faults;
mod graphql;
mod handle;
mod jwt;
mod oauth;
mod query;
mod server;
mod state;

#[cfg(test)]
mod tests;

pub use config::{
    ApiVersion, JobberAccount, JobberSandboxConfig, JobberUser, RedirectUris, CURRENT_VERSION,
};
pub use faults::{FaultTarget, JobberSandboxStats};
pub use handle::{JobberSandboxHandle, RunningJobberSandbox, SandboxJobber};
pub use state::Consent;

/// A failure to start the sandbox, or a refused change through the [`JobberSandboxHandle`].
#[derive(Debug, thiserror::Error)]
pub enum JobberSandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("sandbox Jobber server failed: {0}")]
    Server(std::io::Error),
    #[error("invalid sandbox Jobber config: {0}")]
    Config(String),
    #[error("no sandbox Jobber user {0}")]
    UnknownUser(u64),
}
