//! Starting and stopping the sandbox, and the handle tests use to look at and change its
//! data and faults while it runs.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::Server;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::data::Sizes;
use super::faults::{FaultConfig, FaultStats, Faults};
use super::net::{KillSwitches, KillableAcceptor};
use super::server::{Clock, SandboxEndpoint, Shared};
use super::store::{Author, Store};
use super::uploads::Uploads;
use super::webhooks::{WebhookConfig, WebhookStats, Webhooks};
use super::{Resource, SandboxConfig, SandboxError};

/// Entry point: `SandboxJobNimbus::start(config).await`.
pub struct SandboxJobNimbus;

impl SandboxJobNimbus {
    /// Generates the data, binds `127.0.0.1:{config.port}` and serves until the returned
    /// [`RunningSandbox`] is shut down or dropped.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let SandboxConfig {
            api_key,
            seed,
            contacts,
            jobs,
            files_per_job,
            activities_per_job,
            tasks_per_job,
            anchor,
            port,
            faults,
            webhook,
        } = config;
        let sizes = Sizes {
            contacts,
            jobs,
            files_per_job,
            activities_per_job,
            tasks_per_job,
        };
        // Tens of thousands of records take a moment: keep it off the async workers.
        let store = tokio::task::spawn_blocking(move || Store::generate(seed, sizes, anchor))
            .await
            .map_err(|e| SandboxError::Generate(e.to_string()))?;

        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| SandboxError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { port, source })?;
        let acceptor = TcpAcceptor::from_tokio(listener)
            .map_err(|source| SandboxError::Bind { port, source })?;
        let kills = KillSwitches::default();
        let shared = Arc::new(Shared {
            api_key,
            store: std::sync::RwLock::new(store),
            uploads: std::sync::Mutex::new(Uploads::new(seed)),
            faults: Faults::new(seed, faults),
            clock: Clock::new(anchor),
            kills: kills.clone(),
            webhooks: Webhooks::start(seed, webhook)?,
        });
        let endpoint = SandboxEndpoint {
            shared: shared.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::new_with_acceptor(KillableAcceptor::new(acceptor, kills));
        let task = tokio::spawn(async move {
            server
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
        tracing::info!(%addr, seed, jobs, contacts, "sandbox JobNimbus listening");
        Ok(RunningSandbox {
            addr,
            handle: SandboxHandle { shared },
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A sandbox that is serving. Dropping it stops the server in the background; call
/// [`RunningSandbox::shutdown`] to wait for that.
pub struct RunningSandbox {
    addr: SocketAddr,
    handle: SandboxHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    /// The API base, e.g. `http://127.0.0.1:41234/api1` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}/api1", self.addr)
    }

    /// Where the files service lives (`{this}/files/v1/uploads/…`), e.g.
    /// `http://127.0.0.1:41234`: the host root, as on `app.jobnimbus.com`.
    pub fn files_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A cloneable handle to the data and faults.
    pub fn handle(&self) -> &SandboxHandle {
        &self.handle
    }

    /// Stops accepting, lets in-flight requests finish (up to 2 s), and waits.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(SandboxError::Server),
                Err(e) => Err(SandboxError::Server(std::io::Error::other(e.to_string()))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads and changes the running sandbox from tests. Changes go through the same rules as
/// the HTTP writes (validation, `date_updated` bumps, status-change activities) and, like a
/// user working in the web app, fire the automation webhooks.
#[derive(Clone)]
pub struct SandboxHandle {
    shared: Arc<Shared>,
}

impl SandboxHandle {
    /// One record as the API would return it.
    pub fn get(&self, resource: Resource, jnid: &str) -> Option<Value> {
        self.shared.read().get(resource, jnid).map(|r| r.to_value())
    }

    /// All records of a resource in creation order (soft-deleted ones included).
    pub fn records(&self, resource: Resource) -> Vec<Value> {
        self.shared
            .read()
            .all(resource)
            .iter()
            .map(|r| r.to_value())
            .collect()
    }

    pub fn count(&self, resource: Resource) -> usize {
        self.shared.read().len(resource)
    }

    /// A deterministic pseudo-random jnid of `resource`, for tests that need "some record".
    pub fn random_jnid(&self, resource: Resource) -> Option<String> {
        self.shared.write().random_jnid(resource)
    }

    /// Same as `PUT /api1/{resource}/{jnid}` with `patch` (a JSON object).
    pub fn update(
        &self,
        resource: Resource,
        jnid: &str,
        patch: Value,
    ) -> Result<Value, SandboxError> {
        let patch = as_object(patch)?;
        let now = self.shared.clock.now();
        self.shared
            .apply(false, |store| store.update(resource, jnid, &patch, now))
            .map(Value::Object)
    }

    /// Same as `PUT` with `{"is_active": false}`.
    pub fn soft_delete(&self, resource: Resource, jnid: &str) -> Result<Value, SandboxError> {
        self.update(resource, jnid, serde_json::json!({ "is_active": false }))
    }

    /// Removes a record from every list and get, as when it is deleted for good in the web
    /// app or falls outside the API key's access profile: no `is_active` flag, no
    /// `date_updated` bump, it is simply gone. Returns whether it existed.
    pub fn purge(&self, resource: Resource, jnid: &str) -> bool {
        self.shared.write().purge(resource, jnid)
    }

    /// Same as `POST /api1/{resource}` with `body` (a JSON object).
    pub fn create(&self, resource: Resource, body: Value) -> Result<Value, SandboxError> {
        let body = as_object(body)?;
        let now = self.shared.clock.now();
        self.shared
            .apply(false, |store| {
                store.create(resource, &body, now, Author::default())
            })
            .map(Value::Object)
    }

    /// A photo attached to `job` in the web app (as a user would, so the automation
    /// announces it): `filename` and `description` as given, type Photo. Returns its jnid.
    pub fn attach_photo(
        &self,
        job: &str,
        filename: &str,
        description: &str,
    ) -> Result<String, SandboxError> {
        self.attach_photo_with_visibility(job, filename, description, false)
    }

    /// Same as [`Self::attach_photo`], marked private (`is_private`) when `private`: the web
    /// app's "hide from customer" flag, which the API cannot change afterwards.
    pub fn attach_photo_with_visibility(
        &self,
        job: &str,
        filename: &str,
        description: &str,
        private: bool,
    ) -> Result<String, SandboxError> {
        let now = self.shared.clock.now();
        let mut file = Map::new();
        file.insert("filename".into(), Value::from(filename));
        file.insert("content_type".into(), Value::from("image/jpeg"));
        file.insert("size".into(), Value::from(48_213));
        file.insert("description".into(), Value::from(description));
        file.insert("record_type".into(), Value::from(2));
        file.insert("record_type_name".into(), Value::from("Photo"));
        file.insert("is_private".into(), Value::from(private));
        self.shared.apply(false, |store| {
            let jnid = store.reserve_jnid();
            store
                .add_file(&jnid, file, &[job.to_owned()], now, Author::default())
                .map(|_| jnid)
        })
    }

    /// Adds `n` generated jobs (with files, notes and tasks) created now; returns their jnids.
    pub fn add_jobs(&self, n: usize) -> Vec<String> {
        let now = self.shared.clock.now();
        self.shared
            .apply(false, |store| store.add_generated_jobs(n, now))
    }

    /// Adds `n` generated contacts created now; returns their jnids.
    pub fn add_contacts(&self, n: usize) -> Vec<String> {
        let now = self.shared.clock.now();
        self.shared
            .apply(false, |store| store.add_generated_contacts(n, now))
    }

    /// The sandbox's current time in unix seconds (what the next write will stamp).
    pub fn now(&self) -> i64 {
        self.shared.clock.now()
    }

    /// Moves the sandbox clock forward, so later writes look `seconds` newer without sleeping.
    pub fn advance_clock(&self, seconds: i64) {
        self.shared.clock.advance(seconds);
    }

    pub fn faults(&self) -> FaultConfig {
        self.shared.faults.config()
    }

    /// Replaces the fault configuration; takes effect from the next request.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.shared.faults.set_config(faults);
    }

    pub fn fault_stats(&self) -> FaultStats {
        self.shared.faults.stats()
    }

    pub fn reset_fault_stats(&self) {
        self.shared.faults.reset_stats();
    }

    pub fn webhook(&self) -> Option<WebhookConfig> {
        self.shared.webhooks.config()
    }

    /// Points the automation at a receiver (`None` switches it off); takes effect from the
    /// next write. Deliveries already queued keep their old target.
    pub fn set_webhook(&self, webhook: Option<WebhookConfig>) {
        self.shared.webhooks.set_config(webhook);
    }

    pub fn webhook_stats(&self) -> WebhookStats {
        self.shared.webhooks.stats()
    }

    pub fn reset_webhook_stats(&self) {
        self.shared.webhooks.reset_stats();
    }

    /// Waits until every webhook queued so far was delivered or given up (each delivery is
    /// bounded by its timeout and attempts).
    pub async fn flush_webhooks(&self) {
        self.shared.webhooks.flush().await;
    }
}

fn as_object(value: Value) -> Result<Map<String, Value>, SandboxError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(SandboxError::Invalid("body must be a JSON object".into())),
    }
}
