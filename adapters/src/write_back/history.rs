//! A job's history: the events of its `Job` stream and of every write-back to it, in global
//! order, for auditors (intent and outcome of each write beside what the CRM showed).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Job, WriteBack};
use sqlx::Row;

use crate::store::{Db, LogPosition, StoreError, StoredEvent};

/// The columns of one row, read the same way on both backends.
macro_rules! stored {
    ($row:expr, $committed_at:expr) => {
        StoredEvent {
            position: LogPosition {
                tx_id: 0,
                global_position: $row.try_get("global_position")?,
            },
            aggregate_type: $row.try_get("aggregate_type")?,
            aggregate_id: $row.try_get("aggregate_id")?,
            sequence: $row.try_get("sequence")?,
            event_type: $row.try_get("event_type")?,
            event_version: $row.try_get("event_version")?,
            payload: $row.try_get("payload")?,
            metadata: $row.try_get("metadata")?,
            committed_at: $committed_at,
        }
    };
}

/// Up to `limit` events of the job and its write-backs after global position `after`.
/// Write-backs are found through the `write_backs` read model (its `job_id` index), so a
/// write shows here once that model has applied its intent.
pub async fn job_history(
    db: &Db,
    job_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = |payload: &str, metadata: &str| {
        format!(
            "select global_position, aggregate_type, aggregate_id, sequence, event_type,
                    event_version, {payload} as payload, {metadata} as metadata, committed_at
             from events
             where global_position > $3
               and ((aggregate_type = $1 and aggregate_id = $2)
                 or (aggregate_type = $4 and aggregate_id in
                        (select write_back_id from write_backs where job_id = $2)))
             order by global_position
             limit $5"
        )
    };
    let rows = match db {
        Db::Postgres(pool) => {
            let sql = sql("payload::text", "metadata::text");
            let rows = sqlx::query(&sql)
                .bind(Job::TYPE)
                .bind(job_id)
                .bind(after)
                .bind(WriteBack::TYPE)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let committed_at: DateTime<Utc> = row.try_get("committed_at")?;
                    Ok(stored!(row, committed_at))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
        Db::Sqlite(pool) => {
            let sql = sql("payload", "metadata");
            let rows = sqlx::query(&sql)
                .bind(Job::TYPE)
                .bind(job_id)
                .bind(after)
                .bind(WriteBack::TYPE)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    // Stamped by a trigger as RFC 3339 text.
                    let text: String = row.try_get("committed_at")?;
                    let committed_at = DateTime::parse_from_rfc3339(&text)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                        .with_timezone(&Utc);
                    Ok(stored!(row, committed_at))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
    };
    Ok(rows)
}
