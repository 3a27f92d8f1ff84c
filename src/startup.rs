//! Builds the running service: database, migrations, projections, HTTP server.

use std::time::Duration;

use adapters::store::{AppendSignal, Db, EventLog, StoreError};
use api::AppState;
use poem::listener::{Acceptor, Listener, TcpAcceptor};
use poem::Server;
use projections::{ProjectionProgress, ProjectionRunner, RunnerConfig};
use tokio::task::JoinHandle;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
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
        let internal_api_key = settings.internal_key_for_serving()?;
        let db = Db::connect(&settings.database, settings.db_max_connections).await?;
        db.migrate().await?;
        let signal = AppendSignal::new();
        let mut background = Vec::new();
        if let Db::Postgres(pool) = &db {
            background.push(signal.spawn_postgres_listener(pool.clone()));
        }
        let all = projections::all();
        let names: Vec<&'static str> = all.iter().map(|p| p.name()).collect();
        let progress = ProjectionProgress::new(&db, &names);
        let runner = ProjectionRunner::new(&db, &signal, &progress, RunnerConfig::default());
        background.extend(runner.spawn(all));

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
        let state = AppState {
            log: EventLog::new(db.clone()),
            db,
            progress,
            metrics: api::install_metrics_recorder(),
            read_your_writes_timeout: settings.read_your_writes_timeout,
            internal_api_key,
            jobnimbus_app_base_url: settings.jobnimbus_app_base_url.clone(),
        };
        Ok(Application {
            acceptor,
            port,
            state,
            background: BackgroundTasks(background),
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
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                api::routes(self.state.clone()),
                shutdown_signal(),
                Some(Duration::from_secs(10)),
            )
            .await;
        self.state.db.close().await;
        result
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
