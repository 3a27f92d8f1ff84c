//! Budgets shared by every instance through Redis, and what happens while it is down.
//!
//! Each decision is one round trip: a Lua script (`gcra.lua`) reads and updates the client's
//! GCRA state atomically, on Redis's clock. When Redis errs or does not answer within the
//! target's timeout, the limiter is marked down (one warning) and requests are decided
//! in-process; one background attempt per second reconnects, and decisions go back to Redis
//! as soon as one succeeds.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::{ClientKey, Decision, Group, GroupQuota};

/// How long a request waits for Redis before deciding in-process, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// Prefix of our keys, by default; tests pick their own to stay apart.
pub const DEFAULT_PREFIX: &str = "unified-crm:rl";

/// While Redis is down, how often a reconnection is attempted.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Longest a (re)connection or its first command may take; it never runs on a request.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A `REDIS_URL` the client cannot use (the reason never includes the URL, which may hold a
/// password).
#[derive(Debug, thiserror::Error)]
#[error("not a Redis URL this build can use: {0}")]
pub struct InvalidRedisUrl(String);

/// Where shared budgets live: a Redis server, the prefix of our keys there, and how long a
/// request waits for it.
#[derive(Clone)]
pub struct RedisTarget {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
}

impl RedisTarget {
    /// `url` as `redis://[[user]:password@]host[:port][/db]` (or `unix://` a socket path).
    pub fn new(url: &str, prefix: impl Into<String>) -> Result<Self, InvalidRedisUrl> {
        let client = redis::Client::open(url).map_err(|e| InvalidRedisUrl(e.to_string()))?;
        Ok(Self {
            client,
            prefix: prefix.into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `host:port` (or the socket path): what logs may say about the target.
    pub fn address(&self) -> String {
        self.client.get_connection_info().addr.to_string()
    }

    fn key(&self, group: Group, client: ClientKey) -> String {
        format!("{}:{}:{client}", self.prefix, group.as_str())
    }
}

impl fmt::Debug for RedisTarget {
    /// Without the URL's credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("address", &self.address())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub(super) struct SharedLimits {
    shared: Arc<Shared>,
}

struct Shared {
    target: RedisTarget,
    script: Script,
    connection: Mutex<Option<ConnectionManager>>,
    /// Decisions go to Redis. Cleared by an error or a time-out, set again by a probe.
    up: AtomicBool,
    /// A probe is running; at most one at a time.
    probing: AtomicBool,
    origin: Instant,
    /// Milliseconds after `origin` of the last probe (or outage), to space probes.
    last_probe: AtomicU64,
}

impl SharedLimits {
    /// Connects once; when that fails, the limiter starts down and probes like after an
    /// outage.
    pub(super) async fn connect(target: RedisTarget) -> Self {
        let shared = Arc::new(Shared {
            script: Script::new(include_str!("gcra.lua")),
            connection: Mutex::new(None),
            up: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            origin: Instant::now(),
            last_probe: AtomicU64::new(0),
            target,
        });
        let address = shared.target.address();
        match shared.reconnect().await {
            Ok(()) => {
                shared.up.store(true, Ordering::Release);
                tracing::info!(redis = %address, prefix = %shared.target.prefix, "rate limits are shared through Redis");
            }
            Err(error) => tracing::warn!(
                redis = %address,
                %error,
                "Redis does not answer: each instance enforces its own rate limits until it does"
            ),
        }
        Self { shared }
    }

    pub(super) fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Counts one request in Redis; `None` when Redis cannot decide now, and the caller
    /// must.
    pub(super) async fn check(
        &self,
        group: Group,
        quota: GroupQuota,
        client: ClientKey,
    ) -> Option<Decision> {
        let shared = &self.shared;
        let connection = if self.is_up() {
            shared.connection()
        } else {
            None
        };
        let Some(mut connection) = connection else {
            self.probe_if_due();
            return None;
        };
        let interval_us = quota.emission_interval().as_micros().max(1);
        let mut invocation = shared.script.prepare_invoke();
        invocation
            .key(shared.target.key(group, client))
            .arg(u64::try_from(interval_us).unwrap_or(u64::MAX))
            .arg(quota.burst.get());
        let timeout = shared.target.timeout;
        let reply = tokio::time::timeout(
            timeout,
            invocation.invoke_async::<(i64, i64)>(&mut connection),
        )
        .await;
        match reply {
            Ok(Ok((1, _))) => Some(Decision::Allowed),
            Ok(Ok((_, wait_us))) => Some(Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)),
            }),
            Ok(Err(error)) => {
                shared.went_down(&error);
                None
            }
            Err(_) => {
                shared.went_down(&format_args!("no answer within {} ms", timeout.as_millis()));
                None
            }
        }
    }

    /// Starts one background reconnection when none is running and the last was long
    /// enough ago. Requests never wait for it.
    fn probe_if_due(&self) {
        let shared = &self.shared;
        let now = shared.millis();
        let last = shared.last_probe.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PROBE_EVERY.as_millis() as u64
            || shared.probing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        shared.last_probe.store(now, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let _probing = ProbeRunning(&shared.probing);
            match shared.reconnect().await {
                Ok(()) => {
                    shared.up.store(true, Ordering::Release);
                    tracing::info!(
                        redis = %shared.target.address(),
                        "Redis answers again: rate limits are shared across instances again"
                    );
                }
                Err(error) => tracing::debug!(%error, "Redis still does not answer"),
            }
        });
    }
}

impl Shared {
    fn connection(&self) -> Option<ConnectionManager> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A fresh connection, proven by loading the script (so the first request through it
    /// does not pay a second round trip for `NOSCRIPT`).
    async fn reconnect(&self) -> Result<(), redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            // Requests cut their own wait at the target's timeout; this bounds the probe's.
            .set_response_timeout(CONNECT_TIMEOUT.max(self.target.timeout))
            // One attempt: the probe schedule is the retry policy.
            .set_number_of_retries(0);
        let mut manager =
            ConnectionManager::new_with_config(self.target.client.clone(), config).await?;
        self.script.load_async(&mut manager).await?;
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(manager);
        Ok(())
    }

    /// Logs once per outage: only the request that flips the state does.
    fn went_down(&self, reason: &dyn fmt::Display) {
        self.last_probe.store(self.millis(), Ordering::Relaxed);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                redis = %self.target.address(),
                error = %reason,
                "Redis stopped answering: each instance enforces its own rate limits until it recovers"
            );
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Clears the probing flag however the probe ends (even when its task is cancelled).
struct ProbeRunning<'a>(&'a AtomicBool);

impl Drop for ProbeRunning<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn an_unusable_url_is_refused_without_echoing_its_password() {
        for url in [
            "http://user:hunter2@example.com:6379",
            "rediss://user:hunter2@example.com:6379",
            "redis://user:hunter2@:6379",
        ] {
            let error = RedisTarget::new(url, DEFAULT_PREFIX).unwrap_err();
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn debug_output_names_the_server_but_not_the_password() {
        let target = RedisTarget::new("redis://:hunter2@cache.internal:6380/2", "p").unwrap();
        let debug = format!("{target:?}");
        assert!(debug.contains("cache.internal:6380"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn keys_are_prefix_group_and_client() {
        let target = RedisTarget::new("redis://127.0.0.1", "unified-crm:rl").unwrap();
        let client = ClientKey::from_ip([192, 0, 2, 1].into());
        assert_eq!(
            target.key(Group::Auth, client),
            "unified-crm:rl:auth:192.0.2.1"
        );
    }

    /// The local Redis (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), or `None` with
    /// a note when it does not answer, unless `REQUIRE_REDIS_TESTS=1`.
    async fn local_redis(prefix: &str) -> Option<SharedLimits> {
        let url = std::env::var("TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
        let target = RedisTarget::new(&url, prefix)
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        let limits = SharedLimits::connect(target).await;
        if limits.is_up() {
            return Some(limits);
        }
        assert!(
            std::env::var("REQUIRE_REDIS_TESTS").as_deref() != Ok("1"),
            "REQUIRE_REDIS_TESTS=1 but Redis does not answer at {url}"
        );
        eprintln!("skipped: Redis does not answer at {url}");
        None
    }

    fn unique_prefix(test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("unified-crm-test:{test}:{}:{nanos}", std::process::id())
    }

    #[tokio::test]
    async fn the_script_grants_the_burst_then_says_when_the_next_request_fits() {
        let prefix = unique_prefix("script");
        let Some(limits) = local_redis(&prefix).await else {
            return;
        };
        let quota = GroupQuota {
            per_minute: NonZeroU32::new(2).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        };
        let client = ClientKey::from_ip([192, 0, 2, 1].into());

        let mut decisions = Vec::new();
        for _ in 0..4 {
            decisions.push(limits.check(Group::Auth, quota, client).await);
        }

        assert_eq!(decisions[..3], [Some(Decision::Allowed); 3]);
        let Some(Decision::Limited { retry_after }) = decisions[3] else {
            panic!("the fourth request should be limited: {decisions:?}");
        };
        // One request's worth of budget (30 s) minus the little time the calls took.
        assert!(
            retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(20),
            "{retry_after:?}"
        );
    }

    #[tokio::test]
    async fn every_key_the_script_writes_expires() {
        let prefix = unique_prefix("ttl");
        let Some(limits) = local_redis(&prefix).await else {
            return;
        };
        let quota = GroupQuota {
            per_minute: NonZeroU32::new(60).unwrap(),
            burst: NonZeroU32::new(5).unwrap(),
        };
        let client = ClientKey::from_ip([192, 0, 2, 1].into());
        limits.check(Group::Api, quota, client).await;

        let mut connection = limits.shared.connection().unwrap();
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(limits.shared.target.key(Group::Api, client))
            .query_async(&mut connection)
            .await
            .unwrap();

        // One request's worth: the key disappears when the budget is full again.
        assert!(ttl_ms > 0 && ttl_ms <= 1_000, "PTTL {ttl_ms}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_leaves_the_decision_to_the_caller_at_once() {
        let target = RedisTarget::new("redis://127.0.0.1:1", "unreachable").unwrap();
        let limits = SharedLimits::connect(target).await;
        let quota = GroupQuota {
            per_minute: NonZeroU32::new(60).unwrap(),
            burst: NonZeroU32::new(1).unwrap(),
        };
        let client = ClientKey::from_ip([192, 0, 2, 1].into());

        assert!(!limits.is_up());
        assert_eq!(limits.check(Group::Api, quota, client).await, None);
    }
}
