//! The one error body of the service: RFC 9457 problem details with a stable `code`.
//! This module alone decides HTTP statuses.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// An error response (`application/problem+json`).
#[derive(Object, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// URI reference naming the problem type: `/problems/{code}`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type (the HTTP reason phrase).
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// Stable machine-readable code; clients branch on this, never on `detail`.
    pub code: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
        }
    }
}

/// Every error status an operation may answer, each with a problem+json body.
#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "bad_request")]
pub enum ApiError {
    /// The request is malformed (bad parameter, unparsable body).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The resource does not exist.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// Well-formed, but refused by a business rule.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Rate limit exceeded; retry after the given number of seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// An unexpected failure; details are in the server log, never in the body.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The CRM failed us (unreachable, erroring, or refusing our credentials); what we
    /// committed before it did stays.
    #[oai(status = 502, content_type = "application/problem+json")]
    BadGateway(Json<Problem>),
    /// A dependency (database, CRM) is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

fn bad_request(err: poem::Error) -> ApiError {
    ApiError::BadRequest(Json(Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        err.to_string(),
    )))
}

impl ApiError {
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        ApiError::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, code, detail)))
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest(Json(Problem::new(StatusCode::BAD_REQUEST, code, detail)))
    }

    pub fn unauthorized(code: &str, detail: impl Into<String>) -> Self {
        ApiError::Unauthorized(Json(Problem::new(StatusCode::UNAUTHORIZED, code, detail)))
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        ApiError::Conflict(Json(Problem::new(StatusCode::CONFLICT, code, detail)))
    }

    pub fn bad_gateway(code: &str, detail: impl Into<String>) -> Self {
        ApiError::BadGateway(Json(Problem::new(StatusCode::BAD_GATEWAY, code, detail)))
    }

    pub fn unavailable(code: &str, detail: impl Into<String>) -> Self {
        ApiError::Unavailable(Json(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            detail,
        )))
    }

    /// The problem this error answers with.
    pub fn problem(&self) -> &Problem {
        match self {
            ApiError::BadRequest(Json(problem))
            | ApiError::Unauthorized(Json(problem))
            | ApiError::NotFound(Json(problem))
            | ApiError::Conflict(Json(problem))
            | ApiError::Unprocessable(Json(problem))
            | ApiError::TooManyRequests(Json(problem), _)
            | ApiError::Internal(Json(problem))
            | ApiError::BadGateway(Json(problem))
            | ApiError::Unavailable(Json(problem)) => problem,
        }
    }

    /// Logs `error` with its cause chain (once, here at the edge) and answers an opaque 500.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error.message = %error, error.cause_chain = ?error, "request failed");
        ApiError::Internal(Json(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; it has been logged",
        )))
    }
}

/// Turns errors raised outside our operations (unknown route, wrong method, rejected
/// extractor) into the same problem+json body.
pub(crate) async fn problem_from_poem_error(err: poem::Error) -> Response {
    // Our own `ApiError`s reach this handler too (poem-openapi wraps an operation's error
    // response in a `poem::Error`): they already carry their problem body, keep it.
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        // Raised by poem-openapi when a security scheme's header is missing.
        StatusCode::UNAUTHORIZED => "missing_api_key",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        s if s.is_server_error() => "internal_error",
        _ => "invalid_request",
    };
    let detail = if status.is_server_error() {
        tracing::error!(error.message = %err, "request failed outside an operation");
        "an unexpected error occurred; it has been logged".to_string()
    } else {
        err.to_string()
    };
    problem_response(Problem::new(status, code, detail))
}

pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    problem_response(Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred; it has been logged",
    ))
}

fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    body.with_status(status)
        .with_content_type("application/problem+json")
        .into_response()
}
