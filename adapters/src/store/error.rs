/// A failure of the event store or a read model database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Another writer appended to one of the aggregates first (optimistic concurrency).
    #[error("concurrent append to the same aggregate")]
    Conflict,
    #[error("stored event cannot be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    /// An exclusive lock could not be taken for a reason other than another holder.
    #[error("lock failed: {0}")]
    Lock(String),
    #[error("cannot prepare the database file location {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Maps a unique-key violation on the events table to `Conflict`. The codes are the
    /// ones postgres-es and sqlite-es treat as optimistic-lock failures.
    pub(crate) fn from_append(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if matches!(db.code().as_deref(), Some("23505") | Some("1555")) {
                return StoreError::Conflict;
            }
        }
        StoreError::Database(err)
    }
}
