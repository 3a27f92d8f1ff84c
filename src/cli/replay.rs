use std::time::Instant;

use adapters::store::{Db, EventLog};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;

/// `unified-crm replay`: rebuilds every read model from position 0.
pub async fn run(settings: Settings, batch_size: i64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(&settings.database, 4).await?;
    db.migrate().await?;
    let total = EventLog::new(db.clone()).count().await?.max(0) as u64;
    let started = Instant::now();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} events {per_sec} eta {eta}")?
            .progress_chars("=> "),
    );
    let all = projections::all();
    let all: Vec<&dyn projections::Projection> = all.iter().map(|p| p.as_ref()).collect();
    let summaries = projections::rebuild_all(&db, &all, batch_size, |replayed| {
        bar.set_position(replayed.max(0) as u64);
    })
    .await?;
    bar.finish();
    // The summary is the command's output, so it goes to stdout.
    println!("replay finished in {:.2?}", started.elapsed());
    for s in &summaries {
        let secs = s.elapsed.as_secs_f64().max(f64::EPSILON);
        println!(
            "  {:<16} {:>10} events in {:>8.2?} ({:.0} events/s)",
            s.projection,
            s.events,
            s.elapsed,
            s.events as f64 / secs
        );
    }
    db.close().await;
    Ok(())
}
