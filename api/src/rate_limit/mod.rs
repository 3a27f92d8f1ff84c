//! Per-client rate limits on `/auth/…` (strict: credentials are behind it) and `/api/…`.
//!
//! Both groups use GCRA (a token bucket without a refill timer): `per_minute` sets the
//! sustained rate, `burst` how many requests a client that has been quiet may send at once.
//! Budgets live in the process by default; with Redis they are shared by every instance, and
//! while Redis does not answer each instance falls back to its own budgets
//! (`docs/adr/0005-rate-limiting.md`).

mod client;
mod local;
mod middleware;
mod redis;

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub use client::ClientKey;
pub(crate) use middleware::enforce;
pub use redis::{
    InvalidRedisUrl, RedisTarget, DEFAULT_PREFIX as DEFAULT_REDIS_PREFIX,
    DEFAULT_TIMEOUT as DEFAULT_REDIS_TIMEOUT,
};

use local::LocalLimits;
use redis::SharedLimits;

/// Requests decided in-process because Redis did not answer (one per request).
const FALLBACK_TOTAL: &str = "rate_limit_backend_fallback_total";

/// A family of routes sharing one budget per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `/auth/…`: OAuth flows, where a flood is an attack on credentials.
    Auth,
    /// `/api/…`: the REST API dashboards call.
    Api,
}

impl Group {
    /// The group a request path belongs to; `None` for what is never limited (health,
    /// metrics, docs, the spec, embed pages, the CRMs' webhooks).
    pub fn of_path(path: &str) -> Option<Group> {
        // `//api/…` is limited like `/api/…`: whatever a proxy in front or a future router
        // makes of the extra slash, it must not be a way around the limit.
        let path = path.trim_start_matches('/');
        // A CRM delivers its webhooks in bursts from a few addresses, and a refused delivery
        // is a lost change (JobNimbus retries a few times, Jobber may disable the app). They
        // authenticate (token, signature) before touching the database, so a flood costs
        // what health checks cost (docs/adr/0009-jobnimbus-webhook-inbox.md). Exact paths
        // only: `/api/v1/webhooks/../jobs` and the like stay limited.
        if WEBHOOK_PATHS.contains(&path) {
            return None;
        }
        let first = path.split('/').next().unwrap_or_default();
        match first {
            "auth" => Some(Group::Auth),
            "api" => Some(Group::Api),
            _ => None,
        }
    }

    /// Metric label and Redis key part.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Auth => "auth",
            Group::Api => "api",
        }
    }
}

/// Webhook endpoints, without the leading slash: never limited.
const WEBHOOK_PATHS: &[&str] = &["api/v1/webhooks/jobnimbus", "api/v1/webhooks/jobber"];

/// One group's budget per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupQuota {
    /// Sustained rate.
    pub per_minute: NonZeroU32,
    /// Requests a client with a full budget may send at once.
    pub burst: NonZeroU32,
}

impl GroupQuota {
    /// The highest `per_minute` (one request per microsecond, the Redis script's resolution).
    pub const MAX_PER_MINUTE: u32 = 60_000_000;

    /// Time for one request's worth of budget to come back.
    fn emission_interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.get()
    }
}

/// What is limited and how clients are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub auth: GroupQuota,
    pub api: GroupQuota,
    /// Key clients by the first `x-forwarded-for` hop instead of the peer address. Only
    /// behind a proxy that sets the header itself: otherwise any client could pick its key
    /// and so dodge its limit.
    pub trust_proxy_headers: bool,
}

impl Policy {
    pub fn quota(&self, group: Group) -> GroupQuota {
        match group {
            Group::Auth => self.auth,
            Group::Api => self.api,
        }
    }
}

/// The outcome of one request's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the client's budget has room again after `retry_after`.
    Limited {
        retry_after: Duration,
    },
}

/// Decides whether a client may make one more request in a group. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Policy,
    backend: Backend,
}

enum Backend {
    Off,
    InProcess(LocalLimits),
    /// Redis when it answers, `fallback` when it does not.
    Shared {
        redis: SharedLimits,
        fallback: LocalLimits,
    },
}

impl RateLimiter {
    /// Lets every request through (`RATE_LIMIT_ENABLED=false`).
    pub fn disabled(policy: Policy) -> Self {
        Self::with_backend(policy, Backend::Off)
    }

    /// Budgets held by this process alone.
    pub fn in_process(policy: Policy) -> Self {
        Self::with_backend(policy, Backend::InProcess(LocalLimits::new(&policy)))
    }

    /// Budgets shared through Redis by every instance using the same target and prefix.
    /// Never fails: when Redis does not answer now, limits are enforced in-process (with a
    /// warning) until it does.
    pub async fn shared(policy: Policy, target: RedisTarget) -> Self {
        let redis = SharedLimits::connect(target).await;
        let fallback = LocalLimits::new(&policy);
        Self::with_backend(policy, Backend::Shared { redis, fallback })
    }

    fn with_backend(policy: Policy, backend: Backend) -> Self {
        Self {
            inner: Arc::new(Inner { policy, backend }),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Counts one request of `client` in `group` against its budget.
    pub async fn check(&self, group: Group, client: ClientKey) -> Decision {
        let quota = self.inner.policy.quota(group);
        match &self.inner.backend {
            Backend::Off => Decision::Allowed,
            Backend::InProcess(local) => local.check(group, client),
            Backend::Shared { redis, fallback } => match redis.check(group, quota, client).await {
                Some(decision) => decision,
                None => {
                    metrics::counter!(FALLBACK_TOTAL).increment(1);
                    fallback.check(group, client)
                }
            },
        }
    }

    /// Whether decisions are shared through Redis right now (false while it is down).
    pub fn is_shared(&self) -> bool {
        match &self.inner.backend {
            Backend::Shared { redis, .. } => redis.is_up(),
            Backend::Off | Backend::InProcess(_) => false,
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.inner.backend {
            Backend::Off => "off",
            Backend::InProcess(_) => "in-process",
            Backend::Shared { .. } => "redis",
        };
        f.debug_struct("RateLimiter")
            .field("policy", &self.inner.policy)
            .field("backend", &backend)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_api_paths_are_limited_and_the_rest_and_the_webhooks_are_not() {
        let cases = [
            ("/auth/jobber/authorize", Some(Group::Auth)),
            ("/auth", Some(Group::Auth)),
            ("//auth/jobber/callback", Some(Group::Auth)),
            ("/api/v1/jobs", Some(Group::Api)),
            ("///api/v1/jobs", Some(Group::Api)),
            ("/api/v1/webhooks/jobnimbus", None),
            ("//api/v1/webhooks/jobber", None),
            ("/api/v1/webhooks/jobnimbus/", Some(Group::Api)),
            ("/api/v1/webhooks/../jobs", Some(Group::Api)),
            ("/api/v1/webhooks/other", Some(Group::Api)),
            ("/api/v1/webhooks", Some(Group::Api)),
            ("/health/live", None),
            ("/metrics", None),
            ("/docs", None),
            ("/openapi.json", None),
            ("/embed/job/1", None),
            ("/authx", None),
            ("/apis", None),
            ("/", None),
        ];
        for (path, group) in cases {
            assert_eq!(Group::of_path(path), group, "{path}");
        }
    }

    #[test]
    fn the_emission_interval_spreads_a_minute_over_the_quota() {
        let quota = GroupQuota {
            per_minute: NonZeroU32::new(600).unwrap(),
            burst: NonZeroU32::new(1).unwrap(),
        };
        assert_eq!(quota.emission_interval(), Duration::from_millis(100));
    }
}
