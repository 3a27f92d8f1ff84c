//! The seed's QC endpoints: evaluate one job or all, read one job's check, the overview.

use chrono::{DateTime, Utc};
use domain::qc::QcStatus;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use projections::job_evaluations::query::{
    EvaluationQuery, EvaluationRow, EvaluationSort, Outcome,
};

use crate::auth::InternalApiKey;
use crate::evaluations::{self, default_limit};
use crate::{ApiError, AppState};

#[derive(Tags)]
enum QcTags {
    /// QC photo checks: photos per stage against what each job requires
    Qc,
}

pub struct QcApi;

/// Photos per QC stage.
#[derive(Object, Debug)]
pub struct TotalPhotos {
    #[oai(rename = "BEFORE")]
    before: u32,
    #[oai(rename = "DURING")]
    during: u32,
    #[oai(rename = "AFTER")]
    after: u32,
}

/// A stage with fewer photos than required.
#[derive(Object, Debug)]
pub struct MissingCategoryDto {
    /// `BEFORE`, `DURING` or `AFTER`.
    category: String,
    required: u32,
    current: u32,
    missing: u32,
}

/// A job's latest QC photo check (the seed's `QCCheckResult`).
#[derive(Object, Debug)]
#[oai(rename = "QCCheckResult", rename_all = "camelCase")]
pub struct QcCheckResult {
    job_id: String,
    /// `PASS`, `FAIL`, or `NOT_CHECKED` (nothing due yet, no requirement, or the job's files
    /// were never pulled).
    status: String,
    /// The latest time an evaluation looked at the job, whether or not its outcome changed.
    checked_at: DateTime<Utc>,
    /// When this outcome was first found (the check's outcome changed then).
    evaluated_at: DateTime<Utc>,
    total_photos: TotalPhotos,
    /// Photos no caption or date places in a stage; they count towards no requirement.
    unclassified_photos: u32,
    /// Stages due at `checkedAt` that lack photos, in stage order.
    missing_categories: Vec<MissingCategoryDto>,
}

/// One job of the QC overview.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct QcOverviewItem {
    job_id: String,
    job_name: String,
    /// The job's status in its CRM.
    job_status: Option<String>,
    /// `PASS`, `FAIL` or `NOT_CHECKED`.
    qc_status: String,
    /// Every photo of the job, unclassified ones included.
    total_photos: u32,
    before_count: u32,
    during_count: u32,
    after_count: u32,
    last_checked_at: Option<DateTime<Utc>>,
}

/// Tallies of an evaluation of every mirrored job.
#[derive(Object, Debug)]
pub struct QcEvaluateAllResult {
    /// Jobs evaluated.
    total: u64,
    succeeded: u64,
    failed: u64,
    errors: Vec<QcJobError>,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct QcJobError {
    job_id: String,
    error: String,
}

/// QC verdicts as query values.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QcStatusParam {
    Pass,
    Fail,
    NotChecked,
}

impl From<QcStatusParam> for QcStatus {
    fn from(status: QcStatusParam) -> Self {
        match status {
            QcStatusParam::Pass => QcStatus::Pass,
            QcStatusParam::Fail => QcStatus::Fail,
            QcStatusParam::NotChecked => QcStatus::NotChecked,
        }
    }
}

/// Orders of the QC overview; `-` means descending.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QcSortParam {
    #[default]
    #[oai(rename = "name")]
    NameAsc,
    #[oai(rename = "-name")]
    NameDesc,
    #[oai(rename = "-checkedAt")]
    CheckedDesc,
    #[oai(rename = "checkedAt")]
    CheckedAsc,
}

impl From<QcSortParam> for EvaluationSort {
    fn from(sort: QcSortParam) -> Self {
        match sort {
            QcSortParam::NameAsc => EvaluationSort::NameAsc,
            QcSortParam::NameDesc => EvaluationSort::NameDesc,
            QcSortParam::CheckedDesc => EvaluationSort::CheckedDesc,
            QcSortParam::CheckedAsc => EvaluationSort::CheckedAsc,
        }
    }
}

#[derive(ApiResponse)]
enum CheckResponse {
    #[oai(status = 200)]
    Ok(Json<QcCheckResult>),
}

#[derive(ApiResponse)]
enum MaybeCheckResponse {
    /// The job's latest check; `null` when the job was never checked.
    #[oai(status = 200)]
    Ok(Json<Option<QcCheckResult>>),
}

#[derive(ApiResponse)]
enum EvaluateAllResponse {
    #[oai(status = 200)]
    Ok(Json<QcEvaluateAllResult>),
}

#[derive(ApiResponse)]
enum OverviewResponse {
    /// One page; `x-next-cursor` is present when another page follows.
    #[oai(status = 200)]
    Ok(
        Json<Vec<QcOverviewItem>>,
        #[oai(header = "x-next-cursor")] Option<String>,
    ),
}

#[OpenApi(prefix_path = "/api/v1/qc", tag = "QcTags::Qc")]
impl QcApi {
    /// Check one job's photos now (its risk is assessed with it) and answer the check.
    #[oai(
        path = "/jobs/:jobId/evaluate",
        method = "post",
        operation_id = "evaluate_job_qc"
    )]
    async fn evaluate(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        #[oai(name = "jobId")] job_id: Path<String>,
    ) -> Result<CheckResponse, ApiError> {
        let job_id = evaluations::mirrored_job(&state, &job_id.0).await?;
        let row = evaluations::evaluate_job(&state, &job_id).await?;
        let result = to_result(row).ok_or_else(|| ApiError::internal(&NoCheck))?;
        Ok(CheckResponse::Ok(Json(result)))
    }

    /// Check every mirrored job now (their risk is assessed with them).
    #[oai(
        path = "/evaluate-all",
        method = "post",
        operation_id = "evaluate_all_qc"
    )]
    async fn evaluate_all(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
    ) -> Result<EvaluateAllResponse, ApiError> {
        let summary = evaluations::evaluate_all(&state).await?;
        let failed = summary.failures.len() as u64;
        Ok(EvaluateAllResponse::Ok(Json(QcEvaluateAllResult {
            total: summary.jobs_checked,
            succeeded: summary.jobs_checked.saturating_sub(failed),
            failed,
            errors: summary
                .failures
                .into_iter()
                .map(|f| QcJobError {
                    job_id: f.job_id,
                    error: f.error,
                })
                .collect(),
        })))
    }

    /// One job's latest QC check: `null` when the job was never checked, 404 when it is
    /// not mirrored.
    #[oai(path = "/jobs/:jobId", method = "get", operation_id = "get_job_qc")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        #[oai(name = "jobId")] job_id: Path<String>,
    ) -> Result<MaybeCheckResponse, ApiError> {
        let job_id = evaluations::mirrored_job(&state, &job_id.0).await?;
        let row = evaluations::evaluation(&state, job_id.as_str()).await?;
        Ok(MaybeCheckResponse::Ok(Json(row.and_then(to_result))))
    }

    /// The QC overview: every checked job's verdict and photo counts (a bare array, as the
    /// seed has it), filtered, sorted and paged with `limit` and `cursor` (the next page's
    /// cursor is in the `x-next-cursor` header).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/jobs", method = "get", operation_id = "list_qc")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Only jobs with this verdict.
        status: Query<Option<QcStatusParam>>,
        /// Only jobs in this CRM status.
        #[oai(name = "jobStatus")]
        job_status: Query<Option<String>>,
        #[oai(default)] sort: Query<QcSortParam>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
        /// `x-next-cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<OverviewResponse, ApiError> {
        let sort = EvaluationSort::from(sort.0);
        let after = cursor
            .0
            .as_deref()
            .map(|raw| evaluations::decode_cursor(sort, raw))
            .transpose()?;
        let page = evaluations::page(
            &state,
            &EvaluationQuery {
                outcome: Outcome::Qc,
                qc_status: status.0.map(QcStatus::from),
                level: None,
                rule: None,
                job_status: job_status.0,
                sort,
                limit: limit.0,
                after,
            },
        )
        .await?;
        let next = page
            .next
            .map(|(key, id)| evaluations::encode_cursor(sort, &key, &id));
        let items = page.rows.into_iter().filter_map(to_overview).collect();
        Ok(OverviewResponse::Ok(Json(items), next))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an evaluated job has no QC check in its row")]
struct NoCheck;

fn to_result(row: EvaluationRow) -> Option<QcCheckResult> {
    let qc = row.qc?;
    Some(QcCheckResult {
        job_id: row.job_id,
        status: qc.status.as_str().to_string(),
        checked_at: row
            .checked_at
            .unwrap_or(qc.evaluated_at)
            .max(qc.evaluated_at),
        evaluated_at: qc.evaluated_at,
        total_photos: TotalPhotos {
            before: qc.photos.before,
            during: qc.photos.during,
            after: qc.photos.after,
        },
        unclassified_photos: qc.photos.unclassified,
        missing_categories: qc
            .missing
            .into_iter()
            .map(|gap| MissingCategoryDto {
                category: gap.category.as_str().to_string(),
                required: gap.required,
                current: gap.current,
                missing: gap.missing,
            })
            .collect(),
    })
}

fn to_overview(row: EvaluationRow) -> Option<QcOverviewItem> {
    let qc = row.qc?;
    Some(QcOverviewItem {
        job_id: row.job_id,
        job_name: row.job_name,
        job_status: row.job_status,
        qc_status: qc.status.as_str().to_string(),
        total_photos: qc.photos.total(),
        before_count: qc.photos.before,
        during_count: qc.photos.during,
        after_count: qc.photos.after,
        last_checked_at: row.checked_at,
    })
}
