use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Db, StoreError};

/// A place in the global order of events: `(tx_id, global_position)`.
///
/// On PostgreSQL events are read in writing-transaction order, then position, and only below
/// the oldest transaction still in flight, so a position once passed is never filled in
/// later. On SQLite there is a single writer and `tx_id` is always 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub tx_id: i64,
    pub global_position: i64,
}

impl LogPosition {
    pub const START: LogPosition = LogPosition {
        tx_id: 0,
        global_position: 0,
    };
}

/// One event row as stored, with its payload still as JSON text: each reader decodes only
/// the event types it cares about.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub committed_at: DateTime<Utc>,
}

/// Reads the event log in global order.
#[derive(Clone, Debug)]
pub struct EventLog {
    db: Db,
}

impl EventLog {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Up to `limit` events after `after`, in global order, never skipping one that a
    /// still-running transaction will commit later (see `LogPosition`).
    pub async fn read_after(
        &self,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match &self.db {
            Db::Postgres(pool) => {
                // pg_snapshot_xmin: every transaction below it has committed or aborted, so
                // the rows we see there are final. Bigger ids may still be in flight.
                let rows = sqlx::query(
                    "select tx_id::text::bigint as tx_id, global_position, aggregate_type,
                            aggregate_id, sequence, event_type, event_version,
                            payload::text as payload, metadata::text as metadata, committed_at
                     from events e
                     where (e.tx_id, e.global_position) > ($1::text::xid8, $2)
                       and e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
                     -- qualified: a bare `tx_id` would sort by the bigint output alias and
                     -- miss the (tx_id, global_position) index
                     order by e.tx_id, e.global_position
                     limit $3",
                )
                .bind(after.tx_id.to_string())
                .bind(after.global_position)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(StoredEvent {
                            position: LogPosition {
                                tx_id: row.try_get("tx_id")?,
                                global_position: row.try_get("global_position")?,
                            },
                            aggregate_type: row.try_get("aggregate_type")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            sequence: row.try_get("sequence")?,
                            event_type: row.try_get("event_type")?,
                            event_version: row.try_get("event_version")?,
                            payload: row.try_get("payload")?,
                            metadata: row.try_get("metadata")?,
                            committed_at: row.try_get("committed_at")?,
                        })
                    })
                    .collect()
            }
            Db::Sqlite(pool) => {
                let rows = sqlx::query(
                    "select global_position, aggregate_type, aggregate_id, sequence, event_type,
                            event_version, payload, metadata, committed_at
                     from events
                     where global_position > ?
                     order by global_position
                     limit ?",
                )
                .bind(after.global_position)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let committed_at: String = row.try_get("committed_at")?;
                        Ok(StoredEvent {
                            position: LogPosition {
                                tx_id: 0,
                                global_position: row.try_get("global_position")?,
                            },
                            aggregate_type: row.try_get("aggregate_type")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            sequence: row.try_get("sequence")?,
                            event_type: row.try_get("event_type")?,
                            event_version: row.try_get("event_version")?,
                            payload: row.try_get("payload")?,
                            metadata: row.try_get("metadata")?,
                            committed_at: parse_sqlite_time(&committed_at)?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Whether committed events exist after `position`, readable or not yet. An empty
    /// `read_after` with this true means the read horizon is held back by an open
    /// transaction (on PostgreSQL, of any database in the cluster): wait, don't stop.
    pub async fn has_events_after(&self, position: LogPosition) -> Result<bool, StoreError> {
        Ok(match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "select exists (select 1 from events e
                                    where (e.tx_id, e.global_position) > ($1::text::xid8, $2))",
                )
                .bind(position.tx_id.to_string())
                .bind(position.global_position)
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar("select exists (select 1 from events where global_position > ?)")
                    .bind(position.global_position)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// How many committed events come after `position` in reading order: a projection's
    /// exact lag. Costs an index range scan as long as the lag, so it is cheap when
    /// projections keep up.
    pub async fn count_after(&self, position: LogPosition) -> Result<i64, StoreError> {
        Ok(match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "select count(*) from events e
                     where (e.tx_id, e.global_position) > ($1::text::xid8, $2)",
                )
                .bind(position.tx_id.to_string())
                .bind(position.global_position)
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar("select count(*) from events where global_position > ?")
                    .bind(position.global_position)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// The highest global position written so far (0 when empty). Includes rows of
    /// transactions still in flight, so use it for lag figures, not for reading.
    pub async fn head_position(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = self
            .db
            .scalar("select max(global_position) from events")
            .await?;
        Ok(head.unwrap_or(0))
    }

    /// Position of the newest event of one aggregate: what a command's caller waits for
    /// the projections to reach (read-your-writes).
    pub async fn last_position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<LogPosition>, StoreError> {
        let row: Option<(i64, i64)> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "select tx_id::text::bigint, global_position from events
                     where aggregate_type = $1 and aggregate_id = $2
                     order by sequence desc limit 1",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .fetch_optional(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "select 0, global_position from events
                     where aggregate_type = ? and aggregate_id = ?
                     order by sequence desc limit 1",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .fetch_optional(pool)
                .await?
            }
        };
        Ok(row.map(|(tx_id, global_position)| LogPosition {
            tx_id,
            global_position,
        }))
    }

    /// Number of events stored.
    pub async fn count(&self) -> Result<i64, StoreError> {
        self.db.scalar("select count(*) from events").await
    }

    /// Events of one aggregate type.
    pub async fn count_of_type(&self, aggregate_type: &str) -> Result<i64, StoreError> {
        let sql = "select count(*) from events where aggregate_type = $1";
        Ok(match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_one(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// Ids of every aggregate of `aggregate_type` that has at least one event.
    pub async fn aggregate_ids(&self, aggregate_type: &str) -> Result<Vec<String>, StoreError> {
        // Every aggregate has exactly one first event: the primary key index serves this
        // without a distinct over all of its events.
        let sql = match self.db {
            Db::Postgres(_) => {
                "select aggregate_id from events where aggregate_type = $1 and sequence = 1"
            }
            Db::Sqlite(_) => {
                "select aggregate_id from events where aggregate_type = ? and sequence = 1"
            }
        };
        let ids = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_all(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(ids)
    }
}

/// SQLite stores `committed_at` as `YYYY-MM-DDTHH:MM:SS.fffZ` (see the migration).
fn parse_sqlite_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}
