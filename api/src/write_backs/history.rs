//! `GET /api/v1/jobs/{id}/history`: what happened to a job, as events — what the CRM showed
//! (the `Job` stream) and every write-back to it (intent, attempts, outcome), with who asked.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Any;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::mirrored_job;
use crate::auth::InternalApiKey;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum HistoryTags {
    /// The event history of mirrored jobs
    JobHistory,
}

pub struct JobHistoryApi;

/// One event, as stored.
#[derive(Object, Debug)]
#[oai(rename = "HistoryEvent", rename_all = "camelCase")]
pub struct HistoryEventDto {
    /// Place in the global order; pass the last one as `after` for the next page.
    position: i64,
    /// `Job` or `WriteBack`.
    aggregate_type: String,
    aggregate_id: String,
    /// Place in its own stream, from 1.
    sequence: i64,
    event_type: String,
    event_version: String,
    recorded_at: chrono::DateTime<chrono::Utc>,
    /// The event's content.
    payload: Any<serde_json::Value>,
    /// Who and why: actor, caller, request or sync run id.
    metadata: Any<serde_json::Value>,
}

#[derive(Object, Debug)]
#[oai(rename = "JobHistory", rename_all = "camelCase")]
pub struct JobHistoryDto {
    job_id: String,
    items: Vec<HistoryEventDto>,
    /// `after` for the next page; absent on the last one.
    next_after: Option<i64>,
}

#[derive(ApiResponse)]
enum HistoryResponse {
    #[oai(status = 200)]
    Ok(Json<JobHistoryDto>),
}

const DEFAULT_LIMIT: i64 = 200;
const MAX_LIMIT: i64 = 1_000;

#[OpenApi(prefix_path = "/api/v1/jobs", tag = "HistoryTags::JobHistory")]
impl JobHistoryApi {
    /// The job's events and those of every write-back to it, oldest first: `limit` (1 to
    /// 1000, default 200; else 400 `invalid_limit`) after global position `after`. 404
    /// `job_not_found` for a job that is not mirrored.
    #[oai(
        path = "/:id/history",
        method = "get",
        operation_id = "get_job_history"
    )]
    async fn history(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// `jobnimbus:<jnid>` or the bare jnid.
        id: Path<String>,
        /// Events after this global position (default: from the start).
        after: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<HistoryResponse, ApiError> {
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let (job_id, _) = mirrored_job(&state, &id.0).await?;
        let events = adapters::write_back::job_history(
            &state.db,
            job_id.as_str(),
            after.0.unwrap_or(0).max(0),
            limit,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
        let next_after = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.position.global_position))
            .flatten();
        let items = events
            .into_iter()
            .map(|event| HistoryEventDto {
                position: event.position.global_position,
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
                sequence: event.sequence,
                event_type: event.event_type,
                event_version: event.event_version,
                recorded_at: event.committed_at,
                payload: Any(serde_json::from_str(&event.payload).unwrap_or_default()),
                metadata: Any(serde_json::from_str(&event.metadata).unwrap_or_default()),
            })
            .collect();
        Ok(HistoryResponse::Ok(Json(JobHistoryDto {
            job_id: job_id.to_string(),
            items,
            next_after,
        })))
    }
}
