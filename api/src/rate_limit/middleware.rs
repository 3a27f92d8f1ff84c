//! Checks each `/auth/…` and `/api/…` request before routing, and answers 429 over the limit.

use std::time::Duration;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::payload::Json;
use poem_openapi::OperationId;

use super::{ClientKey, Decision, Group, GroupQuota};
use crate::{ApiError, AppState, Problem};

const LIMITED_TOTAL: &str = "rate_limited_total";

/// Runs before routing, so a flood of requests to unknown or unauthorised paths under a
/// limited prefix is limited too, and a refused request costs no handler work.
pub(crate) async fn enforce<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    let group = Group::of_path(req.uri().path());
    let limiter = req
        .data::<AppState>()
        .map(|state| state.rate_limiter.clone());
    let (Some(group), Some(limiter)) = (group, limiter) else {
        return Ok(next.get_response(req).await);
    };
    let policy = *limiter.policy();
    let client = ClientKey::of_request(&req, policy.trust_proxy_headers);
    match limiter.check(group, client).await {
        Decision::Allowed => Ok(next.get_response(req).await),
        Decision::Limited { retry_after } => {
            metrics::counter!(LIMITED_TOTAL, "group" => group.as_str()).increment(1);
            tracing::debug!(group = group.as_str(), %client, "rate limited");
            Ok(too_many_requests(group, policy.quota(group), retry_after))
        }
    }
}

fn too_many_requests(group: Group, quota: GroupQuota, retry_after: Duration) -> Response {
    let seconds = whole_seconds_up(retry_after);
    let detail = format!(
        "Rate limit exceeded: at most {} requests per minute to /{} from one client; retry in {seconds} s",
        quota.per_minute,
        group.as_str(),
    );
    let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail);
    let mut response = ApiError::TooManyRequests(Json(problem), seconds).into_response();
    // The latency histogram labels responses by operation; no operation ran.
    response.set_data(OperationId("rate_limited"));
    response
}

/// `Retry-After` is whole seconds; rounding down would invite a retry that fails again.
fn whole_seconds_up(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1_001), 2),
            (Duration::from_secs(30), 30),
        ];
        for (wait, seconds) in cases {
            assert_eq!(whole_seconds_up(wait), seconds, "{wait:?}");
        }
    }
}
