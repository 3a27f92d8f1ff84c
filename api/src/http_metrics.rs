//! Prometheus metrics: the recorder, the `/metrics` page, and HTTP latency per operation.

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::OperationId;

use crate::AppState;

const LATENCY: &str = "http_request_duration_seconds";
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide metrics recorder once and returns its handle.
pub fn install_metrics_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.to_string()), LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match recorder {
                Ok(handle) => handle,
                // Another recorder already owns the process (embedding): keep a private
                // one so /metrics still answers, if emptier.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

#[poem::handler]
pub(crate) async fn render(state: Data<&AppState>) -> impl IntoResponse {
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4")
}

/// Records each request's latency labelled by operation id (bounded cardinality, unlike
/// raw paths with ids) and logs method, path and status. The query string is never logged:
/// it may carry tokens.
pub(crate) async fn observe<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let response = next.get_response(req).await;
    let status = response.status();
    let operation = response.data::<OperationId>().map(|id| id.0).unwrap_or(
        if path.starts_with("/docs") || path == "/openapi.json" || path == "/metrics" {
            "static"
        } else {
            "unmatched"
        },
    );
    let elapsed = started.elapsed();
    metrics::histogram!(LATENCY, "method" => method.clone(), "operation" => operation, "status" => status.as_u16().to_string())
        .record(elapsed.as_secs_f64());
    tracing::info!(%method, %path, status = status.as_u16(), latency_ms = elapsed.as_millis() as u64, "request");
    Ok(response)
}
