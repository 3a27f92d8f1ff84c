//! `unified-crm bench sync`: jobs per second from a JobNimbus sandbox over HTTP into events
//! and a queryable mirror, then the cost of syncing a CRM where nothing changed.

use std::time::{Duration, Instant};

use adapters::jobnimbus::sandbox::{SandboxConfig, SandboxJobNimbus};
use adapters::jobnimbus::{ClientConfig, JobNimbusClient};
use adapters::store::{AppendSignal, Db, EventLog};
use adapters::sync::{SyncEngine, SyncReport, SyncRequest, SyncSettings};
use domain::{SyncMode, SyncResource, SyncTrigger};
use secrecy::SecretString;

use super::bench::connection_tls;

/// Only ever sent to the loopback sandbox this benchmark starts.
const SANDBOX_KEY: &str = "bench-sandbox-key";

pub async fn run(db: &Db, jobs: usize) -> Result<(), Box<dyn std::error::Error>> {
    db.migrate().await?;
    let backend = db.backend().as_str();
    let tls = connection_tls(db).await;

    let mut config = SandboxConfig::new(SANDBOX_KEY, 11);
    config.jobs = jobs;
    config.contacts = 1_000;
    config.files_per_job = 0;
    config.activities_per_job = 0;
    config.tasks_per_job = 0;
    let sandbox = SandboxJobNimbus::start(config).await?;

    let signal = AppendSignal::new();
    let (progress, background) = crate::startup::start_read_side(db, &signal);

    // Production paces at 5 requests/s because the real API documents no limit; a loopback
    // sandbox has nothing to protect, and pacing would measure the pacer, not the sync.
    let mut client = ClientConfig::new(sandbox.base_url(), SecretString::from(SANDBOX_KEY));
    client.min_request_interval = Duration::ZERO;
    let engine = SyncEngine::new(
        db,
        &signal,
        JobNimbusClient::new(client)?,
        SyncSettings::default(),
    );
    let log = EventLog::new(db.clone());

    let started = Instant::now();
    let before = log.count().await?;
    let initial = sync(&engine, SyncMode::Full).await?;
    if let Some(last) = initial.last_position {
        // "Queryable": the clock stops when the mirror has every job.
        progress.wait_for(last, Duration::from_secs(600)).await?;
    }
    let appended = log.count().await? - before;
    figure("initial_sync", backend, tls, &initial, started, appended);

    for (name, mode) in [
        ("incremental_unchanged", SyncMode::Incremental),
        ("reconcile_unchanged", SyncMode::Reconcile),
    ] {
        let before = job_events(&log).await?;
        let started = Instant::now();
        let report = sync(&engine, mode).await?;
        figure(
            name,
            backend,
            tls,
            &report,
            started,
            job_events(&log).await? - before,
        );
    }

    for task in background {
        task.abort();
    }
    sandbox.shutdown().await?;
    Ok(())
}

async fn sync(
    engine: &SyncEngine,
    mode: SyncMode,
) -> Result<SyncReport, Box<dyn std::error::Error>> {
    let report = engine
        .sync_once(SyncRequest {
            resource: SyncResource::Jobs,
            mode,
            trigger: SyncTrigger::Manual,
        })
        .await?;
    match report.failure {
        Some(failure) => Err(failure.into()),
        None => Ok(report),
    }
}

/// Events of job aggregates: what "appends nothing" is about (a run always records itself).
async fn job_events(log: &EventLog) -> Result<i64, adapters::store::StoreError> {
    log.count_of_type("Job").await
}

fn figure(
    name: &str,
    backend: &str,
    tls: bool,
    report: &SyncReport,
    started: Instant,
    events: i64,
) {
    let seconds = started.elapsed().as_secs_f64();
    let jobs = report.outcome.fetched;
    // The figures are the command's output: stdout, one JSON object per line.
    println!(
        "{}",
        serde_json::json!({
            "figure": name,
            "backend": backend,
            "tls": tls,
            "count": jobs,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "per_sec": ((jobs as f64 / seconds.max(f64::EPSILON)) * 10.0).round() / 10.0,
            "events_appended": events,
            "created": report.outcome.created,
            "updated": report.outcome.updated,
            "unchanged": report.outcome.unchanged,
        })
    );
}
