//! `unified-crm import`: the seed's initial data import — every JobNimbus job and contact
//! into the event store and the mirror, with a progress bar.
//!
//! Resumable: the sync cursor advances after every committed page, so an interrupted import
//! run again continues from where it stopped instead of starting over (`--full` re-reads
//! everything; unchanged records append nothing either way).

use std::time::Duration;

use adapters::store::{AppendSignal, Db};
use adapters::sync::{SyncEngine, SyncReport, SyncRequest};
use clap::Args;
use domain::{SyncMode, SyncResource, SyncStatus, SyncTrigger};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;
use crate::startup::{start_read_side, sync_engine};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Re-read every record even when an earlier import completed or stopped part-way.
    #[arg(long)]
    full: bool,
}

/// Longest the import waits, at the end, for the mirror to show everything it appended.
const MIRROR_WAIT: Duration = Duration::from_secs(600);

pub async fn run(settings: Settings, args: ImportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(&settings.database, settings.db_max_connections).await?;
    db.migrate().await?;
    let signal = AppendSignal::new();
    let engine = sync_engine(&settings, &db, &signal)?
        .ok_or("JOBNIMBUS_API_KEY is not set: there is no JobNimbus account to import from")?;
    let (progress, tasks) = start_read_side(&db, &signal);

    let mut last_position = None;
    let mut failed = None;
    for resource in [SyncResource::Jobs, SyncResource::Contacts] {
        let report = import(&engine, resource, args.full).await?;
        last_position = report.last_position.or(last_position);
        print_summary(&report);
        if report.status == SyncStatus::Failed {
            failed = Some(format!(
                "{} import stopped: {} (run again to resume)",
                resource.as_str(),
                report.failure.unwrap_or_default()
            ));
            break;
        }
    }
    if let Some(position) = last_position {
        println!("waiting for the mirror to catch up…");
        progress.wait_for(position, MIRROR_WAIT).await?;
    }
    for task in tasks {
        task.abort();
    }
    db.close().await;
    match failed {
        Some(why) => Err(why.into()),
        None => Ok(()),
    }
}

async fn import(
    engine: &SyncEngine,
    resource: SyncResource,
    full: bool,
) -> Result<SyncReport, Box<dyn std::error::Error>> {
    let cursor = engine.cursor(resource).await?;
    let mode = if full {
        SyncMode::Full
    } else {
        // Without a cursor an incremental run reads everything; with one it resumes.
        SyncMode::Incremental
    };
    match (mode, cursor.position()) {
        (SyncMode::Incremental, Some(at)) => {
            println!(
                "{}: continuing from records updated since {at}",
                resource.as_str()
            )
        }
        _ => println!("{}: importing every record", resource.as_str()),
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{msg:>9} [{bar:40}] {pos}/{len} records {per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(resource.as_str());
    let request = SyncRequest {
        resource,
        mode,
        trigger: SyncTrigger::Import,
    };
    let report = engine
        .sync_once_with_progress(request, &|p| {
            if let Some(expected) = p.expected {
                bar.set_length(expected.max(p.fetched));
            }
            bar.set_position(p.fetched);
        })
        .await?;
    bar.finish();
    Ok(report)
}

/// The summary is the command's output, so it goes to stdout.
fn print_summary(report: &SyncReport) {
    let o = &report.outcome;
    println!(
        "  {:<8} {:>8} fetched, {} created, {} updated, {} unchanged, {} failed in {:.1?} ({})",
        report.request.resource.as_str(),
        o.fetched,
        o.created,
        o.updated,
        o.unchanged,
        o.failed,
        report.duration,
        report.status.as_str()
    );
    for error in report.errors.iter().take(10) {
        println!("    {error}");
    }
    if o.failed > 10 {
        println!("    … see GET /api/v1/sync/logs for every failure");
    }
}
