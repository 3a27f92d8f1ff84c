//! The command line: each subcommand is a thin wrapper over library code.

mod bench;
pub mod demo;
mod evaluation_bench;
mod import;
mod replay;
mod sandbox;
mod sync_bench;

use std::process::ExitCode;

use adapters::store::Db;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::Application;
use crate::telemetry;

#[derive(Parser, Debug)]
#[command(
    name = "unified-crm",
    version,
    about = "Event-sourced integration backend for field-service CRMs (Jobber, JobNimbus).",
    long_about = "Event-sourced integration backend for field-service CRMs (Jobber, JobNimbus).\n\n\
        Configuration comes from environment variables and an optional .env file:\n  \
        DATABASE_URL (postgres://… or sqlite:PATH) or DB_USER/DB_PASSWORD/DB_HOST/DB_NAME/DB_PORT;\n  \
        without either, an embedded SQLite file under DATA_DIR (default ./data).\n  \
        HOST (default 127.0.0.1), PORT (default 8080), LOG_FORMAT (text|json), RUST_LOG.\n  \
        INTERNAL_API_KEY (required by serve; the x-internal-api-key of internal endpoints),\n  \
        JOBNIMBUS_APP_BASE_URL (deep links, default https://app.jobnimbus.com)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP API and the projections (migrates the database first).
    Serve,
    /// Run a local demo, no credentials needed: a sandbox JobNimbus, an embedded SQLite
    /// database (./data/demo.db, started afresh), the server and a first import.
    Demo,
    /// Apply database migrations and exit.
    Migrate,
    /// Import every JobNimbus job and contact (JOBNIMBUS_API_KEY) into the event store and
    /// the mirror, with a progress bar; run again after an interruption to resume.
    Import(import::ImportArgs),
    /// Drop every read model and rebuild it from the first event, with a progress bar.
    ///
    /// On PostgreSQL, fails if a running server instance holds a projection: stop servers
    /// first.
    Replay {
        /// Events applied per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch_size: i64,
    },
    /// Print the OpenAPI specification (YAML) to stdout.
    Openapi,
    /// Run the sandbox CRMs alone on loopback: JobNimbus (seeded data) and Jobber (OAuth).
    Sandbox(sandbox::SandboxArgs),
    /// Measure throughput; prints one JSON object per figure on stdout.
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
}

impl Cli {
    pub async fn run(self) -> ExitCode {
        match self.command {
            Command::Openapi => {
                print!("{}", api::spec_yaml());
                ExitCode::SUCCESS
            }
            Command::Serve => with_settings_from(Settings::from_env_for_serving(), serve).await,
            Command::Demo => with_settings(demo::run).await,
            Command::Migrate => with_settings(migrate).await,
            Command::Import(args) => with_settings(move |s| import::run(s, args)).await,
            Command::Replay { batch_size } => {
                with_settings(move |s| replay::run(s, batch_size)).await
            }
            Command::Bench { target } => with_settings(move |s| bench::run(s, target)).await,
            Command::Sandbox(args) => {
                telemetry::init(crate::config::LogFormat::Text);
                match sandbox::run(args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("error: {error}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    }
}

/// Loads settings and telemetry, runs `action`, and turns its error into an exit code
/// after printing the error chain once.
async fn with_settings<F, Fut>(action: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    with_settings_from(Settings::from_env(), action).await
}

async fn with_settings_from<F, Fut>(
    settings: Result<Settings, crate::config::ConfigError>,
    action: F,
) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let settings = match settings {
        Ok(settings) => settings,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match action(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "command failed");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(&settings).await?;
    let base = format!("http://{}:{}", settings.host, app.port());
    tracing::info!(database = ?settings.database, %base, "unified-crm listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(&settings.database, 2).await?;
    db.migrate().await?;
    tracing::info!(backend = db.backend().as_str(), "migrations applied");
    db.close().await;
    Ok(())
}
