//! Shared test helpers: fresh databases per backend, `spawn_app`, and fixtures.

pub mod crm;
pub mod fixtures;

use std::num::NonZeroU32;
use std::time::Duration;

use adapters::store::{AppendSignal, DatabaseTarget, Db, ScratchDatabase};
use api::rate_limit::{GroupQuota, Policy};
use secrecy::SecretString;
use unified_crm::config::{
    EmbedSettings, EvaluationSettings, JobNimbusSettings, JobberSettings, LogFormat,
    RateLimitSettings, Settings,
};
use unified_crm::startup::Application;

/// The `x-internal-api-key` of test servers.
pub const INTERNAL_KEY: &str = "test-internal-key-0123456789";
/// What test servers sign embed links with.
pub const EMBED_SECRET: &str = "test-embed-signing-secret-0123456789abcdef";

/// Which database a test case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed `async fn name(Backend)` as two tests: `sqlite::name` and
/// `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::postgres_available() {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

/// Whether PostgreSQL tests can run. Without `TEST_DATABASE_URL` they are skipped (with a
/// note), unless `REQUIRE_POSTGRES_TESTS=1`, in which case the skip is a failure.
pub fn postgres_available() -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_POSTGRES_TESTS").as_deref() != Ok("1"),
        "REQUIRE_POSTGRES_TESTS=1 but TEST_DATABASE_URL is not set"
    );
    eprintln!("skipped: TEST_DATABASE_URL is not set");
    false
}

/// A fresh, migrated, empty database of the given backend.
pub struct TestDb {
    pub db: Db,
    pub signal: AppendSignal,
    scratch: Option<ScratchDatabase>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let near = match backend {
            Backend::Sqlite => DatabaseTarget::Sqlite("unused.db".into()),
            Backend::Postgres => DatabaseTarget::Postgres(SecretString::from(
                std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL"),
            )),
        };
        let scratch = ScratchDatabase::create(&near, "unified_crm_test")
            .await
            .expect("create a scratch database");
        let db = Db::connect(scratch.target(), 20).await.expect("connect");
        db.migrate().await.expect("migrate");
        TestDb {
            db,
            signal: AppendSignal::new(),
            scratch: Some(scratch),
        }
    }

    pub fn target(&self) -> DatabaseTarget {
        self.scratch.as_ref().expect("scratch").target().clone()
    }

    /// Settings for a server on this database, on a free port.
    pub fn settings(&self) -> Settings {
        Settings {
            database: self.target(),
            db_max_connections: 10,
            host: "127.0.0.1".to_string(),
            port: 0,
            log_format: LogFormat::Text,
            read_your_writes_timeout: Duration::from_secs(10),
            internal_api_key: Some(SecretString::from(INTERNAL_KEY)),
            jobnimbus_app_base_url: "https://app.jobnimbus.com".to_string(),
            jobnimbus: JobNimbusSettings::default(),
            jobber: JobberSettings::default(),
            embed: EmbedSettings {
                signing_secret: Some(SecretString::from(EMBED_SECRET)),
                ..EmbedSettings::default()
            },
            rate_limit: generous_rate_limits(),
            // Off unless a test is about it: automatic evaluations append events that
            // tests of other features would have to account for.
            evaluation: EvaluationSettings {
                automatic: false,
                ..EvaluationSettings::default()
            },
            write_backs: adapters::write_back::WriteBackSettings::default(),
        }
    }
}

/// In-process budgets no test comes near: every test's requests pass through the limiter,
/// and none is refused. Tests of the limits set their own.
pub fn generous_rate_limits() -> RateLimitSettings {
    let generous = GroupQuota {
        per_minute: NonZeroU32::new(GroupQuota::MAX_PER_MINUTE).expect("non-zero"),
        burst: NonZeroU32::new(1_000_000).expect("non-zero"),
    };
    RateLimitSettings {
        enabled: true,
        policy: Policy {
            auth: generous,
            api: generous,
            trust_proxy_headers: false,
        },
        redis: None,
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Remove the scratch database before the test ends, on a runtime of its own: the
        // test's runtime may be shutting down, and leftovers would pile up on CI.
        if let Some(scratch) = self.scratch.take() {
            let db = self.db.clone();
            let cleanup = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cleanup runtime");
                runtime.block_on(async move {
                    drop(db);
                    let _ = scratch.remove().await;
                });
            });
            let _ = cleanup.join();
        }
    }
}

/// A running server on a fresh database.
pub struct TestApp {
    pub address: String,
    pub state: api::AppState,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn spawn(test_db: &TestDb) -> TestApp {
        Self::spawn_with(test_db.settings()).await
    }

    /// A server whose JobNimbus is `sandbox` (no schedule: tests trigger syncs themselves,
    /// and no pacing: the sandbox is local).
    pub async fn spawn_with_jobnimbus(
        test_db: &TestDb,
        sandbox: &adapters::jobnimbus::sandbox::RunningSandbox,
    ) -> TestApp {
        let mut settings = test_db.settings();
        settings.jobnimbus.api_key = Some(SecretString::from(crm::SANDBOX_KEY));
        settings.jobnimbus.base_url = sandbox.base_url();
        settings.jobnimbus.sync_enabled = false;
        settings.jobnimbus.min_request_interval = Duration::ZERO;
        Self::spawn_with(settings).await
    }

    /// A server with the given rate limits.
    pub async fn spawn_with_rate_limits(test_db: &TestDb, limits: RateLimitSettings) -> TestApp {
        let mut settings = test_db.settings();
        settings.rate_limit = limits;
        Self::spawn_with(settings).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::spawn_with_clock(settings, projections::evaluation::Clock::system()).await
    }

    /// A server whose QC and risk evaluations read `clock` (tests move it forward).
    pub async fn spawn_with_clock(
        settings: Settings,
        clock: projections::evaluation::Clock,
    ) -> TestApp {
        let app = Application::build_with_clock(&settings, clock)
            .await
            .expect("build the application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            state,
            client: reqwest::Client::new(),
            server,
        }
    }

    /// GET with the internal API key.
    pub async fn get_internal(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("x-internal-api-key", INTERNAL_KEY)
            .send()
            .await
            .expect("request")
    }

    /// POST without a body, with the internal API key.
    pub async fn post_internal(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("x-internal-api-key", INTERNAL_KEY)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
