//! The panels themselves: `/embed/qc`, `/embed/risk` and `/embed/portal` (`?token=`), pages
//! for the CRM's iframe.
//!
//! Every answer, refusals included, carries the same headers: framing only by the configured
//! CRM origins, nothing cached (the URL holds a credential), no referrer (so the token does
//! not leak through the deep link), and a CSP that allows the page's own inline stylesheet
//! and nothing else — no script, no external load.

use std::sync::LazyLock;

use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use domain::qc::QcCheck;
use domain::risk::RiskAssessment;
use domain::{FileKind, JobId, PanelType, QcCategory};
use poem::http::StatusCode;
use poem::web::{Data, Html, Query};
use poem::{handler, IntoResponse, Response, Route};
use projections::job_evaluations::query::{self as evaluations, EvaluationRow};
use projections::job_files::query as files;
use projections::job_mirror::query::{self as mirror, JobRow};
use sha2::{Digest, Sha256};

use super::api::open;
use super::views::{JobHeader, PortalPage, QcPage, RefusedPage, RiskPage, STYLE};
use crate::portal::portal_view;
use crate::{ApiError, AppState};

/// `'sha256-…'` of [`STYLE`]: the one inline style the pages' CSP allows.
static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
    )
});

/// The panel pages, to mount beside the API.
pub fn routes() -> Route {
    Route::new()
        .at("/qc", poem::get(qc_panel))
        .at("/risk", poem::get(risk_panel))
        .at("/portal", poem::get(portal_panel))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[handler]
async fn qc_panel(state: Data<&AppState>, query: Query<TokenQuery>) -> Response {
    let state = *state;
    panel(
        state,
        PanelType::QcPanel,
        query.0.token,
        |job_id| async move {
            let job = job_row(state, &job_id).await?;
            let photos = photo_counts(state, &job_id).await?;
            let qc = evaluation(state, &job_id).await?.and_then(|row| row.qc);
            let latest = qc.map(|qc| {
                let at = qc.evaluated_at;
                let check = QcCheck {
                    status: qc.status,
                    photos: qc.photos,
                    missing: qc.missing,
                };
                (check, at)
            });
            let latest = latest.as_ref().map(|(check, at)| (check, *at));
            Ok(QcPage::new(header(&job), &photos, latest).render())
        },
    )
    .await
}

#[handler]
async fn risk_panel(state: Data<&AppState>, query: Query<TokenQuery>) -> Response {
    let state = *state;
    panel(
        state,
        PanelType::RiskView,
        query.0.token,
        |job_id| async move {
            let job = job_row(state, &job_id).await?;
            let risk = evaluation(state, &job_id).await?.and_then(|row| row.risk);
            let latest = risk.map(|risk| {
                let at = risk.evaluated_at;
                let assessment = RiskAssessment {
                    level: risk.level,
                    reasons: risk.reasons,
                };
                (assessment, at)
            });
            let latest = latest.as_ref().map(|(assessment, at)| (assessment, *at));
            let deep_link = (job.source == "jobnimbus")
                .then(|| format!("{}/job/{}", state.jobnimbus_app_base_url, job.external_id));
            Ok(RiskPage::new(header(&job), latest, deep_link).render())
        },
    )
    .await
}

#[handler]
async fn portal_panel(state: Data<&AppState>, query: Query<TokenQuery>) -> Response {
    let state = *state;
    panel(
        state,
        PanelType::CustomerPortalView,
        query.0.token,
        |job_id| async move {
            let now = Utc::now();
            let view = portal_view(state, &job_id, now)
                .await?
                .ok_or_else(|| gone(&job_id))?;
            Ok(PortalPage {
                view: view.text(now),
            }
            .render())
        },
    )
    .await
}

/// Opens `token` for `expected`, renders the page `render` builds for its job, or the
/// refusal; with the panel headers either way.
async fn panel<F, Fut>(
    state: &AppState,
    expected: PanelType,
    token: Option<String>,
    render: F,
) -> Response
where
    F: FnOnce(JobId) -> Fut,
    Fut: std::future::Future<Output = Result<askama::Result<String>, ApiError>>,
{
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "embed_token_missing",
            "This panel opens from a link that carries its token; ask the CRM to reload it.",
            state,
        );
    };
    let session = match open(state, &token, Utc::now()).await {
        Ok(session) => session,
        Err(error) => return refusal_of(&error, state),
    };
    // A link opens the panel it was issued for, never another of the same job.
    if session.panel != expected {
        return refused(
            StatusCode::UNAUTHORIZED,
            "embed_token_wrong_panel",
            "This link was issued for another panel.",
            state,
        );
    }
    match render(session.job_id).await {
        Ok(Ok(html)) => with_headers(Html(html).into_response(), state),
        Ok(Err(error)) => {
            tracing::error!(error = %error, panel = expected.as_str(), "an embed panel failed to render");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The panel could not be shown; try again later.",
                state,
            )
        }
        Err(error) => refusal_of(&error, state),
    }
}

fn refusal_of(error: &ApiError, state: &AppState) -> Response {
    let problem = error.problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let message = match problem.code.as_str() {
        "embed_token_expired" => {
            "This link has expired. Reopen the panel from the CRM to get a fresh one.".to_string()
        }
        "embed_token_invalid" => "This link is not valid.".to_string(),
        "embed_job_not_found" | "job_not_found" => {
            "The job this link opens is no longer available.".to_string()
        }
        _ => "The panel could not be shown; try again later.".to_string(),
    };
    refused(status, &problem.code, &message, state)
}

fn refused(status: StatusCode, code: &str, message: &str, state: &AppState) -> Response {
    let heading = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "Something went wrong"
    } else {
        "This panel cannot be opened"
    };
    let page = RefusedPage {
        heading,
        message: message.to_string(),
        code: code.to_string(),
    };
    let html = page.render().unwrap_or_else(|_| heading.to_string());
    with_headers(Html(html).with_status(status).into_response(), state)
}

fn with_headers(mut response: Response, state: &AppState) -> Response {
    let ancestors = state.embed.frame_ancestors.join(" ");
    let csp = format!(
        "default-src 'none'; style-src {}; img-src 'self' data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors {ancestors}",
        *STYLE_HASH
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", csp.as_str()),
        ("cache-control", "no-store, max-age=0"),
        ("pragma", "no-cache"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        if let Ok(value) = poem::http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

fn gone(job_id: &JobId) -> ApiError {
    ApiError::unauthorized(
        "embed_job_not_found",
        format!("job {job_id} is no longer mirrored"),
    )
}

async fn job_row(state: &AppState, job_id: &JobId) -> Result<JobRow, ApiError> {
    mirror::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| gone(job_id))
}

fn header(job: &JobRow) -> JobHeader {
    let address = [
        job.address_line1.as_deref(),
        job.city.as_deref(),
        job.state.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|part| !part.trim().is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    JobHeader {
        name: job.name.clone(),
        number: job.number.clone(),
        status: job.status.clone(),
        customer: job.customer_name.clone(),
        address: (!address.is_empty()).then_some(address),
    }
}

async fn photo_counts(
    state: &AppState,
    job_id: &JobId,
) -> Result<domain::qc::PhotoCounts, ApiError> {
    let photos = files::list(&state.db, job_id.as_str(), FileKind::Photo)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut counts = domain::qc::PhotoCounts::default();
    for photo in photos {
        counts.add(photo.qc_category.unwrap_or(QcCategory::Unclassified));
    }
    Ok(counts)
}

/// The job's latest QC check and risk assessment, from the `job_evaluations` read model
/// (the one the QC and risk endpoints answer from, so panel and API agree).
async fn evaluation(state: &AppState, job_id: &JobId) -> Result<Option<EvaluationRow>, ApiError> {
    evaluations::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))
}
