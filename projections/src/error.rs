use adapters::store::StoreError;

/// Why a projection could not apply a batch or be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event {event_type} of {aggregate_id} cannot be decoded: {source}")]
    Decode {
        event_type: String,
        aggregate_id: String,
        source: serde_json::Error,
    },
    #[error("aggregate id {aggregate_id} is not a valid id for its read model")]
    InvalidId { aggregate_id: String },
    /// Another process holds this projection (a live server instance on PostgreSQL).
    #[error("projection {0} is being run by another instance; stop it before rebuilding")]
    Busy(&'static str),
}
