//! HTTP: poem-openapi endpoints, problem+json errors, health, metrics and the spec.
//!
//! Handlers reach shared state through poem's `Data<&AppState>` rather than fields of the
//! API structs, so the spec can be generated without a database (`spec_yaml`).

mod auth;
mod caller;
mod contacts;
mod cursor;
pub mod embed;
pub mod error;
mod evaluations;
mod health;
mod http_metrics;
mod integration;
mod job_files;
mod jobber_auth;
mod jobber_webhook;
mod jobnimbus_webhook;
mod jobs;
mod portal;
mod qc;
pub mod rate_limit;
mod risk;
mod state;
mod sync;
mod write_backs;

use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route};
use poem_openapi::OpenApiService;

pub use error::{ApiError, Problem};
pub use http_metrics::install_metrics_recorder;
pub use state::AppState;

/// Title and version shown in the spec.
const TITLE: &str = "unified-crm";
const VERSION: &str = env!("CARGO_PKG_VERSION");

type Apis = (
    health::HealthApi,
    jobs::JobsApi,
    contacts::ContactsApi,
    sync::SyncApi,
    integration::IntegrationApi,
    jobber_auth::JobberAuthApi,
    jobber_webhook::JobberWebhookApi,
    job_files::JobFilesApi,
    jobnimbus_webhook::JobNimbusWebhookApi,
    embed::EmbedApi,
    portal::PortalApi,
    qc::QcApi,
    risk::RiskApi,
    write_backs::WriteBacksApi,
    write_backs::JobHistoryApi,
);

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            jobs::JobsApi,
            contacts::ContactsApi,
            sync::SyncApi,
            integration::IntegrationApi,
            jobber_auth::JobberAuthApi,
            jobber_webhook::JobberWebhookApi,
            job_files::JobFilesApi,
            jobnimbus_webhook::JobNimbusWebhookApi,
            embed::EmbedApi,
            portal::PortalApi,
            qc::QcApi,
            risk::RiskApi,
            write_backs::WriteBacksApi,
            write_backs::JobHistoryApi,
        ),
        TITLE,
        VERSION,
    )
    .description(
        "Event-sourced integration backend for field-service CRMs (Jobber, JobNimbus).\n\n\
         Every request under `/auth/` and `/api/` counts against a per-client rate limit; \
         over it, the answer is 429 problem+json with code `rate_limited` and a `Retry-After` \
         header in seconds. Health, metrics, docs, this spec and the CRMs' webhooks \
         (`/api/v1/webhooks/…`) are never limited.",
    )
}

/// The OpenAPI document, as committed in `openapi.yaml`.
pub fn spec_yaml() -> String {
    service().spec_yaml()
}

/// The OpenAPI document as JSON, as served at `/openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// Every route of the service: the API, the embed panels (`/embed/…`), `/docs`,
/// `/openapi.json` and `/metrics`, with
/// `/auth/…` and `/api/…` rate limited per client.
pub fn routes(state: AppState) -> impl Endpoint {
    let api = service();
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .nest("/embed", embed::page_routes())
        .at("/openapi.json", spec)
        .at("/metrics", poem::get(http_metrics::render))
        .catch_all_error(error::problem_from_poem_error)
        .with(CatchPanic::new().with_handler(error::panic_response))
        .around(rate_limit::enforce)
        .around(http_metrics::observe)
        .data(state)
        .into_endpoint()
}
