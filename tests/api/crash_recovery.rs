//! A server killed with SIGKILL while its projections are behind catches up after a
//! restart with no event missed and none applied twice.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adapters::store::{BatchExecutor, DatabaseTarget, EventLog};
use domain::Job;
use secrecy::ExposeSecret;

use crate::projections::scalar;
use crate::support::fixtures::pulled;
use crate::support::{Backend, TestDb};

on_both_backends!(killed_server_catches_up_without_missing_or_repeating_events);

async fn killed_server_catches_up_without_missing_or_repeating_events(backend: Backend) {
    let t = TestDb::new(backend).await;
    // Events written while no server runs: the projection starts far behind.
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    for page in 0..10 {
        let commands = (page * 2_000..(page + 1) * 2_000)
            .map(|i| pulled(i, "Lead", true, 0))
            .collect();
        executor.execute(commands).await.unwrap();
    }
    executor
        .execute(
            (0..10_000)
                .map(|i| pulled(i, "Sold", i % 2 == 0, 60))
                .collect(),
        )
        .await
        .unwrap();
    let total = EventLog::new(t.db.clone()).count().await.unwrap();

    let mut server = start_server(&t);
    let applied_at_kill =
        wait_for_applied(&t, |applied| applied > 0, Duration::from_secs(60)).await;
    server.kill().expect("SIGKILL the server");
    server.wait().unwrap();
    assert!(
        applied_at_kill < total,
        "the server was killed after catching up ({applied_at_kill}/{total}); nothing was proven"
    );

    let mut restarted = start_server(&t);
    let applied = wait_for_applied(&t, |applied| applied >= total, Duration::from_secs(120)).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();

    assert_eq!(
        applied, total,
        "each event applied exactly once across the crash"
    );
    let rows: i64 = scalar(&t.db, "select count(*) from job_mirror").await;
    assert_eq!(rows, 20_000);
    let stale: i64 = scalar(
        &t.db,
        "select count(*) from job_mirror m where m.version <> (select max(e.sequence) from events e
           where e.aggregate_type = 'Job' and e.aggregate_id = m.job_id)",
    )
    .await;
    assert_eq!(stale, 0, "every row reflects its job's last event");
    let inactive: i64 = scalar(&t.db, "select count(*) from job_mirror where not is_active").await;
    assert_eq!(inactive, 5_000);
}

fn start_server(t: &TestDb) -> Child {
    let url = match t.target() {
        DatabaseTarget::Postgres(url) => url.expose_secret().to_string(),
        DatabaseTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
    };
    Command::new(env!("CARGO_BIN_EXE_unified-crm"))
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("PORT", "0")
        .env("INTERNAL_API_KEY", crate::support::INTERNAL_KEY)
        .env("EMBED_SIGNING_SECRET", crate::support::EMBED_SECRET)
        // Automatic QC/risk evaluations would append events while the test counts them.
        .env("EVALUATION_AUTOMATIC", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server")
}

/// Polls the job mirror's checkpoint until `done(events_applied)`; returns the count.
async fn wait_for_applied(t: &TestDb, done: impl Fn(i64) -> bool, timeout: Duration) -> i64 {
    let started = Instant::now();
    loop {
        let applied: Option<i64> = match &t.db {
            adapters::store::Db::Postgres(pool) => sqlx::query_scalar(
                "select events_applied from projection_checkpoints where projection = 'job_mirror'",
            )
            .fetch_optional(pool)
            .await
            .unwrap(),
            adapters::store::Db::Sqlite(pool) => sqlx::query_scalar(
                "select events_applied from projection_checkpoints where projection = 'job_mirror'",
            )
            .fetch_optional(pool)
            .await
            .unwrap(),
        };
        let applied = applied.unwrap_or(0);
        if done(applied) {
            return applied;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out at {applied} events applied"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
