//! Builds the running service: database, migrations, projections, HTTP server.

use std::sync::Arc;
use std::time::Duration;

use adapters::embed::{EmbedLinks, EmbedSigner};
use adapters::jobber::{GraphqlClient, JobberConnections, OAuthClient, OAuthConfig, RefreshPolicy};
use adapters::jobnimbus::webhook_inbox::{
    ProcessorSettings, WebhookInbox, WebhookProcessor, WebhookReceiver, WebhookToken,
};
use adapters::jobnimbus::{ClientConfig, JobNimbusClient};
use adapters::store::{AppendSignal, Db, EventLog, StoreError};
use adapters::sync::{PhotoSync, SyncEngine, SyncSettings, DEFAULT_PHOTO_SYNC_CONCURRENCY};
use adapters::vault::{Keyring, TokenVault};
use api::embed::EmbedPanels;
use api::rate_limit::RateLimiter;
use api::AppState;
use poem::listener::{Acceptor, Listener, TcpAcceptor};
use poem::Server;
use projections::evaluation::{Clock, CrmWorkflowSource, EvaluationPolicy, Evaluator};
use projections::{ProjectionProgress, ProjectionRunner, RunnerConfig};
use tokio::task::JoinHandle;
use tokio_cron_scheduler::JobScheduler;

use crate::config::{RateLimitSettings, Settings};
use crate::scheduler;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error("cannot set up the JobNimbus client: {0}")]
    JobNimbus(#[from] adapters::jobnimbus::ClientError),
    #[error("cannot set up Jobber: {0}")]
    Jobber(String),
    #[error("cannot start the sync scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

/// A built service, listening but not yet serving.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: AppState,
    background: BackgroundTasks,
    scheduler: Option<JobScheduler>,
    evaluation_scheduler: Option<JobScheduler>,
}

/// Tasks that live as long as the server: aborted when it stops or its future is dropped.
struct BackgroundTasks(Vec<JoinHandle<()>>);

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Application {
    /// Connects, migrates, starts projection runners and binds the listener (port 0 picks a
    /// free port, which tests use).
    pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// As `build`, with evaluations made at `clock`'s instants (tests move it forward).
    pub async fn build_with_clock(
        settings: &Settings,
        clock: Clock,
    ) -> Result<Application, StartupError> {
        let internal_api_key = settings.internal_key_for_serving()?;
        let embed_secret = settings.embed_secret_for_serving()?;
        let db = Db::connect(&settings.database, settings.db_max_connections).await?;
        db.migrate().await?;
        let signal = AppendSignal::new();
        let (progress, background) = start_read_side(&db, &signal);

        let address = format!("{}:{}", settings.host, settings.port);
        let acceptor = poem::listener::TcpListener::bind(address.clone())
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Listen { address, source })?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(settings.port);
        let jobnimbus = sync_engine(settings, &db, &signal)?;
        let scheduler = match &jobnimbus {
            Some(engine) if settings.jobnimbus.sync_enabled => Some(
                scheduler::start(
                    scheduler::ScheduledSync {
                        engine: engine.clone(),
                        db: db.clone(),
                        reconcile_every: settings.jobnimbus.reconcile_every,
                        hold_at_least: scheduler::DEFAULT_TICK_HOLD,
                    },
                    &settings.jobnimbus.sync_cron,
                )
                .await?,
            ),
            Some(_) => {
                tracing::info!("JOBNIMBUS_SYNC_ENABLED=false: no scheduled syncs");
                None
            }
            None => {
                tracing::info!("JOBNIMBUS_API_KEY is not set: JobNimbus sync is off");
                None
            }
        };
        let photo_sync = jobnimbus.as_ref().map(|engine| {
            PhotoSync::new(
                &db,
                &signal,
                engine.client().clone(),
                DEFAULT_PHOTO_SYNC_CONCURRENCY,
            )
        });
        let jobber = jobber_connections(settings, &db, &signal)?;
        let mut background = background;
        let jobnimbus_webhooks =
            jobnimbus_webhooks(settings, &db, &signal, jobnimbus.as_ref(), &mut background);
        if let Some(connections) = &jobber {
            background.push(scheduler::spawn_jobber_refresh(
                db.clone(),
                connections.clone(),
                settings.jobber.refresh_check_every,
            ));
        }
        let write_backs = write_backs(settings, &db, &signal, jobnimbus.as_ref(), &mut background);
        let rate_limiter = rate_limiter(&settings.rate_limit).await;
        let mut evaluator = Evaluator::new(&db, &signal, settings.evaluation.rules.clone(), clock);
        if let Some(engine) = &jobnimbus {
            evaluator =
                evaluator.with_crm_workflows(jobnimbus_workflows(engine), CRM_WORKFLOWS_REFRESH);
        }
        let evaluation_scheduler = evaluations(
            settings,
            &db,
            &signal,
            &progress,
            &evaluator,
            &mut background,
        )
        .await?;
        let embed = EmbedPanels {
            links: EmbedLinks::new(
                &db,
                &signal,
                EmbedSigner::new(&embed_secret, settings.embed.token_ttl),
            ),
            base_url: settings
                .embed
                .dashboard_base_url
                .clone()
                .unwrap_or_else(|| format!("http://{}:{port}", settings.host)),
            frame_ancestors: settings.embed.frame_ancestors.clone(),
        };
        let state = AppState {
            log: EventLog::new(db.clone()),
            db,
            progress,
            metrics: api::install_metrics_recorder(),
            read_your_writes_timeout: settings.read_your_writes_timeout,
            internal_api_key,
            jobnimbus_app_base_url: settings.jobnimbus_app_base_url.clone(),
            jobnimbus,
            photo_sync,
            jobber,
            jobnimbus_webhooks,
            embed,
            rate_limiter,
            evaluator,
            write_backs,
        };
        Ok(Application {
            acceptor,
            port,
            state,
            background: BackgroundTasks(background),
            scheduler,
            evaluation_scheduler,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (up to 10 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _background = self.background;
        let scheduler = self.scheduler;
        let evaluation_scheduler = self.evaluation_scheduler;
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                api::routes(self.state.clone()),
                shutdown_signal(),
                Some(Duration::from_secs(10)),
            )
            .await;
        if let Some(mut scheduler) = scheduler {
            // A run in progress is cut off with the process; its committed pages stay and
            // the cursor says where the next run resumes.
            let _ = scheduler.shutdown().await;
        }
        if let Some(mut scheduler) = evaluation_scheduler {
            let _ = scheduler.shutdown().await;
        }
        self.state.db.close().await;
        result
    }
}

/// Starts every projection's runner (and, on PostgreSQL, the NOTIFY listener that wakes
/// them for other instances' writes). The tasks stop when their handles are aborted.
pub fn start_read_side(
    db: &Db,
    signal: &AppendSignal,
) -> (ProjectionProgress, Vec<JoinHandle<()>>) {
    let mut tasks = Vec::new();
    if let Db::Postgres(pool) = db {
        tasks.push(signal.spawn_postgres_listener(pool.clone()));
    }
    let all = projections::all();
    let names: Vec<&'static str> = all.iter().map(|p| p.name()).collect();
    let progress = ProjectionProgress::new(db, &names);
    let runner = ProjectionRunner::new(db, signal, &progress, RunnerConfig::default());
    tasks.extend(runner.spawn(all));
    (progress, tasks)
}

/// With `EVALUATION_AUTOMATIC`: the policy that re-evaluates a job when its events change
/// what the rules read (pushed onto `background`), and the daily pass's scheduler.
async fn evaluations(
    settings: &Settings,
    db: &Db,
    signal: &AppendSignal,
    progress: &ProjectionProgress,
    evaluator: &Evaluator,
    background: &mut Vec<JoinHandle<()>>,
) -> Result<Option<JobScheduler>, StartupError> {
    if !settings.evaluation.automatic {
        tracing::info!("EVALUATION_AUTOMATIC=false: QC and risk are evaluated on request only");
        return Ok(None);
    }
    background.push(EvaluationPolicy::new(db, signal, progress, evaluator).spawn());
    let daily = scheduler::ScheduledEvaluation {
        evaluator: evaluator.clone(),
        db: db.clone(),
        hold_at_least: scheduler::DEFAULT_TICK_HOLD,
    };
    Ok(Some(
        scheduler::start_evaluations(daily, &settings.evaluation.cron).await?,
    ))
}

/// How often evaluations re-read the CRM's workflows: accounts rarely edit them.
const CRM_WORKFLOWS_REFRESH: Duration = Duration::from_secs(3600);

/// The account's job workflows, as JobNimbus lists them.
fn jobnimbus_workflows(engine: &SyncEngine) -> CrmWorkflowSource {
    let client = engine.client().clone();
    Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            client
                .fetch_job_workflows()
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// The sync engine when `JOBNIMBUS_API_KEY` is set.
pub fn sync_engine(
    settings: &Settings,
    db: &Db,
    signal: &AppendSignal,
) -> Result<Option<SyncEngine>, adapters::jobnimbus::ClientError> {
    let jobnimbus = &settings.jobnimbus;
    let Some(api_key) = &jobnimbus.api_key else {
        return Ok(None);
    };
    let mut client = ClientConfig::new(jobnimbus.base_url.clone(), api_key.clone());
    client.min_request_interval = jobnimbus.min_request_interval;
    client.files_base_url = jobnimbus.files_base_url.clone();
    let sync = SyncSettings {
        overlap: jobnimbus.sync_overlap,
        ..SyncSettings::default()
    };
    Ok(Some(SyncEngine::new(
        db,
        signal,
        JobNimbusClient::new(client)?,
        sync,
    )))
}

/// The JobNimbus webhook receiver, and its inbox processor pushed onto `background`, when
/// both the API key and `JOBNIMBUS_WEBHOOK_SECRET` are set.
fn jobnimbus_webhooks(
    settings: &Settings,
    db: &Db,
    signal: &AppendSignal,
    jobnimbus: Option<&SyncEngine>,
    background: &mut Vec<JoinHandle<()>>,
) -> Option<WebhookReceiver> {
    let secret = settings.jobnimbus.webhook_secret.as_ref()?;
    let Some(engine) = jobnimbus else {
        tracing::warn!(
            "JOBNIMBUS_WEBHOOK_SECRET is set but JOBNIMBUS_API_KEY is not: webhooks are off"
        );
        return None;
    };
    let inbox = WebhookInbox::new(db);
    let processor = WebhookProcessor::new(
        inbox.clone(),
        db,
        signal,
        engine.client().clone(),
        ProcessorSettings::default(),
    );
    background.push(scheduler::spawn_jobnimbus_webhooks(
        processor,
        settings.jobnimbus.webhook_poll_interval,
    ));
    Some(WebhookReceiver {
        token: WebhookToken::new(secret),
        inbox,
    })
}

/// Write-backs to JobNimbus, and their retry worker pushed onto `background`, when the API
/// key is set.
fn write_backs(
    settings: &Settings,
    db: &Db,
    signal: &AppendSignal,
    jobnimbus: Option<&SyncEngine>,
    background: &mut Vec<JoinHandle<()>>,
) -> Option<adapters::write_back::WriteBacks> {
    let engine = jobnimbus?;
    let write_backs = adapters::write_back::WriteBacks::new(
        db,
        signal,
        engine.client().clone(),
        settings.write_backs.clone(),
    );
    background.push(adapters::write_back::spawn_worker(write_backs.clone()));
    Some(write_backs)
}

/// The Jobber use cases, when the app's credentials are configured: OAuth client, GraphQL
/// client and the token vault under `TOKEN_ENCRYPTION_KEY`.
pub fn jobber_connections(
    settings: &Settings,
    db: &Db,
    signal: &AppendSignal,
) -> Result<Option<JobberConnections>, StartupError> {
    let jobber = &settings.jobber;
    let Some(app) = &jobber.app else {
        tracing::info!("JOBBER_CLIENT_ID is not set: Jobber connections are off");
        return Ok(None);
    };
    // Config validation already refused a missing or malformed key when the app is set.
    let key = jobber
        .token_encryption_key
        .as_ref()
        .ok_or_else(|| StartupError::Jobber("TOKEN_ENCRYPTION_KEY is not set".into()))?;
    let keyring = Keyring::parse(key).map_err(|e| StartupError::Jobber(e.to_string()))?;
    let timeout = Duration::from_secs(20);
    let oauth = OAuthClient::new(OAuthConfig {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        authorize_url: jobber.authorize_url.clone(),
        token_url: jobber.tokens_url.clone(),
        redirect_uri: app.redirect_uri.clone(),
        timeout,
    })
    .map_err(|e| StartupError::Jobber(e.to_string()))?;
    let graphql = GraphqlClient::new(&jobber.api_url, &jobber.graphql_version, timeout)
        .map_err(|e| StartupError::Jobber(e.to_string()))?;
    let policy = RefreshPolicy {
        margin: chrono::TimeDelta::from_std(jobber.refresh_margin)
            .unwrap_or(chrono::TimeDelta::minutes(5)),
        coalesce_within: chrono::TimeDelta::from_std(jobber.refresh_coalesce)
            .unwrap_or(chrono::TimeDelta::minutes(1)),
        ..RefreshPolicy::default()
    };
    Ok(Some(JobberConnections::new(
        db,
        signal,
        oauth,
        graphql,
        TokenVault::new(db.clone(), keyring),
        policy,
    )))
}

/// The limiter `settings` describe. Redis is tried once here; not reaching it is a warning
/// (limits are then enforced in-process until it answers), never a reason not to start.
pub async fn rate_limiter(settings: &RateLimitSettings) -> RateLimiter {
    if !settings.enabled {
        tracing::info!("RATE_LIMIT_ENABLED=false: no rate limits");
        return RateLimiter::disabled(settings.policy);
    }
    match &settings.redis {
        Some(target) => RateLimiter::shared(settings.policy, target.clone()).await,
        None => RateLimiter::in_process(settings.policy),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
