//! The seed's risk endpoints: evaluate one job or all, read one job's snapshot, the list —
//! each snapshot with its deep link into JobNimbus.

use chrono::{DateTime, Utc};
use domain::risk::{RiskLevel, RiskRule};
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
enum RiskTags {
    /// Operational risk of jobs: stuck, stale, missing QC photos or documents
    Risk,
}

pub struct RiskApi;

/// One rule that fired for a job.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct RiskReasonDto {
    /// `STUCK_IN_STATUS`, `MISSING_QC_PHOTOS`, `STALE_JOB` or `MISSING_DOCUMENTS`.
    rule: String,
    /// `MEDIUM` or `HIGH`.
    severity: String,
    /// Why, in a sentence naming the dates involved.
    message: String,
    /// What a dispatcher can do about it.
    recommended_action: String,
}

/// A job's latest risk assessment (the seed's `JobRiskSnapshotDTO`).
#[derive(Object, Debug)]
#[oai(rename = "JobRiskSnapshotDTO", rename_all = "camelCase")]
pub struct JobRiskSnapshotDto {
    job_id: String,
    job_name: String,
    /// The job's number in its CRM.
    job_number: Option<String>,
    customer_name: Option<String>,
    /// The job's status in its CRM.
    status: Option<String>,
    /// `LOW` (no rule fired), `MEDIUM` or `HIGH`: the highest reason's severity.
    risk_level: String,
    /// In rule order.
    reasons: Vec<RiskReasonDto>,
    /// When this outcome was first found (the assessment changed then).
    evaluated_at: DateTime<Utc>,
    /// The latest time an evaluation looked at the job, whether or not its outcome changed.
    checked_at: DateTime<Utc>,
    /// The job in JobNimbus's web app (`{JOBNIMBUS_APP_BASE_URL}/job/{jnid}`); absent only
    /// for jobs of another CRM.
    job_nimbus_url: Option<String>,
}

/// Tallies of an evaluation of every mirrored job (the seed's shape).
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct RiskEvaluateAllResult {
    total_jobs: u64,
    evaluated: u64,
    /// `<jobId>: <why>` for each job that could not be evaluated.
    errors: Vec<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevelParam {
    Low,
    Medium,
    High,
}

impl From<RiskLevelParam> for RiskLevel {
    fn from(level: RiskLevelParam) -> Self {
        match level {
            RiskLevelParam::Low => RiskLevel::Low,
            RiskLevelParam::Medium => RiskLevel::Medium,
            RiskLevelParam::High => RiskLevel::High,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskRuleParam {
    StuckInStatus,
    MissingQcPhotos,
    StaleJob,
    MissingDocuments,
}

impl From<RiskRuleParam> for RiskRule {
    fn from(rule: RiskRuleParam) -> Self {
        match rule {
            RiskRuleParam::StuckInStatus => RiskRule::StuckInStatus,
            RiskRuleParam::MissingQcPhotos => RiskRule::MissingQcPhotos,
            RiskRuleParam::StaleJob => RiskRule::StaleJob,
            RiskRuleParam::MissingDocuments => RiskRule::MissingDocuments,
        }
    }
}

/// Orders of the risk list; `-` means descending.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RiskSortParam {
    /// Highest risk first.
    #[default]
    #[oai(rename = "-level")]
    LevelDesc,
    #[oai(rename = "level")]
    LevelAsc,
    #[oai(rename = "-checkedAt")]
    CheckedDesc,
    #[oai(rename = "checkedAt")]
    CheckedAsc,
    #[oai(rename = "name")]
    NameAsc,
    #[oai(rename = "-name")]
    NameDesc,
}

impl From<RiskSortParam> for EvaluationSort {
    fn from(sort: RiskSortParam) -> Self {
        match sort {
            RiskSortParam::LevelDesc => EvaluationSort::LevelDesc,
            RiskSortParam::LevelAsc => EvaluationSort::LevelAsc,
            RiskSortParam::CheckedDesc => EvaluationSort::CheckedDesc,
            RiskSortParam::CheckedAsc => EvaluationSort::CheckedAsc,
            RiskSortParam::NameAsc => EvaluationSort::NameAsc,
            RiskSortParam::NameDesc => EvaluationSort::NameDesc,
        }
    }
}

#[derive(ApiResponse)]
enum SnapshotResponse {
    #[oai(status = 200)]
    Ok(Json<JobRiskSnapshotDto>),
}

#[derive(ApiResponse)]
enum EvaluateAllResponse {
    #[oai(status = 200)]
    Ok(Json<RiskEvaluateAllResult>),
}

#[derive(ApiResponse)]
enum ListResponse {
    /// One page; `x-next-cursor` is present when another page follows.
    #[oai(status = 200)]
    Ok(
        Json<Vec<JobRiskSnapshotDto>>,
        #[oai(header = "x-next-cursor")] Option<String>,
    ),
}

#[OpenApi(prefix_path = "/api/v1/risk", tag = "RiskTags::Risk")]
impl RiskApi {
    /// Assess one job's risk now (its QC photos are checked with it) and answer the snapshot.
    #[oai(
        path = "/jobs/:jobId/evaluate",
        method = "post",
        operation_id = "evaluate_job_risk"
    )]
    async fn evaluate(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        #[oai(name = "jobId")] job_id: Path<String>,
    ) -> Result<SnapshotResponse, ApiError> {
        let job_id = evaluations::mirrored_job(&state, &job_id.0).await?;
        let row = evaluations::evaluate_job(&state, &job_id).await?;
        let snapshot = to_snapshot(&state, row).ok_or_else(|| ApiError::internal(&NoRisk))?;
        Ok(SnapshotResponse::Ok(Json(snapshot)))
    }

    /// Assess every mirrored job now (their QC photos are checked with them).
    #[oai(
        path = "/evaluate-all",
        method = "post",
        operation_id = "evaluate_all_risk"
    )]
    async fn evaluate_all(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
    ) -> Result<EvaluateAllResponse, ApiError> {
        let summary = evaluations::evaluate_all(&state).await?;
        let failed = summary.failures.len() as u64;
        Ok(EvaluateAllResponse::Ok(Json(RiskEvaluateAllResult {
            total_jobs: summary.jobs_checked,
            evaluated: summary.jobs_checked.saturating_sub(failed),
            errors: summary
                .failures
                .into_iter()
                .map(|f| format!("{}: {}", f.job_id, f.error))
                .collect(),
        })))
    }

    /// One job's latest risk snapshot; 404 `risk_not_found` when the job was never
    /// assessed, `job_not_found` when it is not mirrored.
    #[oai(path = "/jobs/:jobId", method = "get", operation_id = "get_job_risk")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        #[oai(name = "jobId")] job_id: Path<String>,
    ) -> Result<SnapshotResponse, ApiError> {
        let job_id = evaluations::mirrored_job(&state, &job_id.0).await?;
        let snapshot = evaluations::evaluation(&state, job_id.as_str())
            .await?
            .and_then(|row| to_snapshot(&state, row))
            .ok_or_else(|| {
                ApiError::not_found(
                    "risk_not_found",
                    format!("job {job_id} has not been assessed yet"),
                )
            })?;
        Ok(SnapshotResponse::Ok(Json(snapshot)))
    }

    /// Every assessed job's risk snapshot (a bare array, as the seed has it), filtered,
    /// sorted (highest risk first by default) and paged with `limit` and `cursor` (the next
    /// page's cursor is in the `x-next-cursor` header).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/jobs", method = "get", operation_id = "list_risk")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// Only jobs at this level.
        level: Query<Option<RiskLevelParam>>,
        /// Only jobs for which this rule fired.
        rule: Query<Option<RiskRuleParam>>,
        /// Only jobs in this CRM status.
        status: Query<Option<String>>,
        #[oai(default)] sort: Query<RiskSortParam>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
        /// `x-next-cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ListResponse, ApiError> {
        let sort = EvaluationSort::from(sort.0);
        let after = cursor
            .0
            .as_deref()
            .map(|raw| evaluations::decode_cursor(sort, raw))
            .transpose()?;
        let page = evaluations::page(
            &state,
            &EvaluationQuery {
                outcome: Outcome::Risk,
                qc_status: None,
                level: level.0.map(RiskLevel::from),
                rule: rule.0.map(RiskRule::from),
                job_status: status.0,
                sort,
                limit: limit.0,
                after,
            },
        )
        .await?;
        let next = page
            .next
            .map(|(key, id)| evaluations::encode_cursor(sort, &key, &id));
        let items = page
            .rows
            .into_iter()
            .filter_map(|row| to_snapshot(&state, row))
            .collect();
        Ok(ListResponse::Ok(Json(items), next))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an evaluated job has no risk assessment in its row")]
struct NoRisk;

fn to_snapshot(state: &AppState, row: EvaluationRow) -> Option<JobRiskSnapshotDto> {
    let job_nimbus_url = evaluations::deep_link(state, &row);
    let risk = row.risk?;
    Some(JobRiskSnapshotDto {
        job_id: row.job_id,
        job_name: row.job_name,
        job_number: row.job_number,
        customer_name: row.customer_name,
        status: row.job_status,
        risk_level: risk.level.as_str().to_string(),
        reasons: risk
            .reasons
            .into_iter()
            .map(|reason| RiskReasonDto {
                rule: reason.rule.as_str().to_string(),
                severity: reason.severity.as_str().to_string(),
                message: reason.message,
                recommended_action: reason.rule.recommended_action().to_string(),
            })
            .collect(),
        evaluated_at: risk.evaluated_at,
        checked_at: row
            .checked_at
            .unwrap_or(risk.evaluated_at)
            .max(risk.evaluated_at),
        job_nimbus_url,
    })
}
