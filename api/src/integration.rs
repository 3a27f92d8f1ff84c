//! CRM connections as an operator checks them: is the JobNimbus key set, accepted, and is the
//! API answering.
//!
//! The seed answered `{ status: 'ok' | 'error', message? }`. A working connection keeps that
//! body; a broken one is a 503 problem+json (the service's one error body) that carries the
//! seed's `message` too. Its `status` is the HTTP status, as RFC 9457 wants, so a client
//! that tests `status === 'ok'` still tells the two apart.

use std::time::Duration;

use adapters::jobnimbus::HealthStatus;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

use crate::auth::InternalApiKey;
use crate::{AppState, Problem};

#[derive(Tags)]
enum IntegrationTags {
    /// Connections to the CRMs
    Integrations,
}

pub struct IntegrationApi;

/// The connection works.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct IntegrationHealth {
    status: IntegrationHealthStatus,
    /// For people: how long the CRM took to answer.
    message: Option<String>,
    /// How long the CRM took to answer the probe.
    latency_ms: u64,
}

/// The seed's `'ok'`; a connection that is not ok is a 503 problem instead.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum IntegrationHealthStatus {
    Ok,
}

/// Why the connection does not work: a problem+json body with the seed's `message`.
#[derive(Object, Debug)]
pub struct IntegrationProblem {
    /// URI reference naming the problem type: `/problems/{code}`.
    #[oai(rename = "type")]
    problem_type: String,
    /// Short summary of the problem type (the HTTP reason phrase).
    title: String,
    /// HTTP status code.
    status: u16,
    /// What is wrong with the connection, for people.
    detail: String,
    /// `jobnimbus_not_configured`, `jobnimbus_key_rejected`, `jobnimbus_unreachable` or
    /// `jobnimbus_unhealthy`.
    code: String,
    /// The seed's field: the same text as `detail`.
    message: String,
}

impl IntegrationProblem {
    fn unavailable(code: &str, message: String) -> Self {
        let Problem {
            problem_type,
            title,
            status,
            detail,
            code,
        } = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, message.clone());
        Self {
            problem_type,
            title,
            status,
            detail,
            code,
            message,
        }
    }
}

#[derive(ApiResponse)]
enum HealthResponse {
    #[oai(status = 200)]
    Ok(Json<IntegrationHealth>),
    /// Missing or invalid `x-internal-api-key`.
    // Answered by the `InternalApiKey` checker before the handler runs; declared so the
    // spec lists it, as `ApiError` does for the other operations.
    #[allow(dead_code)]
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// JobNimbus cannot be used now; `message` says why.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<IntegrationProblem>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "IntegrationTags::Integrations")]
impl IntegrationApi {
    /// Check the JobNimbus connection.
    ///
    /// Sends JobNimbus one small request. 200 `{status: "ok"}` when the key is accepted and
    /// the API answers; otherwise 503 problem+json with the seed's `message` saying why:
    /// `jobnimbus_not_configured` (no `JOBNIMBUS_API_KEY`), `jobnimbus_key_rejected`,
    /// `jobnimbus_unreachable`, `jobnimbus_unhealthy` (an answer we cannot use).
    #[oai(
        path = "/integration/jobnimbus/health",
        method = "get",
        operation_id = "jobnimbus_health"
    )]
    async fn jobnimbus_health(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
    ) -> HealthResponse {
        let Some(engine) = &state.jobnimbus else {
            return unavailable(
                "jobnimbus_not_configured",
                "JOBNIMBUS_API_KEY is not set".to_string(),
            );
        };
        // The client's errors and statuses never quote the key, so they may be shown as is.
        match engine.client().health_check().await {
            Ok(HealthStatus::Healthy { latency }) => HealthResponse::Ok(Json(IntegrationHealth {
                status: IntegrationHealthStatus::Ok,
                message: Some(format!("JobNimbus answered in {} ms", millis(latency))),
                latency_ms: millis(latency),
            })),
            Ok(HealthStatus::AuthRejected { .. }) => unavailable(
                "jobnimbus_key_rejected",
                "JobNimbus rejected the API key (401): check JOBNIMBUS_API_KEY".to_string(),
            ),
            Ok(HealthStatus::Unreachable { reason }) => unavailable(
                "jobnimbus_unreachable",
                format!("JobNimbus unreachable: {reason}"),
            ),
            Ok(HealthStatus::Unhealthy { status, reason }) => {
                let answered = status.map_or(String::new(), |s| format!(" HTTP {s}"));
                unavailable(
                    "jobnimbus_unhealthy",
                    format!("JobNimbus answered{answered} but not usably: {reason}"),
                )
            }
            // Only a request the client refuses to build fails here: a configuration fault.
            Err(error) => unavailable(
                "jobnimbus_unhealthy",
                format!("cannot check JobNimbus: {error}"),
            ),
        }
    }
}

fn unavailable(code: &str, message: String) -> HealthResponse {
    // A broken CRM connection is the answer to this request, not a failure of it: warn.
    tracing::warn!(code, message = %message, "JobNimbus health check failed");
    HealthResponse::Unavailable(Json(IntegrationProblem::unavailable(code, message)))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
