//! `unified-crm bench evaluate`: QC and risk for every mirrored job, the first time (every
//! outcome is new) and again with nothing changed (nothing may be appended to the jobs).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use adapters::store::{AppendSignal, BatchCommand, BatchExecutor, Db, EventLog};
use domain::{EvaluationTrigger, Job};
use projections::evaluation::{Clock, EvaluationRules, EvaluationSummary, Evaluator};

use super::bench::{connection_tls, record};

pub async fn run(db: &Db, jobs: usize) -> Result<(), Box<dyn std::error::Error>> {
    db.migrate().await?;
    let backend = db.backend().as_str();
    let tls = connection_tls(db).await;
    let signal = AppendSignal::new();
    let (progress, background) = crate::startup::start_read_side(db, &signal);

    // The mirror: N recorded jobs, through the batched path the sync uses.
    let seeding = BatchExecutor::<Job>::new(db, &signal);
    let pages = (0..jobs).step_by(1_000).map(|start| {
        (start..(start + 1_000).min(jobs))
            .map(|i| BatchCommand {
                aggregate_id: format!("jobnimbus:bench-eval-{i}"),
                command: record(i),
                metadata: HashMap::from([("actor".to_string(), "bench".to_string())]),
            })
            .collect()
    });
    let seeded = seeding.execute_pipelined(pages).await?;
    if let Some(last) = seeded.iter().filter_map(|r| r.last_position).max() {
        progress.wait_for(last, Duration::from_secs(900)).await?;
    }

    let evaluator = Evaluator::new(db, &signal, EvaluationRules::default(), Clock::system());
    let log = EventLog::new(db.clone());
    for name in ["evaluate_all_first", "evaluate_all_unchanged"] {
        let before = log.count_of_type("JobEvaluation").await?;
        let started = Instant::now();
        let summary = evaluator
            .evaluate_all_once(evaluator.clock().now(), EvaluationTrigger::Cli)
            .await?;
        let evaluated = started.elapsed();
        // What `POST …/evaluate-all` answers after: the read model shows every outcome.
        if let Some(last) = summary.last_position {
            progress.wait_for(last, Duration::from_secs(900)).await?;
        }
        let readable = started.elapsed();
        let appended = log.count_of_type("JobEvaluation").await? - before;
        figure(name, backend, tls, &summary, evaluated, readable, appended);
    }
    for task in background {
        task.abort();
    }
    Ok(())
}

fn figure(
    name: &str,
    backend: &str,
    tls: bool,
    summary: &EvaluationSummary,
    evaluated: Duration,
    readable: Duration,
    appended: i64,
) {
    let seconds = evaluated.as_secs_f64();
    let jobs = summary.jobs_checked;
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
            "seconds_until_read_models": (readable.as_secs_f64() * 1000.0).round() / 1000.0,
            "outcomes_changed": summary.outcomes_changed,
            "job_events_appended": appended,
        })
    );
}
