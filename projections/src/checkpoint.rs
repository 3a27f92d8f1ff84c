use adapters::store::{Db, DbTx, LogPosition, StoreError};

/// How far a projection has read the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: LogPosition,
    /// Events handed to the projection since its last rebuild.
    pub events_applied: i64,
}

/// Reads a projection's checkpoint, creating the row at the start of the log if missing.
pub async fn load(db: &Db, projection: &str) -> Result<Checkpoint, StoreError> {
    let row: (i64, i64, i64) = match db {
        Db::Postgres(pool) => {
            sqlx::query(
                "insert into projection_checkpoints (projection) values ($1)
                 on conflict (projection) do nothing",
            )
            .bind(projection)
            .execute(pool)
            .await?;
            sqlx::query_as(
                "select tx_id, position, events_applied from projection_checkpoints
                 where projection = $1",
            )
            .bind(projection)
            .fetch_one(pool)
            .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query(
                "insert into projection_checkpoints (projection) values (?)
                 on conflict (projection) do nothing",
            )
            .bind(projection)
            .execute(pool)
            .await?;
            sqlx::query_as(
                "select tx_id, position, events_applied from projection_checkpoints
                 where projection = ?",
            )
            .bind(projection)
            .fetch_one(pool)
            .await?
        }
    };
    Ok(Checkpoint {
        position: LogPosition {
            tx_id: row.0,
            global_position: row.1,
        },
        events_applied: row.2,
    })
}

/// Every projection's checkpoint, by name.
pub async fn all(db: &Db) -> Result<Vec<(String, Checkpoint)>, StoreError> {
    let rows: Vec<(String, i64, i64, i64)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "select projection, tx_id, position, events_applied
                 from projection_checkpoints order by projection",
            )
            .fetch_all(pool)
            .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "select projection, tx_id, position, events_applied
                 from projection_checkpoints order by projection",
            )
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(name, tx_id, global_position, events_applied)| {
            let position = LogPosition {
                tx_id,
                global_position,
            };
            (
                name,
                Checkpoint {
                    position,
                    events_applied,
                },
            )
        })
        .collect())
}

/// Moves the checkpoint from `from` to `to` inside the projection's transaction.
///
/// Compare-and-set: if the stored checkpoint is no longer `from` (a rebuild reset it, or a
/// second runner got there first) nothing is written and `false` comes back; the caller
/// must roll back its rows and reload. This, not the advisory lock, is what makes a batch
/// impossible to apply twice.
pub async fn advance(
    tx: &mut DbTx,
    projection: &str,
    from: Checkpoint,
    to: LogPosition,
    events: i64,
) -> Result<bool, StoreError> {
    let result = match tx {
        DbTx::Postgres(tx) => sqlx::query(
            "update projection_checkpoints
                 set tx_id = $1, position = $2, events_applied = events_applied + $3,
                     updated_at = now()
                 where projection = $4 and tx_id = $5 and position = $6",
        )
        .bind(to.tx_id)
        .bind(to.global_position)
        .bind(events)
        .bind(projection)
        .bind(from.position.tx_id)
        .bind(from.position.global_position)
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        DbTx::Sqlite(tx) => sqlx::query(
            "update projection_checkpoints
                 set tx_id = ?, position = ?, events_applied = events_applied + ?,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 where projection = ? and tx_id = ? and position = ?",
        )
        .bind(to.tx_id)
        .bind(to.global_position)
        .bind(events)
        .bind(projection)
        .bind(from.position.tx_id)
        .bind(from.position.global_position)
        .execute(&mut **tx)
        .await?
        .rows_affected(),
    };
    Ok(result == 1)
}

/// Puts a projection back at the start of the log (inside a rebuild's transaction).
pub async fn reset(tx: &mut DbTx, projection: &str) -> Result<(), StoreError> {
    match tx {
        DbTx::Postgres(tx) => {
            sqlx::query(
                "insert into projection_checkpoints (projection) values ($1)
                 on conflict (projection) do update
                 set tx_id = 0, position = 0, events_applied = 0, updated_at = now()",
            )
            .bind(projection)
            .execute(&mut **tx)
            .await?;
        }
        DbTx::Sqlite(tx) => {
            sqlx::query(
                "insert into projection_checkpoints (projection) values (?)
                 on conflict (projection) do update
                 set tx_id = 0, position = 0, events_applied = 0,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )
            .bind(projection)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
