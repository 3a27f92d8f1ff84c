//! `POST /api/v1/embed/links` and `GET /api/v1/embed/session/resolve`.

use std::collections::HashMap;

use adapters::embed::{IssueError, TokenRejection};
use chrono::{DateTime, Utc};
use domain::{JobId, PanelType};
use poem::web::Data;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::job_mirror::query as mirror;

use crate::auth::InternalApiKey;
use crate::caller::caller_of;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum EmbedTags {
    /// Signed, short-lived links to panels the CRM shows in an iframe
    Embed,
}

pub struct EmbedApi;

/// The panels a link can open.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "PanelType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PanelTypeDto {
    /// The job's photo QC: counts per category and what is missing.
    QcPanel,
    /// The job's risk level, reasons and recommended actions.
    RiskView,
    /// What the customer sees of the job.
    CustomerPortalView,
}

impl From<PanelTypeDto> for PanelType {
    fn from(panel: PanelTypeDto) -> Self {
        match panel {
            PanelTypeDto::QcPanel => PanelType::QcPanel,
            PanelTypeDto::RiskView => PanelType::RiskView,
            PanelTypeDto::CustomerPortalView => PanelType::CustomerPortalView,
        }
    }
}

impl From<PanelType> for PanelTypeDto {
    fn from(panel: PanelType) -> Self {
        match panel {
            PanelType::QcPanel => PanelTypeDto::QcPanel,
            PanelType::RiskView => PanelTypeDto::RiskView,
            PanelType::CustomerPortalView => PanelTypeDto::CustomerPortalView,
        }
    }
}

/// A link to ask for (the seed's body).
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EmbedLinkRequest {
    /// A mirrored job (`jobnimbus:<jnid>`).
    job_id: String,
    panel_type: PanelTypeDto,
}

/// A link issued (the seed's response). The URL carries the token: hand it to the CRM's
/// iframe, never to logs.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EmbedLinkCreated {
    url: String,
    panel_type: PanelTypeDto,
    job_id: String,
    expires_at: DateTime<Utc>,
}

/// What a valid token opens (the seed's response).
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EmbedSessionResolved {
    job_id: String,
    panel_type: PanelTypeDto,
    /// Expiry, in unix seconds.
    exp: i64,
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// The link, recorded as an `EmbedLinkIssued` event.
    #[oai(status = 201)]
    Created(Json<EmbedLinkCreated>),
}

#[derive(ApiResponse)]
enum ResolveResponse {
    #[oai(status = 200)]
    Ok(Json<EmbedSessionResolved>),
}

#[OpenApi(prefix_path = "/api/v1/embed", tag = "EmbedTags::Embed")]
impl EmbedApi {
    /// Issues a signed link to one job's panel, valid for `EMBED_TOKEN_TTL_MINUTES`. Who
    /// asked (`x-caller`, optional), for which job and panel, and until when is recorded
    /// as an event; the token never is.
    #[oai(path = "/links", method = "post", operation_id = "create_embed_link")]
    async fn create(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Who asks (a user or service name), kept in the event's metadata.
        #[oai(name = "x-caller")]
        caller: Header<Option<String>>,
        body: Json<EmbedLinkRequest>,
    ) -> Result<CreateResponse, ApiError> {
        let job_id = parse_job_id(&body.job_id)?;
        let caller = caller_of(caller.0)?;
        let job = mirror::get(&state.db, job_id.as_str())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if !job.is_some_and(|job| job.is_active && job.vanished_at.is_none()) {
            return Err(ApiError::not_found(
                "job_not_found",
                format!("no active mirrored job {job_id}: links are issued for jobs we mirror"),
            ));
        }
        let panel = PanelType::from(body.panel_type);
        let metadata = HashMap::from([
            ("actor".to_string(), "api".to_string()),
            ("caller".to_string(), caller),
        ]);
        let issued = state
            .embed
            .links
            .issue(job_id, panel, Utc::now(), metadata)
            .await
            .map_err(|error| match error {
                IssueError::Refused(refusal) => ApiError::internal(&refusal),
                IssueError::Store(_) | IssueError::Signing(_) => ApiError::internal(&error),
            })?;
        state
            .wait_for_read_models(issued.position, "an embed link")
            .await;
        let url = state.embed.url(panel, &issued.token);
        Ok(CreateResponse::Created(Json(EmbedLinkCreated {
            url,
            panel_type: panel.into(),
            job_id: issued.grant.job_id.to_string(),
            expires_at: issued.grant.expires_at,
        })))
    }

    /// What a link's token opens. 401 for an expired, forged, tampered or wrong-algorithm
    /// token, and for one whose job is no longer mirrored.
    #[oai(
        path = "/session/resolve",
        method = "get",
        operation_id = "resolve_embed_session"
    )]
    async fn resolve(
        &self,
        state: Data<&AppState>,
        /// The token of an embed link.
        token: Query<String>,
    ) -> Result<ResolveResponse, ApiError> {
        let session = open(&state, &token.0, Utc::now()).await?;
        Ok(ResolveResponse::Ok(Json(EmbedSessionResolved {
            job_id: session.job_id.to_string(),
            panel_type: session.panel.into(),
            exp: session.expires_at.timestamp(),
        })))
    }
}

/// What `token` opens at `now`, if its job is still mirrored; the 401 to answer otherwise.
pub(super) async fn open(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<adapters::embed::EmbedSession, ApiError> {
    let session = state
        .embed
        .links
        .resolve(token, now)
        .map_err(|rejection| match rejection {
            TokenRejection::Expired => {
                ApiError::unauthorized("embed_token_expired", rejection.to_string())
            }
            TokenRejection::Invalid => {
                ApiError::unauthorized("embed_token_invalid", rejection.to_string())
            }
        })?;
    let job = mirror::get(&state.db, session.job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if !job.is_some_and(|job| job.is_active && job.vanished_at.is_none()) {
        return Err(ApiError::unauthorized(
            "embed_job_not_found",
            "the job this link opens is no longer mirrored",
        ));
    }
    Ok(session)
}

fn parse_job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse()
        .map_err(|e: domain::ParseIdError| ApiError::bad_request("invalid_job_id", e.to_string()))
}
