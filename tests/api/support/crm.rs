//! Sandbox CRMs and sync engines wired to them, for tests that sync.

use std::time::Duration;

use adapters::jobnimbus::sandbox::{FaultConfig, RunningSandbox, SandboxConfig, SandboxJobNimbus};
use adapters::jobnimbus::{ClientConfig, JobNimbusClient};
use adapters::sync::{SyncEngine, SyncSettings};
use secrecy::SecretString;

use super::TestDb;

/// The API key of test sandboxes (a fake; sandboxes accept only it).
pub const SANDBOX_KEY: &str = "sandbox-test-key";

/// A JobNimbus sandbox with `jobs` jobs and `contacts` contacts, healthy unless `faults`.
pub async fn jobnimbus(jobs: usize, contacts: usize, faults: FaultConfig) -> RunningSandbox {
    let mut config = SandboxConfig::new(SANDBOX_KEY, 7);
    config.jobs = jobs;
    config.contacts = contacts;
    // Files, notes and tasks are not synced here; fewer keeps big sandboxes quick to build.
    config.files_per_job = 0;
    config.activities_per_job = 0;
    config.tasks_per_job = 0;
    config.faults = faults;
    SandboxJobNimbus::start(config)
        .await
        .expect("start the JobNimbus sandbox")
}

/// A client for `sandbox` that retries quickly and does not pace itself, so fault-heavy
/// tests stay fast; the retry policy itself is what is under test, not its timings.
pub fn client(sandbox: &RunningSandbox) -> JobNimbusClient {
    let mut config = ClientConfig::new(sandbox.base_url(), SecretString::from(SANDBOX_KEY));
    config.timeout = Duration::from_secs(10);
    config.max_retries = 8;
    config.backoff_base = Duration::from_millis(5);
    config.backoff_cap = Duration::from_millis(50);
    config.retry_after_cap = Duration::from_millis(50);
    config.min_request_interval = Duration::ZERO;
    JobNimbusClient::new(config).expect("client")
}

pub fn engine(test_db: &TestDb, sandbox: &RunningSandbox) -> SyncEngine {
    engine_with(test_db, sandbox, SyncSettings::default())
}

pub fn engine_with(
    test_db: &TestDb,
    sandbox: &RunningSandbox,
    settings: SyncSettings,
) -> SyncEngine {
    SyncEngine::new(&test_db.db, &test_db.signal, client(sandbox), settings)
}

/// Faults as the acceptance criteria state them: 10% 5xx, 5% 429 (half with Retry-After),
/// latency spikes, and records edited while a client pages.
pub fn acceptance_faults() -> FaultConfig {
    FaultConfig {
        server_error: 0.10,
        rate_limit: 0.05,
        retry_after_share: 0.5,
        retry_after_secs: 1,
        spike_probability: 0.05,
        spike: Duration::from_millis(150),
        churn: 0.2,
        churn_edits: 5,
        churn_inserts: 1,
        ..FaultConfig::default()
    }
}
