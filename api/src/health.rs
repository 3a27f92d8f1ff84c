use adapters::store::LogPosition;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::{ApiError, AppState};

#[derive(Tags)]
enum HealthTags {
    /// Liveness and readiness probes
    Health,
}

pub struct HealthApi;

/// The process is up.
#[derive(Object)]
struct Liveness {
    status: String,
}

/// The service can serve traffic: database reachable, and how far read models lag.
#[derive(Object)]
struct Readiness {
    status: String,
    database: String,
    /// Highest global event position written.
    head_position: i64,
    projections: Vec<ProjectionLag>,
}

#[derive(Object)]
struct ProjectionLag {
    name: String,
    /// Global position of the last event the projection applied.
    position: i64,
    /// Committed events the projection has not applied yet.
    lag: i64,
}

#[derive(ApiResponse)]
enum LiveResponse {
    #[oai(status = 200)]
    Ok(Json<Liveness>),
}

#[derive(ApiResponse)]
enum ReadyResponse {
    #[oai(status = 200)]
    Ok(Json<Readiness>),
}

#[OpenApi(tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: answers as long as the process runs.
    #[oai(path = "/health/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Result<LiveResponse, ApiError> {
        Ok(LiveResponse::Ok(Json(Liveness {
            status: "live".to_string(),
        })))
    }

    /// Readiness: the database answers; reports each projection's lag behind the log.
    /// 503 `database_unreachable` when the database does not answer.
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, state: Data<&AppState>) -> Result<ReadyResponse, ApiError> {
        let unreachable = |error: adapters::store::StoreError| {
            tracing::warn!(%error, "readiness: database unreachable");
            ApiError::unavailable("database_unreachable", "the database does not answer")
        };
        state.db.ping().await.map_err(unreachable)?;
        let head = state.log.head_position().await.map_err(unreachable)?;
        let checkpoints = projections::checkpoints(&state.db)
            .await
            .map_err(unreachable)?;
        // Every projection this instance knows, even before its runner wrote a checkpoint.
        let mut projections = Vec::new();
        for name in state.progress.names() {
            let position = checkpoints
                .iter()
                .find(|(n, _)| n == name)
                .map_or(LogPosition::START, |(_, c)| c.position);
            let lag = state.log.count_after(position).await.map_err(unreachable)?;
            projections.push(ProjectionLag {
                name: name.to_string(),
                position: position.global_position,
                lag,
            });
        }
        Ok(ReadyResponse::Ok(Json(Readiness {
            status: "ready".to_string(),
            database: "ok".to_string(),
            head_position: head,
            projections,
        })))
    }
}
