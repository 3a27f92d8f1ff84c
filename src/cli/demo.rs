//! `unified-crm demo`: everything on one machine with no credentials — a sandbox JobNimbus
//! on loopback, an embedded SQLite database, the server, a first import and photo pull — then the URLs
//! and a ready-to-paste curl.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::jobber::sandbox::{JobberSandboxConfig, RunningJobberSandbox, SandboxJobber};
use adapters::jobnimbus::sandbox::{SandboxConfig, SandboxJobNimbus};
use adapters::store::{DatabaseTarget, Db, EventLog};
use adapters::sync::{PhotoSyncCaller, SyncReport, SyncRequest};
use api::AppState;
use base64::Engine;
use chrono::Utc;
use domain::{JobId, PanelType, SyncMode, SyncResource, SyncTrigger};
use projections::job_mirror::{self, query::JobQuery};
use secrecy::SecretString;

use crate::config::{JobberApp, Settings};
use crate::startup::Application;

/// The demo's database. Started afresh every run: the sandbox's data is generated anew, so
/// an old mirror would describe a CRM that no longer exists.
const DEMO_DB: &str = "./data/demo.db";

/// The sandbox JobNimbus's seed: the same CRM data every run (the browser test shows it too).
pub const SANDBOX_SEED: u64 = 42;

pub async fn run(mut settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    remove_database(Path::new(DEMO_DB))?;
    settings.database = DatabaseTarget::Sqlite(PathBuf::from(DEMO_DB));
    // Throw-away keys, shown to the person because they need them to call the APIs.
    let internal_key = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let sandbox_key = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
    settings.internal_api_key = Some(SecretString::from(internal_key.clone()));
    // Signs the demo's embed links; never shown (the links carry what it signs).
    let embed_secret = format!(
        "demo-embed-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    settings.embed.signing_secret = Some(SecretString::from(embed_secret));

    let sandbox =
        SandboxJobNimbus::start(SandboxConfig::new(sandbox_key.clone(), SANDBOX_SEED)).await?;
    settings.jobnimbus.api_key = Some(SecretString::from(sandbox_key.clone()));
    settings.jobnimbus.base_url = sandbox.base_url();
    // A loopback sandbox needs no protecting from us.
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    let jobber = start_sandbox_jobber(&mut settings).await?;

    let app = Application::build(&settings).await?;
    let base = format!("http://{}:{}", settings.host, app.port());
    let state = app.state().clone();
    let engine = state
        .jobnimbus
        .clone()
        .ok_or("the demo's JobNimbus sync is not configured")?;
    let server = tokio::spawn(app.run_until_stopped());

    println!("unified-crm demo: first import from the sandbox JobNimbus…");
    let mut last = None;
    for resource in [SyncResource::Jobs, SyncResource::Contacts] {
        let report = engine
            .sync_once(SyncRequest {
                resource,
                mode: SyncMode::Incremental,
                trigger: SyncTrigger::Import,
            })
            .await?;
        print_import(&report);
        last = report.last_position.or(last);
    }
    if let Some(position) = last {
        state
            .progress
            .wait_for(position, Duration::from_secs(60))
            .await?;
    }
    if let Some(photo_sync) = &state.photo_sync {
        let jobs = active_jobs(&state.db).await?;
        println!(
            "unified-crm demo: pulling the photos and documents of {} jobs…",
            jobs.len()
        );
        let caller = PhotoSyncCaller::with_new_request_id("demo");
        let report = photo_sync.sync_jobs(jobs, &caller).await;
        println!(
            "  photos: {} jobs, {} photos, {} documents, {} failed",
            report.succeeded, report.photos, report.documents, report.failed
        );
        if let Some(position) = report.last_position {
            state
                .progress
                .wait_for(position, Duration::from_secs(60))
                .await?;
        }
    }
    // QC and risk for every imported job right away, rather than when the policy or the
    // daily pass gets to them.
    let evaluation = state
        .evaluator
        .evaluate_all_once(
            state.evaluator.clock().now(),
            domain::EvaluationTrigger::Cli,
        )
        .await?;
    // The policy may have recorded most outcomes as the jobs and photos arrived; this pass
    // then finds them unchanged, so say how many are held rather than how many it added.
    let held = EventLog::new(state.db.clone())
        .count_of_type("JobEvaluation")
        .await?;
    println!(
        "  QC and risk: {} jobs checked, {held} outcomes recorded so far",
        evaluation.jobs_checked
    );
    if let Some(position) = evaluation.last_position {
        state
            .progress
            .wait_for(position, Duration::from_secs(60))
            .await?;
    }

    let key = internal_key;
    // The demo's whole point is these lines, so they go to stdout for the person.
    println!();
    println!("unified-crm is running on {base} (SQLite: {DEMO_DB})");
    println!("  API docs:     {base}/docs");
    println!("  OpenAPI:      {base}/openapi.json");
    println!("  Readiness:    {base}/health/ready");
    println!("  Metrics:      {base}/metrics");
    println!("  Internal key: {key}");
    println!("Try:");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/jobs?limit=5'");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/contacts?limit=5'");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/sync/logs'");
    let first_job = active_jobs(&state.db).await?.into_iter().next();
    if let Some(job) = &first_job {
        println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/jobs/{job}/photos'");
        println!(
            "  curl -X POST -H 'x-internal-api-key: {key}' -H 'Idempotency-Key: demo-note-1' \\\n    \
             -H 'content-type: application/json' -d '{{\"text\":\"QC passed\"}}' \\\n    \
             '{base}/api/v1/jobs/{job}/notes'"
        );
        println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/jobs/{job}/history'");
    }
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/qc/jobs?status=FAIL'");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/api/v1/risk/jobs?level=HIGH&limit=5'");
    println!("  curl -X POST -H 'x-internal-api-key: {key}' '{base}/api/v1/risk/evaluate-all'");
    println!("  curl -X POST -H 'x-internal-api-key: {key}' '{base}/api/v1/sync/jobs'");
    println!(
        "Sandbox JobNimbus: {} (Authorization: Bearer {sandbox_key})",
        sandbox.base_url()
    );
    println!(
        "Sandbox Jobber:    {} (consents automatically; try the OAuth flow:)",
        jobber.base_url()
    );
    println!("  curl -L '{base}/auth/jobber/authorize?userid=42'");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/auth/jobber/status/42'");
    println!("  curl -H 'x-internal-api-key: {key}' '{base}/auth/jobber/refresh/42'");
    if let Some(job) = first_job {
        print_embed_links(&state, job).await?;
    }
    println!("Press Ctrl-C to stop.");

    server.await??;
    sandbox.shutdown().await?;
    jobber.shutdown().await?;
    Ok(())
}

/// Issues one link per panel for `job` (recorded like any other, with the demo as caller)
/// and prints them: each opens in a browser as the CRM's iframe would show it.
async fn print_embed_links(state: &AppState, job: JobId) -> Result<(), Box<dyn std::error::Error>> {
    let ttl_minutes = state.embed.links.ttl().num_minutes();
    println!("Embedded panels of {job} (open in a browser; valid {ttl_minutes} minutes):");
    let caller = HashMap::from([
        ("actor".to_string(), "demo".to_string()),
        ("caller".to_string(), "demo".to_string()),
    ]);
    for panel in PanelType::ALL {
        let issued = state
            .embed
            .links
            .issue(job.clone(), panel, Utc::now(), caller.clone())
            .await?;
        println!(
            "  {:<21} {}",
            panel.as_str(),
            state.embed.url(panel, &issued.token)
        );
    }
    Ok(())
}

/// Starts the sandbox Jobber and points the `JOBBER_*` settings at it, with a throw-away
/// client secret and token encryption key (the demo database is new every run, so nothing
/// sealed with an old key is ever read again).
async fn start_sandbox_jobber(
    settings: &mut Settings,
) -> Result<RunningJobberSandbox, Box<dyn std::error::Error>> {
    let client_id = "demo-jobber-app".to_string();
    let client_secret = SecretString::from(format!("demo-{}", uuid::Uuid::new_v4().simple()));
    let jobber = SandboxJobber::start(JobberSandboxConfig::new(
        client_id.clone(),
        client_secret.clone(),
    ))
    .await?;
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    settings.jobber.app = Some(JobberApp {
        client_id,
        client_secret,
        redirect_uri: format!(
            "http://{}:{}/auth/jobber/callback",
            settings.host, settings.port
        ),
    });
    settings.jobber.api_url = jobber.graphql_url();
    settings.jobber.tokens_url = jobber.token_url();
    settings.jobber.authorize_url = jobber.authorize_url();
    settings.jobber.token_encryption_key = Some(SecretString::from(format!(
        "demo:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )));
    Ok(jobber)
}

fn print_import(report: &SyncReport) {
    let o = &report.outcome;
    println!(
        "  {:<8} {} fetched, {} created, {} failed in {:.1?}",
        report.request.resource.as_str(),
        o.fetched,
        o.created,
        o.failed,
        report.duration
    );
}

/// Removes the SQLite file and its WAL companions, if present.
fn remove_database(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Every active job of the mirror, page by page.
async fn active_jobs(db: &Db) -> Result<Vec<JobId>, Box<dyn std::error::Error>> {
    let mut jobs = Vec::new();
    let mut query = JobQuery {
        limit: 200,
        ..JobQuery::default()
    };
    loop {
        let page = job_mirror::query::list(db, &query).await?;
        for row in page.rows {
            jobs.push(row.job_id.parse::<JobId>()?);
        }
        match page.next {
            Some(after) => query.after = Some(after),
            None => return Ok(jobs),
        }
    }
}
