//! The sync API: manual runs (`POST /sync/jobs`, `POST /sync/contacts`), the log of sync runs
//! and the latest run's summary.
//!
//! The seed's `JobSyncLog` fields (`jobId`, `syncType`, `status`, `recordsAffected`,
//! `errorMessage`, `createdAt`) are kept so its users can switch; ours follow them.

use adapters::store::StoreError;
use adapters::sync::{SyncError, SyncRequest};
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::sync_log::query::{self, Pagination, SyncRunRow};

use crate::auth::InternalApiKey;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum SyncTags {
    /// CRM sync runs: what each pulled, and how it ended
    Sync,
}

pub struct SyncApi;

/// One sync run, in the seed's `JobSyncLog` shape plus the run's details.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct SyncLog {
    /// The run's id.
    id: String,
    /// The job a single-record sync was about; always null, since runs cover a whole
    /// resource.
    job_id: Option<String>,
    /// Direction: `PULL` (CRM to us) for every sync run.
    sync_type: SyncType,
    status: SyncLogStatus,
    /// Records whose mirror changed: created + updated + vanished.
    records_affected: u64,
    /// Why a `FAILED` run stopped.
    error_message: Option<String>,
    /// When the run started (the seed's name for `startedAt`).
    created_at: DateTime<Utc>,
    /// The CRM: `jobnimbus` or `jobber`.
    source: String,
    resource: SyncResourceDto,
    mode: SyncModeDto,
    trigger: SyncTriggerDto,
    /// Records read from the CRM: created + updated + unchanged + failed.
    fetched: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    /// Records the run could not take; it went on without them.
    failed: u64,
    /// Records a reconcile run found missing from the CRM.
    vanished: u64,
    /// `<external id>: <reason>` for each failed record, in order, at most the first 100.
    errors: Vec<String>,
    started_at: DateTime<Utc>,
    /// Null while the run is `RUNNING`.
    finished_at: Option<DateTime<Utc>>,
    /// Lower bound of the CRM's update time asked for (incremental runs).
    updated_since: Option<DateTime<Utc>>,
    /// Pages processed so far.
    pages: u32,
}

/// What a manual run did: the seed's `{ fetched, created, updated, failed, errors }` plus the
/// run's details.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct SyncRunResult {
    /// The run's id: its entry in `GET /sync/logs`.
    run_id: String,
    status: SyncRunStatus,
    mode: SyncModeDto,
    /// Records read from the CRM: created + updated + unchanged + failed.
    fetched: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    /// Records the run could not take; it went on without them.
    failed: u64,
    /// Records a reconcile run found missing from the CRM.
    vanished: u64,
    /// `<external id>: <reason>` for each failed record, in order, at most the first 100.
    errors: Vec<String>,
    /// Lower bound of the CRM's update time asked for; null when the run read everything.
    updated_since: Option<DateTime<Utc>>,
    duration_ms: u64,
    /// True when the job and contact lists and the sync log already showed this run when
    /// the answer was sent. False when they had not caught up within the server's
    /// read-your-writes timeout: the run is committed all the same, and they show it shortly.
    caught_up: bool,
}

/// How a run that reached its end went: every record taken, or some failed (see `errors`).
/// A run the CRM stopped is a 502, not a status.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncRunStatus {
    Success,
    Partial,
}

/// A page of the sync log.
#[derive(Object, Debug)]
pub struct SyncLogList {
    /// Newest started first.
    logs: Vec<SyncLog>,
    /// Runs in the whole log.
    total: u64,
}

/// Direction of a sync (the seed's `syncType`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncType {
    /// From the CRM into our mirror.
    Pull,
    /// From us into the CRM (write-backs).
    Push,
}

/// Where a run stands: the seed's `SUCCESS`, `FAILED` and `PARTIAL`, plus `RUNNING`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncLogStatus {
    Running,
    /// Completed and every record was taken.
    Success,
    /// Completed, but some records failed (see `errors`).
    Partial,
    /// Stopped early (see `errorMessage`); what it committed before stays.
    Failed,
}

/// Which kind of CRM record a run pulls.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SyncResource", rename_all = "lowercase")]
pub enum SyncResourceDto {
    Jobs,
    Contacts,
}

/// How much of the CRM a run reads: everything, what changed since the last run, or
/// everything and then mark what the CRM no longer lists.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SyncMode", rename_all = "lowercase")]
pub enum SyncModeDto {
    Full,
    Incremental,
    Reconcile,
}

/// Who asked for the run.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "SyncTrigger", rename_all = "lowercase")]
pub enum SyncTriggerDto {
    Manual,
    Scheduled,
    Import,
}

#[derive(ApiResponse)]
enum RunResponse {
    #[oai(status = 200)]
    Ok(Json<SyncRunResult>),
}

#[derive(ApiResponse)]
enum SummaryResponse {
    #[oai(status = 200)]
    Ok(Json<SyncLog>),
}

#[derive(ApiResponse)]
enum LogsResponse {
    #[oai(status = 200)]
    Ok(Json<SyncLogList>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "SyncTags::Sync")]
impl SyncApi {
    /// Sync JobNimbus jobs now.
    ///
    /// Answers when the run has ended and the job list shows its result (read-your-writes,
    /// see `caughtUp`). `mode` defaults to `incremental`, which reads everything on the first
    /// run. 409 `sync_in_progress` while another jobs run (scheduled or manual) is going; 502
    /// `jobnimbus_unavailable` when JobNimbus stopped the run (unreachable, failing, or
    /// rejecting the API key; the run is in the sync log and what it committed stays); 503
    /// `jobnimbus_not_configured` without `JOBNIMBUS_API_KEY`, `store_unavailable` when the
    /// database failed.
    #[oai(path = "/sync/jobs", method = "post", operation_id = "sync_jobs")]
    async fn sync_jobs(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// How much of JobNimbus to read.
        #[oai(default = "default_mode")]
        mode: Query<SyncModeDto>,
    ) -> Result<RunResponse, ApiError> {
        let result = run_manual(&state, domain::SyncResource::Jobs, mode.0).await?;
        Ok(RunResponse::Ok(Json(result)))
    }

    /// Sync JobNimbus contacts now.
    ///
    /// As `POST /sync/jobs`, for contacts and the contact list.
    #[oai(
        path = "/sync/contacts",
        method = "post",
        operation_id = "sync_contacts"
    )]
    async fn sync_contacts(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// How much of JobNimbus to read.
        #[oai(default = "default_mode")]
        mode: Query<SyncModeDto>,
    ) -> Result<RunResponse, ApiError> {
        let result = run_manual(&state, domain::SyncResource::Contacts, mode.0).await?;
        Ok(RunResponse::Ok(Json(result)))
    }

    /// The most recently started sync run (running or ended), of one resource or of any.
    /// 404 `no_sync_yet` when there is none.
    #[oai(
        path = "/sync/summary",
        method = "get",
        operation_id = "get_sync_summary"
    )]
    async fn summary(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Only runs of this resource.
        resource: Query<Option<SyncResourceDto>>,
    ) -> Result<SummaryResponse, ApiError> {
        let resource = resource.0.map(domain::SyncResource::from);
        let run = query::latest(&state.db, resource)
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                let of = resource.map_or(String::new(), |r| format!(" of {}", r.as_str()));
                ApiError::not_found("no_sync_yet", format!("no sync{of} has run yet"))
            })?;
        Ok(SummaryResponse::Ok(Json(to_dto(run)?)))
    }

    /// The sync log, newest started first, paged by `limit` and `offset`. Out-of-range
    /// values are a 400 `invalid_pagination`.
    #[oai(path = "/sync/logs", method = "get", operation_id = "list_sync_logs")]
    async fn logs(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Page size, 1 to 200.
        #[oai(default = "default_limit")]
        limit: Query<i64>,
        /// Runs to skip, 0 or more.
        #[oai(default)]
        offset: Query<i64>,
    ) -> Result<LogsResponse, ApiError> {
        // Checked here rather than by a schema validator, so the problem names its own
        // code instead of the generic `invalid_request`.
        let page = Pagination::new(limit.0, offset.0)
            .map_err(|e| ApiError::bad_request("invalid_pagination", e.to_string()))?;
        let page = query::list(&state.db, page)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Ok(LogsResponse::Ok(Json(SyncLogList {
            logs: page
                .rows
                .into_iter()
                .map(to_dto)
                .collect::<Result<_, _>>()?,
            total: page.total,
        })))
    }
}

fn default_limit() -> i64 {
    Pagination::DEFAULT_LIMIT
}

fn default_mode() -> SyncModeDto {
    SyncModeDto::Incremental
}

/// One manual run of `resource`, then the read-your-writes wait.
async fn run_manual(
    state: &AppState,
    resource: domain::SyncResource,
    mode: SyncModeDto,
) -> Result<SyncRunResult, ApiError> {
    let engine = state.jobnimbus.clone().ok_or_else(|| {
        ApiError::unavailable(
            "jobnimbus_not_configured",
            "JobNimbus sync is off: JOBNIMBUS_API_KEY is not set",
        )
    })?;
    let request = SyncRequest {
        resource,
        mode: mode.into(),
        trigger: domain::SyncTrigger::Manual,
    };
    // On a task of its own: poem drops the handler when the caller hangs up, and a run
    // dropped halfway would stay RUNNING in the sync log forever. A task runs to its end.
    let report = tokio::spawn(async move { engine.sync_once(request).await })
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| sync_error(&e))?;
    // Failed runs wait too, so the run the 502 names is already in the sync log.
    let caught_up = state
        .wait_for_read_models(report.last_position, "a manual sync")
        .await;
    let status = match report.status {
        domain::SyncStatus::Success => SyncRunStatus::Success,
        domain::SyncStatus::Partial => SyncRunStatus::Partial,
        domain::SyncStatus::Failed => {
            let why = report
                .failure
                .as_deref()
                .unwrap_or("no reason was recorded");
            return Err(ApiError::bad_gateway(
                "jobnimbus_unavailable",
                format!(
                    "sync run {} stopped: {why}. What it committed before stays; \
                     the run is in the sync log",
                    report.run_id
                ),
            ));
        }
        // `sync_once` only reports runs that ended.
        domain::SyncStatus::Running | domain::SyncStatus::Pending => {
            return Err(ApiError::internal(&UnfinishedRunReported(report.run_id)));
        }
    };
    let outcome = report.outcome;
    Ok(SyncRunResult {
        status,
        mode,
        fetched: outcome.fetched,
        created: outcome.created,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        failed: outcome.failed,
        vanished: outcome.vanished,
        errors: report.errors,
        updated_since: report.updated_since,
        duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        caught_up,
        run_id: report.run_id,
    })
}

fn sync_error(error: &SyncError) -> ApiError {
    match error {
        SyncError::AlreadyRunning(resource) => ApiError::conflict(
            "sync_in_progress",
            format!(
                "a {} sync is already running; try again when it has ended \
                 (see GET /api/v1/sync/summary)",
                resource.as_str()
            ),
        ),
        // A stored event we cannot read back is a bug, not an outage.
        SyncError::Store(StoreError::Decode(_)) => ApiError::internal(error),
        SyncError::Store(_) => {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "manual sync failed");
            ApiError::unavailable(
                "store_unavailable",
                "the database failed during the sync run; what it committed stays, try again",
            )
        }
    }
}

fn to_dto(run: SyncRunRow) -> Result<SyncLog, ApiError> {
    let status = match run.status {
        domain::SyncStatus::Running => SyncLogStatus::Running,
        domain::SyncStatus::Success => SyncLogStatus::Success,
        domain::SyncStatus::Partial => SyncLogStatus::Partial,
        domain::SyncStatus::Failed => SyncLogStatus::Failed,
        // The projection writes a row from the start event on, so this is a broken row.
        domain::SyncStatus::Pending => {
            return Err(ApiError::internal(&PendingRunInLog(run.run_id)));
        }
    };
    let outcome = run.outcome;
    Ok(SyncLog {
        job_id: None,
        sync_type: SyncType::Pull,
        status,
        records_affected: outcome.records_affected(),
        error_message: run.error_message,
        created_at: run.started_at,
        source: run.source.as_str().to_string(),
        resource: run.resource.into(),
        mode: run.mode.into(),
        trigger: run.trigger.into(),
        fetched: outcome.fetched,
        created: outcome.created,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        failed: outcome.failed,
        vanished: outcome.vanished,
        errors: run
            .errors
            .into_iter()
            .map(|failure| match failure.external_id {
                Some(id) => format!("{id}: {}", failure.reason),
                None => failure.reason,
            })
            .collect(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        updated_since: run.updated_since,
        pages: run.pages,
        id: run.run_id,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("sync run {0} is in the log but has not started")]
struct PendingRunInLog(String);

#[derive(Debug, thiserror::Error)]
#[error("the sync engine reported run {0} before it ended")]
struct UnfinishedRunReported(String);

impl From<SyncResourceDto> for domain::SyncResource {
    fn from(resource: SyncResourceDto) -> Self {
        match resource {
            SyncResourceDto::Jobs => domain::SyncResource::Jobs,
            SyncResourceDto::Contacts => domain::SyncResource::Contacts,
        }
    }
}

impl From<domain::SyncResource> for SyncResourceDto {
    fn from(resource: domain::SyncResource) -> Self {
        match resource {
            domain::SyncResource::Jobs => SyncResourceDto::Jobs,
            domain::SyncResource::Contacts => SyncResourceDto::Contacts,
        }
    }
}

impl From<SyncModeDto> for domain::SyncMode {
    fn from(mode: SyncModeDto) -> Self {
        match mode {
            SyncModeDto::Full => domain::SyncMode::Full,
            SyncModeDto::Incremental => domain::SyncMode::Incremental,
            SyncModeDto::Reconcile => domain::SyncMode::Reconcile,
        }
    }
}

impl From<domain::SyncMode> for SyncModeDto {
    fn from(mode: domain::SyncMode) -> Self {
        match mode {
            domain::SyncMode::Full => SyncModeDto::Full,
            domain::SyncMode::Incremental => SyncModeDto::Incremental,
            domain::SyncMode::Reconcile => SyncModeDto::Reconcile,
        }
    }
}

impl From<domain::SyncTrigger> for SyncTriggerDto {
    fn from(trigger: domain::SyncTrigger) -> Self {
        match trigger {
            domain::SyncTrigger::Manual => SyncTriggerDto::Manual,
            domain::SyncTrigger::Scheduled => SyncTriggerDto::Scheduled,
            domain::SyncTrigger::Import => SyncTriggerDto::Import,
        }
    }
}
