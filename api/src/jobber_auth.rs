//! Jobber connections over HTTP, on the seed's paths (`/auth/jobber/...`): start the OAuth
//! flow, take the callback, report, refresh and end a user's connection.
//!
//! The browser-facing two (`authorize`, `callback`) cannot carry our internal key; the
//! callback is authenticated by its single-use `state`. Status, refresh and disconnect are
//! for our own services and need `x-internal-api-key` (the seed left them open).
//! The seed's troubleshooting messages are our error messages, under stable codes.

use std::collections::HashMap;

use adapters::jobber::{ConnectionFailure, JobberError, RefreshOutcome, RefreshTrigger};
use chrono::{DateTime, Utc};
use domain::{ConnectionStatus, UserId};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

use crate::auth::InternalApiKey;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum JobberTags {
    /// Jobber OAuth connections, one per user
    JobberAuth,
}

pub struct JobberAuthApi;

/// Where a user's Jobber connection stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum JobberConnectionStatus {
    /// The seed's value: we hold tokens Jobber accepted.
    Authenticated,
    /// Jobber declared the grant dead; the user must authorise again.
    NeedsReauth,
    /// Disconnected; the tokens were shredded.
    Revoked,
    /// The user never connected.
    NotConnected,
}

impl From<ConnectionStatus> for JobberConnectionStatus {
    fn from(status: ConnectionStatus) -> Self {
        match status {
            ConnectionStatus::Authenticated => Self::Authenticated,
            ConnectionStatus::NeedsReauth => Self::NeedsReauth,
            ConnectionStatus::Revoked => Self::Revoked,
            ConnectionStatus::NeverConnected => Self::NotConnected,
        }
    }
}

/// The seed's status body, plus the token's expiry and the connected account.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobberAuthStatus {
    status: JobberConnectionStatus,
    /// True while we hold an access token that has not expired.
    has_valid_token: bool,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    /// When the current access token expires (from its JWT `exp`).
    expires_at: Option<DateTime<Utc>>,
    /// The Jobber account the user connected.
    account_name: Option<String>,
    /// After a failed refresh, no new attempt before this time.
    retry_not_before: Option<DateTime<Utc>>,
}

/// The result of a refresh request.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobberRefreshResult {
    status: JobberConnectionStatus,
    has_valid_token: bool,
    expires_at: Option<DateTime<Utc>>,
    /// False when a refresh made moments before (by another request or instance) was
    /// reused instead of asking Jobber again.
    refreshed: bool,
}

/// A finished authorisation.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobberConnected {
    status: JobberConnectionStatus,
    user_id: String,
    account_name: Option<String>,
    message: String,
}

/// An ended connection.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobberDisconnected {
    status: JobberConnectionStatus,
    /// Whether Jobber confirmed `appDisconnect`. Our copy of the tokens is shredded either way.
    jobber_notified: bool,
}

#[derive(ApiResponse)]
enum AuthorizeResponse {
    /// To Jobber's consent page.
    #[oai(status = 302)]
    Redirect(#[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum CallbackResponse {
    #[oai(status = 200)]
    Ok(Json<JobberConnected>),
}

#[derive(ApiResponse)]
enum StatusResponse {
    #[oai(status = 200)]
    Ok(Json<JobberAuthStatus>),
}

#[derive(ApiResponse)]
enum RefreshResponse {
    #[oai(status = 200)]
    Ok(Json<JobberRefreshResult>),
}

#[derive(ApiResponse)]
enum DisconnectResponse {
    #[oai(status = 200)]
    Ok(Json<JobberDisconnected>),
}

#[OpenApi(prefix_path = "/auth/jobber", tag = "JobberTags::JobberAuth")]
impl JobberAuthApi {
    /// Start the Jobber OAuth flow for a user.
    ///
    /// Redirects (302) to Jobber's consent page with a single-use `state` bound to
    /// `userid`, valid for 10 minutes. 400 `invalid_user_id`; 503 `jobber_not_configured`
    /// without `JOBBER_CLIENT_ID`/`JOBBER_CLIENT_SECRET`/`JOBBER_REDIRECT_URI`.
    #[oai(path = "/authorize", method = "get", operation_id = "jobber_authorize")]
    async fn authorize(
        &self,
        state: Data<&AppState>,
        /// Our user the connection belongs to: 1–64 letters, digits, `_` or `-`.
        userid: Query<String>,
    ) -> Result<AuthorizeResponse, ApiError> {
        let jobber = configured(&state)?;
        let user = user_id(&userid.0)?;
        let url = jobber.begin(&user, Utc::now()).await.map_err(failure)?;
        Ok(AuthorizeResponse::Redirect(url))
    }

    /// Jobber's redirect back after the user's decision.
    ///
    /// Verifies the `state` (ours, unused, not expired; 400 `oauth_state_unknown`,
    /// `oauth_state_reused`, `oauth_state_expired`, `oauth_state_mismatch`), exchanges the
    /// code, stores the tokens encrypted and records the grant. 400
    /// `oauth_callback_incomplete` ("Missing code or state in callback": also what a denied
    /// consent looks like, since Jobber then redirects without parameters), 400
    /// `oauth_code_rejected`, 502 `jobber_invalid_credentials` ("Unauthorized – invalid
    /// credentials": our client id or secret), 502 `jobber_unavailable`.
    #[oai(path = "/callback", method = "get", operation_id = "jobber_callback")]
    async fn callback(
        &self,
        state: Data<&AppState>,
        code: Query<Option<String>>,
        #[oai(name = "state")] oauth_state: Query<Option<String>>,
        /// Optional: when the redirect URI carries the user, it must match the state's.
        userid: Query<Option<String>>,
        /// Set by some providers when the user refused.
        error: Query<Option<String>>,
    ) -> Result<CallbackResponse, ApiError> {
        let jobber = configured(&state)?;
        if let Some(error) = error.0.filter(|e| !e.is_empty()) {
            return Err(ApiError::bad_request(
                "oauth_access_denied",
                format!("Jobber did not grant access ({error}); start the authorisation again"),
            ));
        }
        let expected = userid.0.as_deref().map(user_id).transpose()?;
        let connected = jobber
            .complete(
                code.0.as_deref(),
                oauth_state.0.as_deref(),
                expected.as_ref(),
                Utc::now(),
                actor("oauth_callback"),
            )
            .await
            .map_err(|error| match error {
                // At the callback a rejected grant is the code: spent, expired or forged.
                ConnectionFailure::Jobber(JobberError::GrantRejected(detail)) => {
                    ApiError::bad_request(
                        "oauth_code_rejected",
                        format!("Jobber rejected the authorisation code ({detail}); start again"),
                    )
                }
                other => failure(other),
            })?;
        state
            .wait_for_read_models(connected.position, "a Jobber connection change")
            .await;
        Ok(CallbackResponse::Ok(Json(JobberConnected {
            status: JobberConnectionStatus::Authenticated,
            user_id: connected.user.to_string(),
            account_name: connected.account_name,
            message: "Jobber connected".to_string(),
        })))
    }

    /// A user's Jobber connection status.
    ///
    /// The seed's `{status, hasValidToken, createdAt, updatedAt}` plus `expiresAt`. A user
    /// who never connected is `not_connected`, not an error.
    #[oai(
        path = "/status/:user_id",
        method = "get",
        operation_id = "jobber_status"
    )]
    async fn status(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        user_id: Path<String>,
    ) -> Result<StatusResponse, ApiError> {
        let jobber = configured(&state)?;
        let user = self::user_id(&user_id.0)?;
        let connection = jobber.state(&user).await.map_err(failure)?;
        let now = Utc::now();
        Ok(StatusResponse::Ok(Json(JobberAuthStatus {
            status: connection.status().into(),
            has_valid_token: connection.has_valid_token(now),
            created_at: connection.created_at(),
            updated_at: connection.updated_at(),
            expires_at: connection.access_expires_at(),
            account_name: connection.account_name().map(str::to_string),
            retry_not_before: connection.retry_not_before(),
        })))
    }

    /// Refresh a user's Jobber access token now.
    ///
    /// Single-flight across requests and instances: concurrent calls make one refresh at
    /// Jobber and share it (`refreshed: false` for those that reused it). 404
    /// `jobber_connection_not_found`, 409 `jobber_reauth_required`, 429
    /// `jobber_refresh_cooling_down` after a failed refresh, 502 `jobber_grant_rejected`
    /// (the connection now needs re-authorisation), `jobber_invalid_credentials`,
    /// `jobber_unavailable`.
    #[oai(
        path = "/refresh/:user_id",
        method = "get",
        operation_id = "jobber_refresh"
    )]
    async fn refresh_get(
        &self,
        state: Data<&AppState>,
        auth: InternalApiKey,
        user_id: Path<String>,
    ) -> Result<RefreshResponse, ApiError> {
        self.refresh(state, auth, user_id).await
    }

    /// Refresh a user's Jobber access token now (same as the GET).
    #[oai(
        path = "/refresh/:user_id",
        method = "post",
        operation_id = "jobber_refresh_post"
    )]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        user_id: Path<String>,
    ) -> Result<RefreshResponse, ApiError> {
        let jobber = configured(&state)?;
        let user = self::user_id(&user_id.0)?;
        let now = Utc::now();
        let (outcome, position) = jobber
            .refresh(
                &user,
                RefreshTrigger::Requested,
                now,
                actor("refresh_endpoint"),
            )
            .await
            .map_err(failure)?;
        state
            .wait_for_read_models(position, "a Jobber connection change")
            .await;
        let connection = jobber.state(&user).await.map_err(failure)?;
        Ok(RefreshResponse::Ok(Json(JobberRefreshResult {
            status: connection.status().into(),
            has_valid_token: connection.has_valid_token(now),
            expires_at: connection.access_expires_at(),
            refreshed: matches!(outcome, RefreshOutcome::Refreshed(_)),
        })))
    }

    /// Disconnect a user's Jobber connection.
    ///
    /// Calls Jobber's `appDisconnect`, shreds our encrypted copy of the tokens and records
    /// the revocation; the history stays. 404 `jobber_connection_not_found`.
    #[oai(
        path = "/connections/:user_id",
        method = "delete",
        operation_id = "jobber_disconnect"
    )]
    async fn disconnect(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        user_id: Path<String>,
    ) -> Result<DisconnectResponse, ApiError> {
        let jobber = configured(&state)?;
        let user = self::user_id(&user_id.0)?;
        let (jobber_notified, position) = jobber
            .disconnect(&user, Utc::now(), actor("disconnect_endpoint"))
            .await
            .map_err(failure)?;
        state
            .wait_for_read_models(position, "a Jobber connection change")
            .await;
        Ok(DisconnectResponse::Ok(Json(JobberDisconnected {
            status: JobberConnectionStatus::Revoked,
            jobber_notified,
        })))
    }
}

fn configured(state: &AppState) -> Result<&adapters::jobber::JobberConnections, ApiError> {
    state.jobber.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "jobber_not_configured",
            "Jobber is not configured: set JOBBER_CLIENT_ID, JOBBER_CLIENT_SECRET and JOBBER_REDIRECT_URI",
        )
    })
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_user_id",
            "Invalid User ID: use 1–64 letters, digits, '_' or '-'",
        )
    })
}

fn actor(action: &str) -> HashMap<String, String> {
    HashMap::from([
        ("actor".to_string(), "api".to_string()),
        ("action".to_string(), action.to_string()),
    ])
}

/// Picks the HTTP answer for a failed use case; the seed's messages where it has one.
fn failure(failure: ConnectionFailure) -> ApiError {
    match failure {
        ConnectionFailure::MissingCodeOrState => ApiError::bad_request(
            "oauth_callback_incomplete",
            "Missing code or state in callback (Jobber redirects without them when the user denies access)",
        ),
        ConnectionFailure::UnknownState => ApiError::bad_request(
            "oauth_state_unknown",
            "the OAuth state was not issued by this service; start the authorisation again",
        ),
        ConnectionFailure::ReusedState => ApiError::bad_request(
            "oauth_state_reused",
            "the OAuth state was already used; start the authorisation again",
        ),
        ConnectionFailure::ExpiredState => ApiError::bad_request(
            "oauth_state_expired",
            "the OAuth state expired (10 minutes); start the authorisation again",
        ),
        ConnectionFailure::StateUserMismatch => ApiError::bad_request(
            "oauth_state_mismatch",
            "the OAuth state was issued for another user",
        ),
        ConnectionFailure::NotConnected(user) => ApiError::not_found(
            "jobber_connection_not_found",
            format!("user {user} has no Jobber connection"),
        ),
        ConnectionFailure::NeedsReauth(user) => ApiError::conflict(
            "jobber_reauth_required",
            format!("the Jobber connection of user {user} must be authorised again"),
        ),
        ConnectionFailure::CoolingDown { user, retry_at } => {
            let seconds = (retry_at - Utc::now()).num_seconds().max(1) as u64;
            ApiError::TooManyRequests(
                poem_openapi::payload::Json(crate::Problem::new(
                    poem::http::StatusCode::TOO_MANY_REQUESTS,
                    "jobber_refresh_cooling_down",
                    format!("the last refresh for user {user} failed; retry after {retry_at}"),
                )),
                seconds,
            )
        }
        ConnectionFailure::Jobber(error) => jobber_failure(error),
        ConnectionFailure::Vault(error) => ApiError::internal(&error),
        ConnectionFailure::Store(message) => {
            tracing::error!(error.message = %message, "Jobber connection store failed");
            ApiError::unavailable("store_unavailable", "the database is unavailable; retry later")
        }
    }
}

fn jobber_failure(error: JobberError) -> ApiError {
    match error {
        JobberError::GrantRejected(detail) => ApiError::bad_gateway(
            "jobber_grant_rejected",
            format!("Jobber rejected the grant ({detail}); the user must authorise again"),
        ),
        JobberError::InvalidClient => ApiError::bad_gateway(
            "jobber_invalid_credentials",
            "Unauthorized – invalid credentials: check JOBBER_CLIENT_ID and JOBBER_CLIENT_SECRET",
        ),
        JobberError::TokenRejected | JobberError::Disconnected => {
            ApiError::bad_gateway("jobber_token_rejected", error.to_string())
        }
        JobberError::Unavailable(detail) => ApiError::bad_gateway(
            "jobber_unavailable",
            format!("Jobber is unavailable: {detail}"),
        ),
        JobberError::Protocol(_) | JobberError::Config(_) => {
            ApiError::bad_gateway("jobber_error", error.to_string())
        }
    }
}
