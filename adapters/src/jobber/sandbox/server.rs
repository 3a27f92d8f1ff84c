//! The HTTP surface: added latency first, then routing by hand so every answer, errors
//! included, has the shape Jobber gives it rather than poem's defaults.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, Request, Response};
use serde_json::{json, Value};

use super::clock::Clock;
use super::config::JobberSandboxConfig;
use super::jwt::Signer;
use super::state::State;
use super::{graphql, oauth};

pub(crate) const AUTHORIZE_PATH: &str = "/api/oauth/authorize";
pub(crate) const TOKEN_PATH: &str = "/api/oauth/token";
pub(crate) const GRAPHQL_PATH: &str = "/api/graphql";

/// Everything the endpoint and the test handle share.
pub(crate) struct Shared {
    pub(crate) config: JobberSandboxConfig,
    pub(crate) signer: Signer,
    pub(crate) clock: Clock,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct JobberEndpoint {
    pub(crate) shared: Arc<Shared>,
}

impl Endpoint for JobberEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let latency = self.shared.state().faults.latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let response = match (path.as_str(), method) {
            (AUTHORIZE_PATH, Method::GET) => oauth::authorize(&self.shared, &req).await,
            (TOKEN_PATH, Method::POST) => oauth::token(&self.shared, req).await,
            (GRAPHQL_PATH, Method::POST) => graphql::serve(&self.shared, req).await,
            (AUTHORIZE_PATH | TOKEN_PATH | GRAPHQL_PATH, _) => json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "error": "Method Not Allowed" }),
            ),
            _ => json(StatusCode::NOT_FOUND, &json!({ "error": "Not Found" })),
        };
        Ok(response)
    }
}

pub(crate) fn json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// What a load balancer or a crashed Rails app sends instead of JSON.
pub(crate) fn html_error(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        ))
}

/// True when the request's `Content-Type` names `essence` (parameters such as `charset` and
/// letter case do not matter).
pub(crate) fn has_content_type(req: &Request, essence: &str) -> bool {
    req.header(header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(essence))
}
