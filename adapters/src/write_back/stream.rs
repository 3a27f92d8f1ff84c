//! A write-back's current state, folded from its stream (the attempt needs the intent, which
//! read models may not show yet).

use cqrs_es::Aggregate;
use domain::{WriteBack, WriteBackEvent};

use crate::store::{Db, StoreError};

/// The write-back `id` as its events make it; `None` when it has none.
pub async fn load_write_back(db: &Db, id: &str) -> Result<Option<WriteBack>, StoreError> {
    let payloads: Vec<(String,)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "select payload::text from events
                 where aggregate_type = $1 and aggregate_id = $2 order by sequence",
            )
            .bind(WriteBack::TYPE)
            .bind(id)
            .fetch_all(pool)
            .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "select payload from events
                 where aggregate_type = $1 and aggregate_id = $2 order by sequence",
            )
            .bind(WriteBack::TYPE)
            .bind(id)
            .fetch_all(pool)
            .await?
        }
    };
    if payloads.is_empty() {
        return Ok(None);
    }
    let mut write_back = WriteBack::default();
    for (payload,) in payloads {
        let event: WriteBackEvent = serde_json::from_str(&payload)?;
        write_back.apply(event);
    }
    Ok(Some(write_back))
}
