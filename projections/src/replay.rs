use std::time::{Duration, Instant};

use adapters::store::{
    Db, DbTx, EventLog, ExclusiveLock, LockKind, LogPosition, StoreError, StoredEvent,
};

use crate::checkpoint::{self, Checkpoint};
use crate::runner::apply_batch;
use crate::{Projection, ProjectionError};

/// Re-read interval while committed events are not yet readable.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(50);

/// How long a rebuild waits for a projection's lock before reporting it busy.
const LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildSummary {
    pub projection: &'static str,
    pub events: i64,
    pub elapsed: Duration,
}

/// Empties a projection's tables and replays the whole log into it from position 0.
///
/// Takes the projection's lock first: on PostgreSQL a live instance running the projection
/// makes this fail with `ProjectionError::Busy` rather than race it. `on_batch` receives
/// the number of events applied so far, for progress reports.
pub async fn rebuild(
    db: &Db,
    projection: &dyn Projection,
    batch_size: i64,
    on_batch: impl FnMut(i64),
) -> Result<RebuildSummary, ProjectionError> {
    let mut summaries = rebuild_all(db, &[projection], batch_size, on_batch).await?;
    Ok(summaries.remove(0))
}

/// Rebuilds several projections in one pass over the log: each batch is read once and
/// handed to every projection at the same time, each in its own transaction. Reading the
/// log is a large part of a replay, so this is what `replay` uses for all read models.
///
/// Every projection's lock is taken before anything is emptied; if one is busy, nothing
/// is touched. `on_batch` receives the number of events replayed so far.
pub async fn rebuild_all(
    db: &Db,
    projections: &[&dyn Projection],
    batch_size: i64,
    mut on_batch: impl FnMut(i64),
) -> Result<Vec<RebuildSummary>, ProjectionError> {
    let started = Instant::now();
    let mut locks = Vec::with_capacity(projections.len());
    for projection in projections {
        match ExclusiveLock::acquire_within(
            db,
            LockKind::Projection,
            projection.name(),
            LOCK_PATIENCE,
        )
        .await
        {
            Ok(Some(lock)) => locks.push(lock),
            not_acquired => {
                for lock in locks {
                    lock.release().await;
                }
                return Err(match not_acquired {
                    Err(error) => error.into(),
                    _ => ProjectionError::Busy(projection.name()),
                });
            }
        }
    }
    let result = async {
        let mut tx = db.begin().await?;
        for projection in projections {
            for table in projection.tables() {
                truncate(&mut tx, table).await?;
            }
            checkpoint::reset(&mut tx, projection.name()).await?;
        }
        tx.commit().await?;

        // Read ahead: the next batch is fetched while the current one is applied, so the
        // database read and the projections' writes overlap.
        let (batches, mut incoming) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(read_ahead(EventLog::new(db.clone()), batch_size, batches));
        let mut at = vec![Checkpoint::default(); projections.len()];
        let mut replayed = 0;
        while let Some(events) = incoming.recv().await {
            let events = events?;
            at = futures::future::try_join_all(projections.iter().zip(&at).map(
                |(projection, from)| {
                    let events = &events;
                    async move {
                        apply_batch(db, *projection, *from, events)
                            .await?
                            .ok_or(ProjectionError::Busy(projection.name()))
                    }
                },
            ))
            .await?;
            replayed += events.len() as i64;
            on_batch(replayed);
        }
        reader.abort();
        Ok(projections
            .iter()
            .zip(&at)
            .map(|(projection, at)| RebuildSummary {
                projection: projection.name(),
                events: at.events_applied,
                elapsed: started.elapsed(),
            })
            .collect())
    }
    .await;
    for lock in locks {
        lock.release().await;
    }
    result
}

/// Sends successive batches of the log, from the start, until no committed event is left
/// after the last one sent (an empty read alone may only mean the horizon is held back).
async fn read_ahead(
    log: EventLog,
    batch_size: i64,
    batches: tokio::sync::mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
) {
    let mut after = LogPosition::START;
    loop {
        let batch = match log.read_after(after, batch_size).await {
            Ok(batch) => batch,
            Err(error) => {
                let _ = batches.send(Err(error)).await;
                return;
            }
        };
        let Some(last) = batch.last() else {
            match log.has_events_after(after).await {
                Ok(true) => {
                    tokio::time::sleep(HELD_BACK_RECHECK).await;
                    continue;
                }
                Ok(false) => return,
                Err(error) => {
                    let _ = batches.send(Err(error)).await;
                    return;
                }
            }
        };
        after = last.position;
        if batches.send(Ok(batch)).await.is_err() {
            return;
        }
    }
}

async fn truncate(tx: &mut DbTx, table: &str) -> Result<(), ProjectionError> {
    // `table` comes from `Projection::tables`, a compile-time list, never from input.
    let sql = format!("delete from {table}");
    match tx {
        DbTx::Postgres(tx) => {
            sqlx::query(&sql).execute(&mut **tx).await?;
        }
        DbTx::Sqlite(tx) => {
            sqlx::query(&sql).execute(&mut **tx).await?;
        }
    }
    Ok(())
}
