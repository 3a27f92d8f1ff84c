use super::{Db, LogPosition, StoreError};

/// An event ready to be appended: already serialised, with its aggregate sequence decided.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
}

/// Rows per INSERT statement on PostgreSQL: large enough to amortise round trips, small
/// enough to keep each statement's arrays a few MB.
const PG_ROWS_PER_STATEMENT: usize = 2_000;

/// Appends all `events` in one transaction: all or none. A sequence already taken by
/// another writer fails the whole append with `StoreError::Conflict`.
///
/// Returns the position of the last event appended (None when `events` is empty).
pub async fn append_events(
    db: &Db,
    events: &[NewEvent],
) -> Result<Option<LogPosition>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let last = match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let mut last = LogPosition::START;
            for chunk in events.chunks(PG_ROWS_PER_STATEMENT) {
                // One statement per chunk: arrays through unnest are what make bulk inserts
                // fast here (see stack notes); payloads travel as text and are cast once.
                let (tx_id, position): (i64, i64) = sqlx::query_as(
                    "with inserted as (
                         insert into events (aggregate_type, aggregate_id, sequence, event_type,
                                             event_version, payload, metadata)
                         select t.aggregate_type, t.aggregate_id, t.sequence, t.event_type,
                                t.event_version, t.payload::json, t.metadata::json
                         from unnest($1::text[], $2::text[], $3::bigint[], $4::text[],
                                     $5::text[], $6::text[], $7::text[])
                              as t(aggregate_type, aggregate_id, sequence, event_type,
                                   event_version, payload, metadata)
                         returning tx_id, global_position)
                     select max(tx_id::text::bigint), max(global_position) from inserted",
                )
                .bind(column(chunk, |e| e.aggregate_type.as_str()))
                .bind(column(chunk, |e| e.aggregate_id.as_str()))
                .bind(column(chunk, |e| e.sequence))
                .bind(column(chunk, |e| e.event_type.as_str()))
                .bind(column(chunk, |e| e.event_version.as_str()))
                .bind(column(chunk, |e| e.payload.as_str()))
                .bind(column(chunk, |e| e.metadata.as_str()))
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_append)?;
                last = LogPosition {
                    tx_id,
                    global_position: position,
                };
            }
            tx.commit().await.map_err(StoreError::from_append)?;
            last
        }
        Db::Sqlite(pool) => {
            // One writer at a time on SQLite: a transaction of prepared single-row inserts
            // is as fast as it gets, since there is no network round trip to save.
            let mut tx = pool.begin().await?;
            for event in events {
                sqlx::query(
                    "insert into events (aggregate_type, aggregate_id, sequence, event_type,
                                         event_version, payload, metadata)
                     values (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&event.aggregate_type)
                .bind(&event.aggregate_id)
                .bind(event.sequence)
                .bind(&event.event_type)
                .bind(&event.event_version)
                .bind(&event.payload)
                .bind(&event.metadata)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_append)?;
            }
            let position: i64 = sqlx::query_scalar("select max(global_position) from events")
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await.map_err(StoreError::from_append)?;
            LogPosition {
                tx_id: 0,
                global_position: position,
            }
        }
    };
    metrics::counter!("events_appended_total", "path" => "batched").increment(events.len() as u64);
    Ok(Some(last))
}

/// One column of the chunk, borrowed where possible: no per-row copies of payloads.
fn column<'a, T>(events: &'a [NewEvent], field: impl Fn(&'a NewEvent) -> T) -> Vec<T> {
    events.iter().map(field).collect()
}
