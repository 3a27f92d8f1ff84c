//! Per-client rate limits on `/auth/…` and `/api/…`: in-process, shared through the local
//! Redis, and falling back to in-process while Redis is away.
//!
//! Budgets refill at one request per minute, so no test depends on how fast it runs: a
//! refused request stays refused for the whole test.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::rate_limit::{GroupQuota, Policy, RedisTarget};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use unified_crm::config::RateLimitSettings;

use crate::support::{Backend, TestApp, TestDb, INTERNAL_KEY};

const JOBS: &str = "/api/v1/jobs";
/// Limited whether or not a route answers there: the check runs before routing.
const AUTH: &str = "/auth/jobber/status/42";

/// `burst` requests at once, then one a minute.
fn quota(burst: u32) -> GroupQuota {
    GroupQuota {
        per_minute: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    }
}

fn in_process(auth_burst: u32, api_burst: u32) -> RateLimitSettings {
    RateLimitSettings {
        enabled: true,
        policy: Policy {
            auth: quota(auth_burst),
            api: quota(api_burst),
            trust_proxy_headers: false,
        },
        redis: None,
    }
}

fn through_redis(url: &str, prefix: &str, api_burst: u32) -> RateLimitSettings {
    let target = RedisTarget::new(url, prefix)
        .unwrap()
        // Generous: a loaded test machine must not turn a slow answer into a fallback.
        .with_timeout(Duration::from_secs(2));
    RateLimitSettings {
        redis: Some(target),
        ..in_process(1, api_burst)
    }
}

async fn get(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .header("x-internal-api-key", INTERNAL_KEY);
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.expect("request")
}

async fn statuses(app: &TestApp, path: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(get(app, path, None).await.status().as_u16());
    }
    statuses
}

/// The local Redis (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), or `None` with a
/// note when it does not answer, unless `REQUIRE_REDIS_TESTS=1`.
async fn local_redis() -> Option<String> {
    let url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    if TcpStream::connect(address).await.is_ok() {
        return Some(url);
    }
    assert!(
        std::env::var("REQUIRE_REDIS_TESTS").as_deref() != Ok("1"),
        "REQUIRE_REDIS_TESTS=1 but Redis does not answer at {url}"
    );
    eprintln!("skipped: Redis does not answer at {url}");
    None
}

/// Keys of this test alone, so runs and parallel tests never share a budget.
fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("unified-crm-test:{test}:{}:{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_after_the_burst_gets_429_problem_json_with_retry_after() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with_rate_limits(&db, in_process(1, 3)).await;

    assert_eq!(statuses(&app, JOBS, 3).await, [200, 200, 200]);
    let refused = get(&app, JOBS, None).await;

    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["type"], "/problems/rate_limited");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("Rate limit exceeded"), "{detail}");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("rate_limited_total{group=\"api\"}"),
        "no rate_limited_total for the api group:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_paths_have_their_own_stricter_budget() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with_rate_limits(&db, in_process(2, 5)).await;

    let auth = statuses(&app, AUTH, 3).await;

    assert!(!auth[..2].contains(&429), "{auth:?}");
    assert_eq!(auth[2], 429);
    assert_eq!(statuses(&app, JOBS, 5).await, [200; 5]);
    assert_eq!(statuses(&app, JOBS, 1).await, [429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_have_separate_budgets() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut limits = in_process(1, 2);
    limits.policy.trust_proxy_headers = true;
    let app = TestApp::spawn_with_rate_limits(&db, limits).await;
    let (first, second) = (Some("198.51.100.1"), Some("198.51.100.2, 10.0.0.1"));

    for _ in 0..2 {
        assert_eq!(get(&app, JOBS, first).await.status(), 200);
    }
    assert_eq!(get(&app, JOBS, first).await.status(), 429);

    assert_eq!(get(&app, JOBS, second).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_is_ignored_when_proxies_are_not_trusted() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with_rate_limits(&db, in_process(1, 2)).await;

    let mut seen = Vec::new();
    for n in 1..=3 {
        let forged = format!("198.51.100.{n}");
        seen.push(get(&app, JOBS, Some(&forged)).await.status().as_u16());
    }

    assert_eq!(seen, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_leading_slash_does_not_dodge_the_limit() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with_rate_limits(&db, in_process(1, 1)).await;
    assert_eq!(statuses(&app, JOBS, 1).await, [200]);

    assert_eq!(statuses(&app, "//api/v1/jobs", 1).await, [429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_docs_and_the_spec_are_never_limited() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with_rate_limits(&db, in_process(1, 1)).await;
    statuses(&app, JOBS, 2).await;
    statuses(&app, AUTH, 2).await;

    for path in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        let seen = statuses(&app, path, 5).await;
        assert_eq!(seen, [200; 5], "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_limited_when_rate_limiting_is_disabled() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut limits = in_process(1, 1);
    limits.enabled = false;
    let app = TestApp::spawn_with_rate_limits(&db, limits).await;

    assert_eq!(statuses(&app, JOBS, 5).await, [200; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_one_budget() {
    let Some(redis) = local_redis().await else {
        return;
    };
    let prefix = unique_prefix("shared");
    let (db_a, db_b) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    );
    let a = TestApp::spawn_with_rate_limits(&db_a, through_redis(&redis, &prefix, 4)).await;
    let b = TestApp::spawn_with_rate_limits(&db_b, through_redis(&redis, &prefix, 4)).await;
    assert!(a.state.rate_limiter.is_shared() && b.state.rate_limiter.is_shared());

    let mut seen = Vec::new();
    for app in [&a, &b, &a, &b] {
        seen.push(statuses(app, JOBS, 1).await[0]);
    }

    // Each instance served two, so alone each would still have two to give.
    assert_eq!(seen, [200; 4]);
    assert_eq!(statuses(&a, JOBS, 1).await, [429]);
    assert_eq!(statuses(&b, JOBS, 1).await, [429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_requests_are_answered_and_limited_in_process() {
    let db = TestDb::new(Backend::Sqlite).await;
    let limits = through_redis("redis://127.0.0.1:1", &unique_prefix("down"), 2);
    let app = TestApp::spawn_with_rate_limits(&db, limits).await;
    assert!(!app.state.rate_limiter.is_shared());

    assert_eq!(statuses(&app, JOBS, 3).await, [200, 200, 429]);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("rate_limit_backend_fallback_total"),
        "no fallback counter:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_again_once_redis_comes_back() {
    let Some(redis) = local_redis().await else {
        return;
    };
    let proxy = RedisProxy::start(&redis).await;
    let prefix = unique_prefix("recovery");
    let (db_a, db_b) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    );
    let trusting = |url: &str| {
        let mut limits = through_redis(url, &prefix, 3);
        limits.policy.trust_proxy_headers = true;
        limits
    };
    let via_proxy = TestApp::spawn_with_rate_limits(&db_a, trusting(&proxy.url)).await;
    let direct = TestApp::spawn_with_rate_limits(&db_b, trusting(&redis)).await;
    assert!(via_proxy.state.rate_limiter.is_shared());
    let client = Some("198.51.100.1");

    proxy.take_down().await;
    // Redis is away: still answered, from the instance's own budget.
    assert_eq!(get(&via_proxy, JOBS, client).await.status(), 200);
    assert!(!via_proxy.state.rate_limiter.is_shared());

    proxy.bring_back();
    // Requests (of another client, to keep `client`'s budgets untouched) trigger the
    // background reconnection; none waits for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !via_proxy.state.rate_limiter.is_shared() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never went back to Redis"
        );
        get(&via_proxy, JOBS, Some("198.51.100.99")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The shared budget of 3 never saw the request served in-process; the instance's own
    // budget would still have 2 to give.
    assert_eq!(get(&direct, JOBS, client).await.status(), 200);
    assert_eq!(get(&via_proxy, JOBS, client).await.status(), 200);
    assert_eq!(get(&direct, JOBS, client).await.status(), 200);
    assert_eq!(get(&via_proxy, JOBS, client).await.status(), 429);
    assert_eq!(get(&direct, JOBS, client).await.status(), 429);
}

/// A TCP relay to Redis that can be taken down (its connections cut, new ones closed at
/// once) and brought back: an outage without touching the real server.
struct RedisProxy {
    url: String,
    up: Arc<AtomicBool>,
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl RedisProxy {
    async fn start(redis_url: &str) -> RedisProxy {
        let upstream = redis_url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let relays = Arc::new(Mutex::new(Vec::new()));
        let accepting = tokio::spawn({
            let (up, relays) = (up.clone(), relays.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees its connection closed
                    }
                    let upstream = upstream.clone();
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    relays.lock().unwrap().push(relay);
                }
            }
        });
        RedisProxy {
            url,
            up,
            relays,
            accepting,
        }
    }

    /// Returns once every relayed connection is closed.
    async fn take_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        let relays: Vec<_> = self.relays.lock().unwrap().drain(..).collect();
        for relay in relays {
            relay.abort();
            let _ = relay.await;
        }
    }

    fn bring_back(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        for relay in self.relays.lock().unwrap().iter() {
            relay.abort();
        }
    }
}
