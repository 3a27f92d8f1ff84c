//! The projection runner: read-your-writes, exactly-once delivery, rebuilds equal to live
//! rows, and one runner per projection across instances.

use std::collections::HashMap;
use std::time::Duration;

use adapters::store::{BatchExecutor, CommandBus, Db, EventLog};
use domain::{Job, JobCommand};

use crate::support::fixtures::{at, job_id, pulled, snapshot};
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    a_written_job_is_in_the_mirror_once_the_wait_returns,
    rebuilt_rows_equal_live_rows_and_every_event_is_applied_once,
);

/// PostgreSQL only: SQLite is one process's file, so there are no other instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_one_instance_runs_each_projection() {
    if crate::support::postgres_available() {
        only_one_instance_runs_each_projection(Backend::Postgres).await
    }
}

async fn a_written_job_is_in_the_mirror_once_the_wait_returns(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let bus = CommandBus::<Job>::new(&t.db, &t.signal);

    let position = bus
        .execute(
            &job_id(7),
            JobCommand::RecordPulledSnapshot {
                snapshot: snapshot(7, "Sold"),
                is_active: true,
                observed_at: at(0),
            },
            HashMap::new(),
        )
        .await
        .unwrap()
        .expect("an event was appended");
    app.state
        .progress
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();

    let status: String = scalar(
        &t.db,
        "select status from job_mirror where job_id = 'jobnimbus:job7'",
    )
    .await;
    assert_eq!(status, "Sold");
}

async fn rebuilt_rows_equal_live_rows_and_every_event_is_applied_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    // A history with every event kind, spread over several pages and runner batches.
    for round in 0..4i64 {
        let page = (0..600)
            .map(|i| {
                let status = ["Lead", "Sold", "In Progress", "Completed"][(i + round as usize) % 4];
                let active = !(i % 7 == 0 && round % 2 == 1);
                pulled(
                    i,
                    if i % 3 == 0 { "Lead" } else { status },
                    active,
                    round * 100,
                )
            })
            .collect();
        executor.execute(page).await.unwrap();
    }
    let last = EventLog::new(t.db.clone());
    let total = last.count().await.unwrap();
    let head = last_position(&t.db).await;
    app.state
        .progress
        .wait_for(head, Duration::from_secs(30))
        .await
        .unwrap();
    drop(app);
    let live = mirror_rows(&t.db).await;
    let applied: i64 = scalar(
        &t.db,
        "select events_applied from projection_checkpoints where projection = 'job_mirror'",
    )
    .await;

    let summary = projections::rebuild(&t.db, &projections::job_mirror::JobMirror, 250, |_| {})
        .await
        .unwrap();
    let rebuilt = mirror_rows(&t.db).await;

    assert_eq!(live.len(), 600);
    assert_eq!(
        applied, total,
        "live runner applied every event exactly once"
    );
    assert_eq!(summary.events, total);
    assert_eq!(rebuilt, live);
    // Round 3 soft-deleted every seventh job again.
    let inactive: i64 = scalar(&t.db, "select count(*) from job_mirror where not is_active").await;
    assert_eq!(inactive, (0..600).filter(|i| i % 7 == 0).count() as i64);
}

async fn only_one_instance_runs_each_projection(backend: Backend) {
    let t = TestDb::new(backend).await;
    let first = TestApp::spawn(&t).await;
    let second = TestApp::spawn(&t).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    let report = executor
        .execute((0..100).map(|i| pulled(i, "Lead", true, 0)).collect())
        .await
        .unwrap();
    let position = report.last_position.unwrap();

    // Both instances can wait for the write, whichever of them runs the projection.
    for app in [&first, &second] {
        app.state
            .progress
            .wait_for(position, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let holders: i64 = scalar(
        &t.db,
        "select count(*) from pg_locks
         where locktype = 'advisory' and classid = 1 and granted
           and database = (select oid from pg_database where datname = current_database())",
    )
    .await;
    assert_eq!(holders, projections::all().len() as i64);
    let applied: i64 = scalar(
        &t.db,
        "select events_applied from projection_checkpoints where projection = 'job_mirror'",
    )
    .await;
    assert_eq!(applied, 100);
}

pub async fn scalar<T>(db: &Db, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + Send
        + Unpin,
{
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// Every stored event in reading order. Waits until all committed events are readable: on
/// PostgreSQL an open write transaction anywhere in the cluster holds the horizon back.
pub async fn all_events(db: &Db) -> Vec<adapters::store::StoredEvent> {
    let log = EventLog::new(db.clone());
    let total = log.count().await.unwrap() as usize;
    let started = std::time::Instant::now();
    let mut at = adapters::store::LogPosition::START;
    let mut events = Vec::with_capacity(total);
    while events.len() < total {
        let batch = log.read_after(at, 10_000).await.unwrap();
        match batch.last() {
            Some(last) => at = last.position,
            None => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "log not readable"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        events.extend(batch);
    }
    events
}

pub async fn last_position(db: &Db) -> adapters::store::LogPosition {
    all_events(db)
        .await
        .last()
        .map_or(adapters::store::LogPosition::START, |e| e.position)
}

const MIRROR_COLUMNS: &str = "job_id, source, external_id, number, name, description, status,
    workflow, customer_name, contact_external_id, address_line1, address_line2, city, state,
    zip, country, sales_rep_name, remote_created_at, remote_updated_at, status_changed_at,
    started_at, completed_at, is_active, vanished_at, first_seen_at, last_seen_at, version, last_position";

/// Every mirror row, every column, as JSON text, in key order.
pub async fn mirror_rows(db: &Db) -> Vec<String> {
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(&format!(
            "select json_build_array({MIRROR_COLUMNS})::text from job_mirror order by job_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Sqlite(pool) => sqlx::query_scalar(&format!(
            "select json_array({MIRROR_COLUMNS}) from job_mirror order by job_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}
