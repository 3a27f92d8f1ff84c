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

/// Bytes of COPY data sent per message: large enough to amortise the protocol framing,
/// small enough not to build one huge buffer for a big page.
const COPY_CHUNK_BYTES: usize = 1 << 20;

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
            // COPY is the fastest way into a table here (≈ 1.5× arrays through unnest, see
            // the stack notes). It returns no rows, so the positions are asked afterwards:
            // the identity column draws from a sequence, and currval is the last value this
            // session drew, i.e. the position of our last row; the transaction id is ours.
            let mut copy = tx
                .copy_in_raw(
                    "copy events (aggregate_type, aggregate_id, sequence, event_type,
                                  event_version, payload, metadata)
                     from stdin",
                )
                .await?;
            let mut buffer = String::with_capacity(COPY_CHUNK_BYTES + 4096);
            for event in events {
                copy_row(&mut buffer, event);
                if buffer.len() >= COPY_CHUNK_BYTES {
                    copy.send(buffer.as_bytes())
                        .await
                        .map_err(StoreError::from_append)?;
                    buffer.clear();
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer.as_bytes())
                    .await
                    .map_err(StoreError::from_append)?;
            }
            copy.finish().await.map_err(StoreError::from_append)?;
            let (tx_id, global_position): (i64, i64) = sqlx::query_as(
                "select pg_current_xact_id()::text::bigint,
                        currval(pg_get_serial_sequence('events', 'global_position'))",
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await.map_err(StoreError::from_append)?;
            LogPosition {
                tx_id,
                global_position,
            }
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

/// One event as a line of COPY's text format: tab-separated columns, with the characters
/// that format gives a meaning to escaped. JSON text may hold backslashes (its own escapes)
/// but never raw tabs or newlines; ids and names may hold anything.
fn copy_row(buffer: &mut String, event: &NewEvent) {
    let sequence = event.sequence.to_string();
    let columns = [
        event.aggregate_type.as_str(),
        event.aggregate_id.as_str(),
        sequence.as_str(),
        event.event_type.as_str(),
        event.event_version.as_str(),
        event.payload.as_str(),
        event.metadata.as_str(),
    ];
    for (i, column) in columns.into_iter().enumerate() {
        if i > 0 {
            buffer.push('\t');
        }
        copy_escape(buffer, column);
    }
    buffer.push('\n');
}

fn copy_escape(buffer: &mut String, value: &str) {
    let needs_escape = |c: char| matches!(c, '\\' | '\t' | '\n' | '\r');
    if !value.contains(needs_escape) {
        buffer.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => buffer.push_str("\\\\"),
            '\t' => buffer.push_str("\\t"),
            '\n' => buffer.push_str("\\n"),
            '\r' => buffer.push_str("\\r"),
            other => buffer.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(aggregate_id: &str, payload: &str) -> NewEvent {
        NewEvent {
            aggregate_type: "Job".into(),
            aggregate_id: aggregate_id.into(),
            sequence: 7,
            event_type: "JobSnapshotRecorded".into(),
            event_version: "1.0".into(),
            payload: payload.into(),
            metadata: "{}".into(),
        }
    }

    #[test]
    fn a_copy_row_is_seven_tab_separated_columns_ending_in_a_newline() {
        let mut buffer = String::new();
        copy_row(&mut buffer, &event("jobnimbus:a1", r#"{"name":"x"}"#));
        assert_eq!(
            buffer,
            "Job\tjobnimbus:a1\t7\tJobSnapshotRecorded\t1.0\t{\"name\":\"x\"}\t{}\n"
        );
    }

    #[test]
    fn backslashes_tabs_and_newlines_in_values_are_escaped_so_they_survive_copy() {
        let mut buffer = String::new();
        copy_row(
            &mut buffer,
            &event(
                "id\twith\ttabs\nand\rbreaks",
                r#"{"q":"a \"quote\" and \\ slash"}"#,
            ),
        );
        let line = buffer.strip_suffix('\n').unwrap();
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns.len(), 7, "raw tabs would add columns: {line}");
        assert_eq!(columns[1], "id\\twith\\ttabs\\nand\\rbreaks");
        assert_eq!(columns[5], r#"{"q":"a \\"quote\\" and \\\\ slash"}"#);
    }
}
