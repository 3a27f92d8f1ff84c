//! Jobs' files: the photo sync (`POST /sync/photos`, the seed's "Trigger Photo Sync") and the
//! photos and documents each job's CRM lists, photos with their QC category.

use std::collections::BTreeSet;

use adapters::sync::PhotoSyncCaller;
use chrono::{DateTime, Utc};
use domain::{CrmSource, FileKind, JobId, QcCategory};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::job_files::query::{self as files, JobFileRow};
use projections::job_mirror::query::{self as mirror, JobQuery, JobSort};

use crate::auth::InternalApiKey;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum JobFileTags {
    /// Photos and documents of mirrored jobs, with the photos' QC category
    JobFiles,
}

pub struct JobFilesApi;

/// Which stage of the job a photo documents (the QC photo rule: keywords in its tags,
/// description or filename, else its capture date against the job's start and completion).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "QcCategory", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QcCategoryDto {
    Before,
    During,
    After,
    Unclassified,
}

impl From<QcCategory> for QcCategoryDto {
    fn from(category: QcCategory) -> Self {
        match category {
            QcCategory::Before => QcCategoryDto::Before,
            QcCategory::During => QcCategoryDto::During,
            QcCategory::After => QcCategoryDto::After,
            QcCategory::Unclassified => QcCategoryDto::Unclassified,
        }
    }
}

/// A photo the CRM lists on the job.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobPhoto {
    /// The file's id in the CRM (the JobNimbus jnid).
    id: String,
    job_id: String,
    filename: String,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    description: Option<String>,
    tags: Vec<String>,
    /// The CRM's file type name ("Photo"…).
    file_type: Option<String>,
    is_private: bool,
    /// Uploaded to the CRM.
    created_at: Option<DateTime<Utc>>,
    /// Taken (the device's stamp), when the CRM knows.
    captured_at: Option<DateTime<Utc>>,
    qc_category: QcCategoryDto,
    /// When a photo sync first saw the file.
    first_seen_at: DateTime<Utc>,
    /// When a photo sync last saw it change.
    last_seen_at: DateTime<Utc>,
}

/// A document (any file that is not a photo) the CRM lists on the job.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobDocument {
    /// The file's id in the CRM (the JobNimbus jnid).
    id: String,
    job_id: String,
    filename: String,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    description: Option<String>,
    tags: Vec<String>,
    /// The CRM's file type name ("Document", "Invoice"…).
    file_type: Option<String>,
    is_private: bool,
    created_at: Option<DateTime<Utc>>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// Photos per QC category (the seed's `totalPhotos`, plus the unclassified ones).
#[derive(Object, Debug, Default, PartialEq, Eq)]
pub struct PhotoCounts {
    #[oai(rename = "BEFORE")]
    before: u64,
    #[oai(rename = "DURING")]
    during: u64,
    #[oai(rename = "AFTER")]
    after: u64,
    #[oai(rename = "UNCLASSIFIED")]
    unclassified: u64,
}

/// The job's photos, oldest upload first.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobPhotoList {
    job_id: String,
    items: Vec<JobPhoto>,
    by_category: PhotoCounts,
}

/// The job's documents, oldest upload first.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct JobDocumentList {
    job_id: String,
    items: Vec<JobDocument>,
}

/// A job whose files could not be synced, and why.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PhotoSyncJobError {
    job_id: String,
    error: String,
}

/// What a photo sync did: the seed's `{total, succeeded, failed, errors,
/// totalPhotosSynced}` plus our counts.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PhotoSyncResult {
    /// Jobs whose files were fetched.
    total: u64,
    succeeded: u64,
    failed: u64,
    /// One per failed job; the other jobs were synced all the same.
    errors: Vec<PhotoSyncJobError>,
    /// Photos JobNimbus lists on the jobs that succeeded, new, changed or not.
    total_photos_synced: u64,
    /// Documents JobNimbus lists on the jobs that succeeded.
    total_documents_synced: u64,
    /// Events recorded: files attached, changed, removed or reclassified. 0 when JobNimbus
    /// listed exactly what we held.
    events_appended: u64,
    /// True when the photo and document lists already showed the sync when the answer was
    /// sent; false when they had not caught up within the server's read-your-writes timeout
    /// (the sync is committed all the same, and they show it shortly).
    caught_up: bool,
}

#[derive(ApiResponse)]
enum SyncResponse {
    #[oai(status = 200)]
    Ok(Json<PhotoSyncResult>),
}

#[derive(ApiResponse)]
enum PhotosResponse {
    #[oai(status = 200)]
    Ok(Json<JobPhotoList>),
}

#[derive(ApiResponse)]
enum DocumentsResponse {
    #[oai(status = 200)]
    Ok(Json<JobDocumentList>),
}

/// Jobs a photo sync without `jobId` covers when no `limit` is given.
const DEFAULT_LIMIT: i64 = 50;
/// Most jobs one photo sync may cover: each costs at least one JobNimbus request.
const MAX_LIMIT: i64 = 500;

#[OpenApi(prefix_path = "/api/v1", tag = "JobFileTags::JobFiles")]
impl JobFilesApi {
    /// Sync jobs' photos and documents from JobNimbus now.
    ///
    /// With `jobId` (`jobnimbus:<jnid>` or a bare jnid): that job only, 404 `job_not_found`
    /// when it is not mirrored. Without: the mirrored active jobs, most recently updated
    /// first, at most `limit` (default 50, 1 to 500; else 400 `invalid_limit`). Jobs are
    /// synced four at a time; one that fails is listed in `errors` and the others go on.
    /// Answers when the photo and document lists show the result (see `caughtUp`). 503
    /// `jobnimbus_not_configured` without `JOBNIMBUS_API_KEY`, `store_unavailable` when the
    /// database failed.
    #[oai(path = "/sync/photos", method = "post", operation_id = "sync_photos")]
    async fn sync_photos(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// One job: `jobnimbus:<jnid>` or its bare jnid.
        #[oai(name = "jobId")]
        job_id: Query<Option<String>>,
        /// How many jobs, when no `jobId` is given: 1 to 500.
        limit: Query<Option<i64>>,
    ) -> Result<SyncResponse, ApiError> {
        let photo_sync = state.photo_sync.clone().ok_or_else(|| {
            ApiError::unavailable(
                "jobnimbus_not_configured",
                "JobNimbus sync is off: JOBNIMBUS_API_KEY is not set",
            )
        })?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            ));
        }
        let job_ids = match job_id.0.as_deref() {
            Some(raw) => {
                let job_id = parse_job_id(raw)?;
                if job_id.source() != CrmSource::JobNimbus {
                    return Err(ApiError::bad_request(
                        "unsupported_job_source",
                        format!("{job_id} is not a JobNimbus job; photo sync reads JobNimbus"),
                    ));
                }
                let recorded = photo_sync
                    .is_recorded(&job_id)
                    .await
                    .map_err(|e| store_unavailable(&e))?;
                if !recorded {
                    return Err(job_not_found(&job_id));
                }
                vec![job_id]
            }
            None => recent_jobnimbus_jobs(&state, limit).await?,
        };
        let caller = PhotoSyncCaller::with_new_request_id("api:internal");
        // On a task of its own, as the other syncs: a caller hanging up must not cut the
        // run between two jobs.
        let report = tokio::spawn(async move { photo_sync.sync_jobs(job_ids, &caller).await })
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let caught_up = state
            .wait_for_read_models(report.last_position, "a photo sync")
            .await;
        Ok(SyncResponse::Ok(Json(PhotoSyncResult {
            total: report.total,
            succeeded: report.succeeded,
            failed: report.failed,
            errors: report
                .errors
                .into_iter()
                .map(|failure| PhotoSyncJobError {
                    job_id: failure.job_id.to_string(),
                    error: failure.error,
                })
                .collect(),
            total_photos_synced: report.photos,
            total_documents_synced: report.documents,
            events_appended: report.events_appended,
            caught_up,
        })))
    }

    /// The photos the CRM lists on a mirrored job, each with its QC category, and the
    /// counts per category. Empty until a photo sync has read the job's files. 404
    /// `job_not_found` for a job that is not mirrored.
    #[oai(
        path = "/jobs/:id/photos",
        method = "get",
        operation_id = "list_job_photos"
    )]
    async fn photos(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// `jobnimbus:<jnid>` (or a bare jnid) or `jobber:<account>:<id>`.
        id: Path<String>,
    ) -> Result<PhotosResponse, ApiError> {
        let job_id = mirrored_job(&state, &id.0).await?;
        let rows = files::list(&state.db, job_id.as_str(), FileKind::Photo)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let mut counts = PhotoCounts::default();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let photo = to_photo(row)?;
            match photo.qc_category {
                QcCategoryDto::Before => counts.before += 1,
                QcCategoryDto::During => counts.during += 1,
                QcCategoryDto::After => counts.after += 1,
                QcCategoryDto::Unclassified => counts.unclassified += 1,
            }
            items.push(photo);
        }
        Ok(PhotosResponse::Ok(Json(JobPhotoList {
            job_id: job_id.to_string(),
            items,
            by_category: counts,
        })))
    }

    /// The documents (every file that is not a photo) the CRM lists on a mirrored job.
    /// Empty until a photo sync has read the job's files. 404 `job_not_found` for a job
    /// that is not mirrored.
    #[oai(
        path = "/jobs/:id/documents",
        method = "get",
        operation_id = "list_job_documents"
    )]
    async fn documents(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// `jobnimbus:<jnid>` (or a bare jnid) or `jobber:<account>:<id>`.
        id: Path<String>,
    ) -> Result<DocumentsResponse, ApiError> {
        let job_id = mirrored_job(&state, &id.0).await?;
        let rows = files::list(&state.db, job_id.as_str(), FileKind::Document)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Ok(DocumentsResponse::Ok(Json(JobDocumentList {
            job_id: job_id.to_string(),
            items: rows.into_iter().map(to_document).collect(),
        })))
    }
}

/// Our id (`jobnimbus:<jnid>`, `jobber:<account>:<id>`), or a bare JobNimbus jnid as the
/// seed's users pass it.
fn parse_job_id(raw: &str) -> Result<JobId, ApiError> {
    let parsed = if raw.contains(':') {
        raw.parse::<JobId>()
    } else {
        JobId::jobnimbus(raw)
    };
    parsed.map_err(|e| ApiError::bad_request("invalid_job_id", e.to_string()))
}

fn job_not_found(job_id: &JobId) -> ApiError {
    ApiError::not_found("job_not_found", format!("no mirrored job {job_id}"))
}

/// The job's id if the mirror holds it.
async fn mirrored_job(state: &AppState, raw: &str) -> Result<JobId, ApiError> {
    let job_id = parse_job_id(raw)?;
    mirror::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| job_not_found(&job_id))?;
    Ok(job_id)
}

/// The mirrored active JobNimbus jobs, most recently updated in the CRM first.
async fn recent_jobnimbus_jobs(state: &AppState, limit: i64) -> Result<Vec<JobId>, ApiError> {
    let page = mirror::list(
        &state.db,
        &JobQuery {
            include_inactive: false,
            sort: JobSort::UpdatedDesc,
            limit: u32::try_from(limit).unwrap_or(1),
            ..JobQuery::default()
        },
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let mut seen = BTreeSet::new();
    let mut job_ids = Vec::with_capacity(page.rows.len());
    for row in page.rows {
        // Only JobNimbus jobs have files to pull here; the mirror holds no others yet.
        if row.source != CrmSource::JobNimbus.as_str() || !seen.insert(row.job_id.clone()) {
            continue;
        }
        let job_id = row
            .job_id
            .parse::<JobId>()
            .map_err(|e| ApiError::internal(&e))?;
        job_ids.push(job_id);
    }
    Ok(job_ids)
}

fn store_unavailable(error: &adapters::store::StoreError) -> ApiError {
    tracing::error!(error.message = %error, error.cause_chain = ?error, "photo sync failed");
    ApiError::unavailable(
        "store_unavailable",
        "the database failed; nothing was synced, try again",
    )
}

fn to_photo(row: JobFileRow) -> Result<JobPhoto, ApiError> {
    let qc_category = row
        .qc_category
        .ok_or_else(|| ApiError::internal(&PhotoWithoutCategory(row.file_id.clone())))?;
    Ok(JobPhoto {
        id: row.file_id,
        job_id: row.job_id,
        filename: row.filename,
        content_type: row.content_type,
        size_bytes: row.size_bytes,
        description: row.description,
        tags: row.tags,
        file_type: row.file_type,
        is_private: row.is_private,
        created_at: row.created_at,
        captured_at: row.captured_at,
        qc_category: qc_category.into(),
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
    })
}

fn to_document(row: JobFileRow) -> JobDocument {
    JobDocument {
        id: row.file_id,
        job_id: row.job_id,
        filename: row.filename,
        content_type: row.content_type,
        size_bytes: row.size_bytes,
        description: row.description,
        tags: row.tags,
        file_type: row.file_type,
        is_private: row.is_private,
        created_at: row.created_at,
        first_seen_at: row.first_seen_at,
        last_seen_at: row.last_seen_at,
    }
}

/// Every photo is recorded with a category, so a row without one is a broken read model.
#[derive(Debug, thiserror::Error)]
#[error("photo {0} has no QC category in job_files")]
struct PhotoWithoutCategory(String);
