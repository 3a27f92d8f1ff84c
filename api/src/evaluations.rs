//! What the QC and risk endpoints share: evaluating one job or all of them with
//! read-your-writes, the lists' cursors, and deep links.

use chrono::{DateTime, Utc};
use domain::{EvaluationTrigger, JobId};
use projections::evaluation::EvaluationSummary;
use projections::job_evaluations::query::{
    self, EvaluationKey, EvaluationPage, EvaluationQuery, EvaluationRow, EvaluationSort,
};
use projections::job_mirror;

use crate::{cursor, ApiError, AppState};

/// A job id from the path: `invalid_job_id` when malformed, `job_not_found` when the mirror
/// does not hold the job.
pub(crate) async fn mirrored_job(state: &AppState, raw: &str) -> Result<JobId, ApiError> {
    let job_id: JobId = raw.parse().map_err(|e: domain::ParseIdError| {
        ApiError::bad_request("invalid_job_id", e.to_string())
    })?;
    job_mirror::query::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no mirrored job {job_id}")))?;
    Ok(job_id)
}

/// Evaluates one job now and answers its row once the read model shows the outcome.
pub(crate) async fn evaluate_job(
    state: &AppState,
    job_id: &JobId,
) -> Result<EvaluationRow, ApiError> {
    let now = state.evaluator.clock().now();
    let summary = state
        .evaluator
        .evaluate_jobs(
            &[job_id.as_str().to_string()],
            now,
            EvaluationTrigger::Manual,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let caught_up = state
        .wait_for_read_models(summary.last_position, "an evaluation")
        .await;
    let row = evaluation(state, job_id.as_str()).await?;
    match row {
        Some(row) if row.qc.is_some() && row.risk.is_some() => Ok(row),
        // Committed, but not visible yet: the client may read it again shortly.
        _ if !caught_up => Err(ApiError::unavailable(
            "read_models_behind",
            "the evaluation is recorded but the read models have not caught up; GET it shortly",
        )),
        _ => Err(ApiError::internal(&MissingRow)),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an evaluated job has no evaluation row after the read models caught up")]
struct MissingRow;

/// Evaluates every mirrored job now and waits for the read model to show it.
pub(crate) async fn evaluate_all(state: &AppState) -> Result<EvaluationSummary, ApiError> {
    let now = state.evaluator.clock().now();
    let summary = state
        .evaluator
        .evaluate_all_once(now, EvaluationTrigger::Manual)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    state
        .wait_for_read_models(summary.last_position, "an evaluation of every job")
        .await;
    Ok(summary)
}

pub(crate) async fn evaluation(
    state: &AppState,
    job_id: &str,
) -> Result<Option<EvaluationRow>, ApiError> {
    query::get(&state.db, job_id)
        .await
        .map_err(|e| ApiError::internal(&e))
}

pub(crate) async fn page(
    state: &AppState,
    query: &EvaluationQuery,
) -> Result<EvaluationPage, ApiError> {
    query::list(&state.db, query)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// The JobNimbus web app's page of a job (JobNimbus jobs only).
pub(crate) fn deep_link(state: &AppState, row: &EvaluationRow) -> Option<String> {
    (row.source == "jobnimbus")
        .then(|| format!("{}/job/{}", state.jobnimbus_app_base_url, row.external_id))
}

/// The cursor of the page after `key`/`id` under `sort`.
pub(crate) fn encode_cursor(sort: EvaluationSort, key: &EvaluationKey, id: &str) -> String {
    let key = match key {
        EvaluationKey::Rank(rank) => rank.to_string(),
        EvaluationKey::Time(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        EvaluationKey::Text(text) => text.clone(),
    };
    cursor::encode_parts(&[sort_tag(sort), &key, id])
}

/// Where a cursor of this list and sort ends; `invalid_cursor` for anything else.
pub(crate) fn decode_cursor(
    sort: EvaluationSort,
    raw: &str,
) -> Result<(EvaluationKey, String), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_cursor",
            "cursor is not an x-next-cursor of this list and sort",
        )
    };
    let parts = cursor::decode_parts(raw).ok_or_else(invalid)?;
    let [tag, key, id] = parts.as_slice() else {
        return Err(invalid());
    };
    if tag != sort_tag(sort) {
        return Err(invalid());
    }
    let key = match sort {
        EvaluationSort::LevelDesc | EvaluationSort::LevelAsc => {
            EvaluationKey::Rank(key.parse().map_err(|_| invalid())?)
        }
        EvaluationSort::CheckedDesc | EvaluationSort::CheckedAsc => EvaluationKey::Time(
            DateTime::parse_from_rfc3339(key)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
        ),
        EvaluationSort::NameAsc | EvaluationSort::NameDesc => EvaluationKey::Text(key.clone()),
    };
    Ok((key, id.clone()))
}

fn sort_tag(sort: EvaluationSort) -> &'static str {
    match sort {
        EvaluationSort::LevelDesc => "-level",
        EvaluationSort::LevelAsc => "level",
        EvaluationSort::CheckedDesc => "-checkedAt",
        EvaluationSort::CheckedAsc => "checkedAt",
        EvaluationSort::NameAsc => "name",
        EvaluationSort::NameDesc => "-name",
    }
}

pub(crate) fn default_limit() -> u32 {
    50
}
