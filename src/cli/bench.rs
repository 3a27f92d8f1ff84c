//! `unified-crm bench`: throughput figures from this machine, one JSON object per line.
//!
//! Runs in a scratch database beside the one `DATABASE_URL` names, so it never writes
//! into real data, and drops it afterwards.

use std::collections::HashMap;
use std::time::Instant;

use adapters::store::{
    AppendSignal, BatchCommand, BatchExecutor, CommandBus, Db, EventLog, ScratchDatabase,
};
use chrono::{TimeZone, Utc};
use clap::Subcommand;
use domain::{Address, Job, JobCommand, JobEvent, JobSnapshot};
use futures::StreamExt;

use crate::config::Settings;

#[derive(Subcommand, Debug)]
pub enum BenchTarget {
    /// Append N events (~800-byte payloads, distinct aggregates) through the batched path
    /// and through the one-by-one cqrs-es path, then replay all of them into the mirror.
    Store {
        /// Events per path.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Commands per page on the batched path.
        #[arg(long, default_value_t = 1_000)]
        page: usize,
        /// Concurrent commands on the one-by-one path.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Sync N jobs from a local JobNimbus sandbox over HTTP into events and the mirror,
    /// then an incremental run and a reconcile scan of the unchanged CRM.
    Sync {
        #[arg(long, default_value_t = 100_000)]
        jobs: usize,
    },
    /// Mirror N jobs, then evaluate QC and risk for every one of them twice: the first pass
    /// records every outcome, the second (nothing changed) must append no job event.
    Evaluate {
        #[arg(long, default_value_t = 50_000)]
        jobs: usize,
    },
}

pub async fn run(
    settings: Settings,
    target: BenchTarget,
) -> Result<(), Box<dyn std::error::Error>> {
    let (connections, job) = match target {
        BenchTarget::Store {
            events,
            page,
            concurrency,
        } => (
            (concurrency as u32 + 2).max(4),
            Benchmark::Store {
                events,
                page: page.max(1),
                concurrency: concurrency.max(1),
            },
        ),
        BenchTarget::Sync { jobs } => (8, Benchmark::Sync { jobs }),
        BenchTarget::Evaluate { jobs } => (8, Benchmark::Evaluate { jobs }),
    };
    let scratch = ScratchDatabase::create(&settings.database, "unified_crm_bench").await?;
    let db = Db::connect(scratch.target(), connections).await?;
    let result = match job {
        Benchmark::Store {
            events,
            page,
            concurrency,
        } => store(&db, events, page, concurrency).await,
        Benchmark::Sync { jobs } => super::sync_bench::run(&db, jobs).await,
        Benchmark::Evaluate { jobs } => super::evaluation_bench::run(&db, jobs).await,
    };
    db.close().await;
    scratch.remove().await?;
    result
}

/// A benchmark with its arguments checked.
enum Benchmark {
    Store {
        events: usize,
        page: usize,
        concurrency: usize,
    },
    Sync {
        jobs: usize,
    },
    Evaluate {
        jobs: usize,
    },
}

async fn store(
    db: &Db,
    events: usize,
    page: usize,
    concurrency: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    db.migrate().await?;
    let backend = db.backend().as_str();
    let tls = connection_tls(db).await;
    let signal = AppendSignal::new();
    let payload_bytes = serde_json::to_string(&JobEvent::JobSnapshotRecorded {
        snapshot: bench_snapshot(0),
        observed_at: Utc::now(),
    })?
    .len();

    let batched = BatchExecutor::<Job>::new(db, &signal);
    let started = Instant::now();
    let pages = (0..events).step_by(page).map(|start| {
        (start..(start + page).min(events))
            .map(|i| BatchCommand {
                aggregate_id: format!("jobnimbus:bench-a-{i}"),
                command: record(i),
                metadata: HashMap::from([("actor".to_string(), "bench".to_string())]),
            })
            .collect()
    });
    batched.execute_pipelined(pages).await?;
    report(
        "append_batched",
        backend,
        tls,
        events,
        started,
        payload_bytes,
    );

    let one_by_one = CommandBus::<Job>::new(db, &signal);
    let started = Instant::now();
    let mut results = futures::stream::iter(0..events)
        .map(|i| {
            let bus = &one_by_one;
            async move {
                bus.execute(&format!("jobnimbus:bench-b-{i}"), record(i), HashMap::new())
                    .await
            }
        })
        .buffer_unordered(concurrency);
    while let Some(result) = results.next().await {
        result?;
    }
    report(
        "append_one_by_one",
        backend,
        tls,
        events,
        started,
        payload_bytes,
    );

    let total = EventLog::new(db.clone()).count().await? as usize;
    let started = Instant::now();
    let all = projections::all();
    let all: Vec<&dyn projections::Projection> = all.iter().map(|p| p.as_ref()).collect();
    projections::rebuild_all(db, &all, 5_000, |_| {}).await?;
    report("replay", backend, tls, total, started, payload_bytes);
    Ok(())
}

/// Whether this benchmark's connections are encrypted: TLS on loopback costs ~30% on small
/// round trips here, so every figure says which mode it was measured in.
pub(crate) async fn connection_tls(db: &Db) -> bool {
    match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
                .fetch_one(pool)
                .await
                .unwrap_or(false)
        }
        Db::Sqlite(_) => false,
    }
}

pub(crate) fn report(
    figure: &str,
    backend: &str,
    tls: bool,
    count: usize,
    started: Instant,
    payload_bytes: usize,
) {
    let seconds = started.elapsed().as_secs_f64();
    // The figures are the command's output: stdout, one JSON object per line.
    println!(
        "{}",
        serde_json::json!({
            "figure": figure,
            "backend": backend,
            "tls": tls,
            "count": count,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "per_sec": ((count as f64 / seconds.max(f64::EPSILON)) * 10.0).round() / 10.0,
            "payload_bytes": payload_bytes,
        })
    );
}

pub(crate) fn record(i: usize) -> JobCommand {
    JobCommand::RecordPulledSnapshot {
        snapshot: bench_snapshot(i),
        is_active: true,
        observed_at: Utc::now(),
    }
}

/// A realistic job whose serialised event is about 800 bytes.
pub(crate) fn bench_snapshot(i: usize) -> JobSnapshot {
    let at = |offset: i64| {
        Utc.timestamp_opt(1_700_000_000 + offset + i as i64, 0)
            .single()
    };
    JobSnapshot {
        number: Some(format!("{}", 10_000 + i)),
        name: format!("Roof replacement #{i} – Hernandez residence"),
        description: Some(
            "Tear off two layers of asphalt shingles, replace damaged decking, install ice and \
             water shield along eaves and valleys, synthetic underlayment, architectural \
             shingles in Weathered Wood; customer asks for magnetic sweep of the driveway."
                .to_string(),
        ),
        status: Some(["Lead", "Estimating", "Sold", "In Progress", "Completed"][i % 5].to_string()),
        workflow: Some("Residential Roofing".to_string()),
        customer_name: Some(format!("Maria Hernandez {i}")),
        contact_external_id: Some(format!("c{i:x}")),
        address: Address {
            line1: Some(format!("{} Cedar Ridge Drive", 100 + i % 900)),
            line2: None,
            city: Some("Colorado Springs".to_string()),
            state: Some("CO".to_string()),
            zip: Some("80919".to_string()),
            country: Some("USA".to_string()),
        },
        sales_rep_name: Some("Jordan Ellis".to_string()),
        remote_created_at: at(0),
        remote_updated_at: at(3_600),
        status_changed_at: at(1_800),
        started_at: at(2_400),
        completed_at: None,
        is_archived: false,
    }
}
