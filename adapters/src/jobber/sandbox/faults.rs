//! What tests make go wrong (failed token or GraphQL requests, latency) and what the sandbox
//! counts, so a test can prove "exactly one refresh reached Jobber".

use std::time::Duration;

/// Which endpoint an injected failure hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    Token,
    Graphql,
}

/// Counters since start (or the last [`super::JobberSandboxHandle::reset_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobberSandboxStats {
    /// Consent screens that redirected back with a code.
    pub authorizations_granted: u64,
    /// Consent screens the user declined (redirect without parameters).
    pub authorizations_denied: u64,
    /// Authorize requests refused with the error page (unknown client, bad redirect_uri).
    pub authorizations_rejected: u64,
    /// Every request to `/api/oauth/token`, injected failures included.
    pub token_requests: u64,
    pub code_exchanges: u64,
    pub code_exchanges_rejected: u64,
    pub refreshes_succeeded: u64,
    pub refreshes_rejected: u64,
    /// Token requests refused for their client id or secret.
    pub client_auth_failures: u64,
    pub injected_token_failures: u64,
    /// Every request to `/api/graphql`, injected failures included.
    pub graphql_requests: u64,
    /// GraphQL requests refused for their bearer token (missing, invalid, expired, revoked).
    pub graphql_unauthorized: u64,
    pub injected_graphql_failures: u64,
    pub throttled: u64,
    /// Accounts disconnected, by `appDisconnect` or from Jobber's side.
    pub disconnects: u64,
}

/// Injected failures still to serve, and latency added to every request.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    token: Option<(u32, u16)>,
    graphql: Option<(u32, u16)>,
    pub(crate) latency: Duration,
}

impl Faults {
    pub(crate) fn fail_next(&mut self, target: FaultTarget, count: u32, status: u16) {
        let slot = self.slot(target);
        *slot = (count > 0).then_some((count, status));
    }

    /// The status to fail this request with, if any failures are still due.
    pub(crate) fn take(&mut self, target: FaultTarget) -> Option<u16> {
        let slot = self.slot(target);
        let (left, status) = (*slot)?;
        *slot = (left > 1).then_some((left - 1, status));
        Some(status)
    }

    fn slot(&mut self, target: FaultTarget) -> &mut Option<(u32, u16)> {
        match target {
            FaultTarget::Token => &mut self.token,
            FaultTarget::Graphql => &mut self.graphql,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_served_exactly_count_times_then_requests_pass() {
        let mut faults = Faults::default();
        faults.fail_next(FaultTarget::Token, 2, 500);
        assert_eq!(faults.take(FaultTarget::Graphql), None);
        assert_eq!(faults.take(FaultTarget::Token), Some(500));
        assert_eq!(faults.take(FaultTarget::Token), Some(500));
        assert_eq!(faults.take(FaultTarget::Token), None);
    }
}
