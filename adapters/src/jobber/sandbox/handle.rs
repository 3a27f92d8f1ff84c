//! Starting and stopping the sandbox Jobber, and the handle tests use to steer it: the
//! consent answer, who is signed in, the clock, disconnects, faults and counters.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::listener::TcpAcceptor;
use poem::Server;
use secrecy::ExposeSecret;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::clock::Clock;
use super::config::JobberSandboxConfig;
use super::faults::{FaultTarget, JobberSandboxStats};
use super::graphql::encoded_id;
use super::jwt::Signer;
use super::server::{JobberEndpoint, Shared, AUTHORIZE_PATH, GRAPHQL_PATH, TOKEN_PATH};
use super::state::{Consent, Grantee, State};
use super::JobberSandboxError;

/// Entry point: `SandboxJobber::start(config).await`.
pub struct SandboxJobber;

impl SandboxJobber {
    /// Checks the config, binds `127.0.0.1:{config.port}` and serves until the returned
    /// [`RunningJobberSandbox`] is shut down or dropped.
    pub async fn start(
        config: JobberSandboxConfig,
    ) -> Result<RunningJobberSandbox, JobberSandboxError> {
        let first_user = check(&config)?;
        let port = config.port;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| JobberSandboxError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| JobberSandboxError::Bind { port, source })?;
        let acceptor = TcpAcceptor::from_tokio(listener)
            .map_err(|source| JobberSandboxError::Bind { port, source })?;
        let shared = Arc::new(Shared {
            signer: Signer::new(config.signing_secret.expose_secret()),
            clock: Clock::default(),
            state: Mutex::new(State::new(config.seed, first_user, config.rotation)),
            config,
        });
        let endpoint = JobberEndpoint {
            shared: shared.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async {
                        // A dropped sender also means "stop".
                        let _ = stopped.await;
                    },
                    Some(Duration::from_secs(2)),
                )
                .await
        });
        tracing::info!(%addr, "sandbox Jobber listening");
        Ok(RunningJobberSandbox {
            addr,
            handle: JobberSandboxHandle { shared },
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// The first user, once every user's account exists and there is something to serve.
fn check(config: &JobberSandboxConfig) -> Result<Grantee, JobberSandboxError> {
    let invalid = |message: &str| Err(JobberSandboxError::Config(message.to_owned()));
    if config.versions.is_empty() {
        return invalid("at least one API version is needed");
    }
    if config.client_id.is_empty() || config.client_secret.expose_secret().is_empty() {
        return invalid("the client id and secret must not be empty");
    }
    if let Some(user) = config
        .users
        .iter()
        .find(|u| !config.accounts.iter().any(|a| a.id == u.account_id))
    {
        return invalid(&format!(
            "user {} belongs to account {}, which is not configured",
            user.id, user.account_id
        ));
    }
    match config.users.first() {
        Some(user) => Ok(Grantee::from(user)),
        None => invalid("at least one user is needed"),
    }
}

/// A sandbox that is serving. Dropping it stops the server in the background; call
/// [`RunningJobberSandbox::shutdown`] to wait for that.
pub struct RunningJobberSandbox {
    addr: SocketAddr,
    handle: JobberSandboxHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningJobberSandbox {
    /// `http://127.0.0.1:<port>` (no trailing slash): stands in for `https://api.getjobber.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.base_url())
    }

    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    pub fn graphql_url(&self) -> String {
        format!("{}{GRAPHQL_PATH}", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> &JobberSandboxHandle {
        &self.handle
    }

    /// Stops accepting, lets in-flight requests finish (up to 2 s), and waits.
    pub async fn shutdown(mut self) -> Result<(), JobberSandboxError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(JobberSandboxError::Server),
                Err(e) => Err(JobberSandboxError::Server(std::io::Error::other(
                    e.to_string(),
                ))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for RunningJobberSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Steers the running sandbox from tests and the demo. Cheap to clone; all clones see the
/// same sandbox.
#[derive(Clone)]
pub struct JobberSandboxHandle {
    shared: Arc<Shared>,
}

impl JobberSandboxHandle {
    /// The sandbox's time: what token `exp`, code expiry and the cost bucket are measured by.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now_utc()
    }

    /// Moves the sandbox clock forward (whole seconds), so tokens and codes expire without
    /// waiting. The clock keeps running in real time from there.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// What the signed-in user answers on the next consent screens (default: grant).
    pub fn set_consent(&self, consent: Consent) {
        self.shared.state().consent = consent;
    }

    /// Signs another configured user in: later codes, and the tokens they buy, are theirs.
    pub fn sign_in_as(&self, user_id: u64) -> Result<(), JobberSandboxError> {
        let user = self
            .shared
            .config
            .users
            .iter()
            .find(|u| u.id == user_id)
            .ok_or(JobberSandboxError::UnknownUser(user_id))?;
        self.shared.state().signed_in = Grantee::from(user);
        Ok(())
    }

    /// Turns refresh-token rotation on or off, as the Developer Center setting does.
    pub fn set_rotation(&self, on: bool) {
        self.shared.state().rotation = on;
    }

    /// The account owner disconnects the app in Jobber: same effect as `appDisconnect`.
    pub fn revoke_account(&self, account_id: u64) {
        self.shared.state().disconnect(account_id);
    }

    /// Refresh tokens of the account that would still be accepted.
    pub fn live_refresh_tokens(&self, account_id: u64) -> usize {
        self.shared.state().live_refresh_tokens(account_id)
    }

    /// What the account's `id` is in GraphQL answers (its EncodedId).
    pub fn account_encoded_id(&self, account_id: u64) -> String {
        encoded_id("Account", account_id)
    }

    /// The next `count` requests to `target` fail with `status` before touching any state.
    /// Token endpoint: 400 is `invalid_grant`, 401 `invalid_client`, others an HTML page.
    /// GraphQL: 401 an invalid-token answer, 429 the request cap, 503 "Service temporarily
    /// unavailable", others an HTML page. A count of 0 cancels what is still due.
    pub fn fail_next(&self, target: FaultTarget, count: u32, status: u16) {
        self.shared.state().faults.fail_next(target, count, status);
    }

    /// Added before every request is handled (zero to turn it off).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().faults.latency = latency;
    }

    /// Sets what is left in the account's query-cost bucket (it refills at 500 per second of
    /// sandbox time), to provoke `THROTTLED`.
    pub fn set_query_budget(&self, account_id: u64, available: u32) {
        let now = self.shared.clock.now();
        self.shared
            .state()
            .set_available(account_id, available, now);
    }

    pub fn stats(&self) -> JobberSandboxStats {
        self.shared.state().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.shared.state().stats = JobberSandboxStats::default();
    }
}
