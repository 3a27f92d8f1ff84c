//! Settings from environment variables (and an optional `.env`, loaded by `main`).
//!
//! Every problem is collected and reported at once, each with the variable's name, so an
//! operator fixes a deployment in one round instead of one variable per restart.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use adapters::store::DatabaseTarget;
use api::rate_limit::{GroupQuota, Policy, RedisTarget};
use secrecy::{ExposeSecret, SecretString};

mod embed;
mod evaluation;
mod jobber;
mod write_backs;
pub use embed::EmbedSettings;
pub use evaluation::EvaluationSettings;
pub use jobber::{JobberApp, JobberSettings};

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseTarget,
    pub db_max_connections: u32,
    pub host: String,
    pub port: u16,
    pub log_format: LogFormat,
    /// Longest a command endpoint waits for read models to show its write.
    pub read_your_writes_timeout: Duration,
    /// Key that internal callers send as `x-internal-api-key`; `serve` refuses to start
    /// without one.
    pub internal_api_key: Option<SecretString>,
    /// Where JobNimbus deep links point (`{base}/job/{jnid}`).
    pub jobnimbus_app_base_url: String,
    pub jobnimbus: JobNimbusSettings,
    pub jobber: JobberSettings,
    pub embed: EmbedSettings,
    pub rate_limit: RateLimitSettings,
    pub evaluation: EvaluationSettings,
    /// `WRITE_BACK_*` and `JOBNIMBUS_TASK_TYPE`: write-backs to JobNimbus.
    pub write_backs: adapters::write_back::WriteBackSettings,
}

/// The JobNimbus connection and its sync schedule (the seed's variable names).
#[derive(Debug, Clone)]
pub struct JobNimbusSettings {
    /// `JOBNIMBUS_API_KEY`; without it there is no JobNimbus sync and the sync endpoints
    /// answer 503 `jobnimbus_not_configured`.
    pub api_key: Option<SecretString>,
    /// `JOBNIMBUS_BASE_URL`, the v1 API root.
    pub base_url: String,
    /// `JOBNIMBUS_FILES_BASE_URL`: host of the presigned upload endpoints (`/files/v1/...`),
    /// which some accounts reach on `app.` and others on `api.`; by default the API base's
    /// host.
    pub files_base_url: Option<String>,
    /// `JOBNIMBUS_SYNC_ENABLED` (default true): whether the scheduler runs syncs.
    pub sync_enabled: bool,
    /// `JOBNIMBUS_SYNC_CRON` (default `*/15 * * * *`), with a seconds field prepended when
    /// given the classic five fields, as the scheduler wants six.
    pub sync_cron: String,
    /// `JOBNIMBUS_RECONCILE_INTERVAL_HOURS` (default 24): a scheduled run is a full
    /// reconcile scan when the last complete scan is older than this.
    pub reconcile_every: Duration,
    /// `JOBNIMBUS_MIN_REQUEST_INTERVAL_MS` (default 200): client-side pacing, since the API
    /// documents no limit.
    pub min_request_interval: Duration,
    /// `JOBNIMBUS_SYNC_OVERLAP_SECONDS` (default 300): how far before the stored cursor an
    /// incremental run starts.
    pub sync_overlap: Duration,
    /// `JOBNIMBUS_WEBHOOK_SECRET` (at least 32 characters): the `token` automations put in
    /// the webhook URL. Without it (or without the API key) webhooks answer 503.
    pub webhook_secret: Option<SecretString>,
    /// `JOBNIMBUS_WEBHOOK_POLL_SECONDS` (default 5): how often the inbox processor looks for
    /// rows it was not woken for (received by another instance, or due for a retry).
    pub webhook_poll_interval: Duration,
}

/// Per-client rate limits on `/auth/…` and `/api/…`.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED` (default true).
    pub enabled: bool,
    /// `RATE_LIMIT_AUTH_PER_MINUTE` (20) and `RATE_LIMIT_AUTH_BURST` (5),
    /// `RATE_LIMIT_API_PER_MINUTE` (600) and `RATE_LIMIT_API_BURST` (100), and
    /// `TRUST_PROXY_HEADERS` (false): key clients by `x-forwarded-for`.
    pub policy: Policy,
    /// `REDIS_URL`, or the seed's `REDIS_HOST` and `REDIS_PORT` (6379), with
    /// `RATE_LIMIT_REDIS_PREFIX` (`unified-crm:rl`) and `RATE_LIMIT_REDIS_TIMEOUT_MS` (50):
    /// budgets shared by every instance. `None` keeps them in-process.
    pub redis: Option<RedisTarget>,
}

/// One variable that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub problem: String,
}

/// All configuration problems found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.0 {
            writeln!(f, "  {}: {}", p.variable, p.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Default SQLite file, under `DATA_DIR` (default `./data`).
const SQLITE_FILE: &str = "unified-crm.db";

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings for `serve`: as `from_env`, plus the internal key serving needs, with every
    /// problem in one report.
    pub fn from_env_for_serving() -> Result<Settings, ConfigError> {
        Self::for_serving(Self::from_env(), |name| std::env::var(name).ok())
    }

    fn for_serving(
        settings: Result<Settings, ConfigError>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        match settings {
            Ok(settings) => match settings.serving_problems() {
                problems if problems.is_empty() => Ok(settings),
                problems => Err(ConfigError(problems)),
            },
            Err(mut error) => {
                // Only the variables serving needs that are absent: a present but invalid
                // one is already reported.
                for (variable, missing) in SERVING_SECRETS {
                    if get(variable).filter(|v| !v.trim().is_empty()).is_none() {
                        error.0.push(missing());
                    }
                }
                Err(error)
            }
        }
    }

    /// What serving needs that other commands do not, as problems when absent.
    fn serving_problems(&self) -> Vec<ConfigProblem> {
        let present = [
            self.internal_api_key.is_some(),
            self.embed.signing_secret.is_some(),
        ];
        SERVING_SECRETS
            .into_iter()
            .zip(present)
            .filter(|(_, present)| !present)
            .map(|((_, missing), _)| missing())
            .collect()
    }

    /// Reads settings through `get` (the environment in production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let database = database_target(&get, &mut problems);
        let db_max_connections = parse_or(&get, "DB_MAX_CONNECTIONS", 10u32, &mut problems);
        let port = parse_or(&get, "PORT", 8080u16, &mut problems);
        let host = get("HOST").unwrap_or_else(|| "127.0.0.1".to_string());
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(problem(
                    "LOG_FORMAT",
                    format!("must be `text` or `json`, not `{other}`"),
                ));
                LogFormat::Text
            }
        };
        let ryw_ms = parse_or(&get, "READ_YOUR_WRITES_TIMEOUT_MS", 5_000u64, &mut problems);
        let internal_api_key = get("INTERNAL_API_KEY").map(SecretString::from);
        if internal_api_key
            .as_ref()
            .is_some_and(|key| key.expose_secret().len() < MIN_INTERNAL_KEY_LEN)
        {
            problems.push(problem(
                "INTERNAL_API_KEY",
                format!("must be at least {MIN_INTERNAL_KEY_LEN} characters"),
            ));
        }
        let jobnimbus_app_base_url = get("JOBNIMBUS_APP_BASE_URL")
            .unwrap_or_else(|| "https://app.jobnimbus.com".to_string())
            .trim_end_matches('/')
            .to_string();
        if !jobnimbus_app_base_url.starts_with("http://")
            && !jobnimbus_app_base_url.starts_with("https://")
        {
            problems.push(problem("JOBNIMBUS_APP_BASE_URL", "must be an http(s) URL"));
        }
        let jobnimbus = jobnimbus_settings(&get, &mut problems);
        let jobber = jobber::jobber_settings(&get, &mut problems);
        let embed = embed::embed_settings(&get, &mut problems);
        let rate_limit = rate_limit_settings(&get, &mut problems);
        let evaluation = evaluation::evaluation_settings(&get, &mut problems);
        let write_backs = write_backs::write_back_settings(&get, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Settings {
            database: database.expect("a database target when no problem was recorded"),
            db_max_connections,
            host,
            port,
            log_format,
            read_your_writes_timeout: Duration::from_millis(ryw_ms),
            internal_api_key,
            jobnimbus_app_base_url,
            jobnimbus,
            jobber,
            embed,
            rate_limit,
            evaluation,
            write_backs,
        })
    }

    /// What serving needs beyond the other commands: the key that protects internal
    /// endpoints.
    pub fn internal_key_for_serving(&self) -> Result<SecretString, ConfigError> {
        match &self.internal_api_key {
            Some(key) => Ok(key.clone()),
            None => Err(ConfigError(vec![missing_internal_key()])),
        }
    }

    /// What serving needs to sign embed links.
    pub fn embed_secret_for_serving(&self) -> Result<SecretString, ConfigError> {
        match &self.embed.signing_secret {
            Some(secret) => Ok(secret.clone()),
            None => Err(ConfigError(vec![missing_embed_secret()])),
        }
    }
}

fn jobnimbus_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> JobNimbusSettings {
    let base_url = get("JOBNIMBUS_BASE_URL")
        .unwrap_or_else(|| adapters::jobnimbus::DEFAULT_BASE_URL.to_string());
    if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
        problems.push(problem("JOBNIMBUS_BASE_URL", "must be an http(s) URL"));
    }
    let sync_enabled = parse_bool(get, "JOBNIMBUS_SYNC_ENABLED", true, problems);
    let cron = get("JOBNIMBUS_SYNC_CRON").unwrap_or_else(|| DEFAULT_SYNC_CRON.to_string());
    let sync_cron = match crate::scheduler::six_field_cron(&cron) {
        Ok(expression) => expression,
        Err(why) => {
            problems.push(problem("JOBNIMBUS_SYNC_CRON", why));
            String::new()
        }
    };
    let hours = parse_or(get, "JOBNIMBUS_RECONCILE_INTERVAL_HOURS", 24u64, problems);
    let pacing_ms = parse_or(get, "JOBNIMBUS_MIN_REQUEST_INTERVAL_MS", 200u64, problems);
    let overlap = parse_or(get, "JOBNIMBUS_SYNC_OVERLAP_SECONDS", 300u64, problems);
    let files_base_url = get("JOBNIMBUS_FILES_BASE_URL");
    if files_base_url
        .as_deref()
        .is_some_and(|url| !url.starts_with("http://") && !url.starts_with("https://"))
    {
        problems.push(problem(
            "JOBNIMBUS_FILES_BASE_URL",
            "must be an http(s) URL",
        ));
    }
    let webhook_secret = get("JOBNIMBUS_WEBHOOK_SECRET").map(SecretString::from);
    if webhook_secret.as_ref().is_some_and(|secret| {
        secret.expose_secret().chars().count() < adapters::jobnimbus::webhook_inbox::MIN_SECRET_LEN
    }) {
        problems.push(problem(
            "JOBNIMBUS_WEBHOOK_SECRET",
            format!(
                "must be at least {} characters",
                adapters::jobnimbus::webhook_inbox::MIN_SECRET_LEN
            ),
        ));
    }
    let poll = positive(get, "JOBNIMBUS_WEBHOOK_POLL_SECONDS", 5, problems);
    JobNimbusSettings {
        api_key: get("JOBNIMBUS_API_KEY").map(SecretString::from),
        webhook_secret,
        webhook_poll_interval: Duration::from_secs(u64::from(poll.get())),
        files_base_url,
        base_url,
        sync_enabled,
        sync_cron,
        reconcile_every: Duration::from_secs(hours.saturating_mul(3_600)),
        min_request_interval: Duration::from_millis(pacing_ms),
        sync_overlap: Duration::from_secs(overlap),
    }
}

impl Default for JobNimbusSettings {
    /// No key (so no sync), otherwise the documented defaults.
    fn default() -> Self {
        jobnimbus_settings(&|_: &str| None, &mut Vec::new())
    }
}

fn rate_limit_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> RateLimitSettings {
    let mut quota = |per_minute: (&'static str, u32), burst: (&'static str, u32)| GroupQuota {
        per_minute: positive(get, per_minute.0, per_minute.1, problems),
        burst: positive(get, burst.0, burst.1, problems),
    };
    let auth = quota(
        ("RATE_LIMIT_AUTH_PER_MINUTE", 20),
        ("RATE_LIMIT_AUTH_BURST", 5),
    );
    let api = quota(
        ("RATE_LIMIT_API_PER_MINUTE", 600),
        ("RATE_LIMIT_API_BURST", 100),
    );
    RateLimitSettings {
        enabled: parse_bool(get, "RATE_LIMIT_ENABLED", true, problems),
        policy: Policy {
            auth,
            api,
            trust_proxy_headers: parse_bool(get, "TRUST_PROXY_HEADERS", false, problems),
        },
        redis: redis_target(get, problems),
    }
}

/// `REDIS_URL` wins; else the seed's `REDIS_HOST` (and `REDIS_PORT`); else no Redis.
fn redis_target(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<RedisTarget> {
    let prefix = get("RATE_LIMIT_REDIS_PREFIX")
        .unwrap_or_else(|| api::rate_limit::DEFAULT_REDIS_PREFIX.to_string());
    let default_timeout = api::rate_limit::DEFAULT_REDIS_TIMEOUT.as_millis() as u32;
    let timeout_ms = positive(
        get,
        "RATE_LIMIT_REDIS_TIMEOUT_MS",
        default_timeout,
        problems,
    );
    let (variable, url) = if let Some(url) = get("REDIS_URL") {
        ("REDIS_URL", url)
    } else if let Some(host) = get("REDIS_HOST") {
        let port = parse_or(get, "REDIS_PORT", 6379u16, problems);
        let host = match host.contains(':') && !host.starts_with('[') {
            true => format!("[{host}]"),
            false => host,
        };
        ("REDIS_HOST", format!("redis://{host}:{port}"))
    } else {
        if get("REDIS_PORT").is_some() {
            problems.push(problem(
                "REDIS_HOST",
                "required when REDIS_PORT is set (or set REDIS_URL instead)",
            ));
        }
        return None;
    };
    match RedisTarget::new(&url, prefix) {
        Ok(target) => Some(target.with_timeout(Duration::from_millis(u64::from(timeout_ms.get())))),
        // The error never holds the URL, which may carry a password.
        Err(error) => {
            problems.push(problem(variable, error.to_string()));
            None
        }
    }
}

/// The seed's schedule: every 15 minutes.
const DEFAULT_SYNC_CRON: &str = "*/15 * * * *";

fn missing_internal_key() -> ConfigProblem {
    problem(
        "INTERNAL_API_KEY",
        "required to serve: it protects the sync and mirror endpoints",
    )
}

fn missing_embed_secret() -> ConfigProblem {
    problem(
        "EMBED_SIGNING_SECRET",
        "required to serve: it signs the embedded panels' links (at least 32 characters)",
    )
}

/// Builds the problem reported when a required secret is absent.
type MissingSecret = fn() -> ConfigProblem;

/// The secrets `serve` refuses to start without, and the problem each one's absence is.
const SERVING_SECRETS: [(&str, MissingSecret); 2] = [
    ("INTERNAL_API_KEY", missing_internal_key),
    ("EMBED_SIGNING_SECRET", missing_embed_secret),
];

/// Shortest accepted internal key: long enough that guessing is hopeless.
const MIN_INTERNAL_KEY_LEN: usize = 16;

fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        variable,
        problem: problem.into(),
    }
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    problems: &mut Vec<ConfigProblem>,
) -> T {
    match get(variable) {
        None => default,
        Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
            problems.push(problem(
                variable,
                format!("`{raw}` is not a valid {}", std::any::type_name::<T>()),
            ));
            default
        }),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
    problems: &mut Vec<ConfigProblem>,
) -> bool {
    match get(variable).as_deref().map(str::trim) {
        None => default,
        Some("true" | "1" | "yes") => true,
        Some("false" | "0" | "no") => false,
        Some(other) => {
            problems.push(problem(
                variable,
                format!("must be true or false, not `{other}`"),
            ));
            default
        }
    }
}

/// A whole number from 1 to `GroupQuota::MAX_PER_MINUTE`.
fn positive(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u32,
    problems: &mut Vec<ConfigProblem>,
) -> NonZeroU32 {
    let fallback = NonZeroU32::new(default).unwrap_or(NonZeroU32::MIN);
    let Some(raw) = get(variable) else {
        return fallback;
    };
    match raw.trim().parse::<NonZeroU32>() {
        Ok(n) if n.get() <= GroupQuota::MAX_PER_MINUTE => n,
        _ => {
            problems.push(problem(
                variable,
                format!(
                    "`{raw}` is not a whole number from 1 to {}",
                    GroupQuota::MAX_PER_MINUTE
                ),
            ));
            fallback
        }
    }
}

/// `DATABASE_URL` wins; else the seed's `DB_USER`/`DB_PASSWORD`/`DB_HOST`/`DB_NAME`/`DB_PORT`
/// describe a PostgreSQL server; else an embedded SQLite file under `DATA_DIR`.
fn database_target(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<DatabaseTarget> {
    if let Some(url) = get("DATABASE_URL") {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(DatabaseTarget::Postgres(SecretString::from(url)));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Some(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        // Never echo the value: it may hold a password.
        problems.push(problem(
            "DATABASE_URL",
            "must start with `postgres://`, `postgresql://` or `sqlite:`",
        ));
        return None;
    }
    let parts = ["DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME", "DB_PORT"];
    if parts.iter().any(|name| get(name).is_some()) {
        let mut require = |name: &'static str| {
            get(name).or_else(|| {
                problems.push(problem(
                    name,
                    "required when any DB_* variable is set (or set DATABASE_URL instead)",
                ));
                None
            })
        };
        let (user, host, name) = (require("DB_USER"), require("DB_HOST"), require("DB_NAME"));
        let port = parse_or(get, "DB_PORT", 5432u16, problems);
        let (user, host, name) = (user?, host?, name?);
        let password = get("DB_PASSWORD")
            .map(|p| format!(":{}", percent_encode(&p)))
            .unwrap_or_default();
        let url = format!(
            "postgres://{}{password}@{host}:{port}/{}",
            percent_encode(&user),
            percent_encode(&name)
        );
        return Some(DatabaseTarget::Postgres(SecretString::from(url)));
    }
    let dir = get("DATA_DIR").unwrap_or_else(|| "./data".to_string());
    Some(DatabaseTarget::Sqlite(PathBuf::from(dir).join(SQLITE_FILE)))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for URL userinfo/path).
fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_variables_means_sqlite_under_data_on_port_8080() {
        let s = settings(&[]).unwrap();
        assert!(
            matches!(&s.database, DatabaseTarget::Sqlite(p) if p == &PathBuf::from("./data/unified-crm.db"))
        );
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 8080));
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn seed_db_variables_build_an_encoded_postgres_url() {
        let s = settings(&[
            ("DB_USER", "crm"),
            ("DB_PASSWORD", "p@ss:w/rd"),
            ("DB_HOST", "db.internal"),
            ("DB_NAME", "unified_crm_db"),
        ])
        .unwrap();
        let DatabaseTarget::Postgres(url) = s.database else {
            panic!("expected postgres");
        };
        assert_eq!(
            url.expose_secret(),
            "postgres://crm:p%40ss%3Aw%2Frd@db.internal:5432/unified_crm_db"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_variable() {
        let err = settings(&[
            ("DB_PASSWORD", "x"),
            ("DB_PORT", "not-a-port"),
            ("PORT", "70000"),
            ("LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            [
                "DB_USER",
                "DB_HOST",
                "DB_NAME",
                "DB_PORT",
                "PORT",
                "LOG_FORMAT"
            ]
        );
    }

    #[test]
    fn a_short_internal_key_and_a_bad_deep_link_base_are_reported() {
        let err = settings(&[
            ("INTERNAL_API_KEY", "tooshort9"),
            ("JOBNIMBUS_APP_BASE_URL", "app.jobnimbus.com"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["INTERNAL_API_KEY", "JOBNIMBUS_APP_BASE_URL"]);
        assert!(
            !err.to_string().contains("tooshort9"),
            "the key's value is never echoed"
        );
    }

    #[test]
    fn a_short_webhook_secret_and_a_zero_poll_interval_are_reported() {
        let err = settings(&[
            ("JOBNIMBUS_WEBHOOK_SECRET", "too-short-secret"),
            ("JOBNIMBUS_WEBHOOK_POLL_SECONDS", "0"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            ["JOBNIMBUS_WEBHOOK_SECRET", "JOBNIMBUS_WEBHOOK_POLL_SECONDS"]
        );
        assert!(
            !err.to_string().contains("too-short-secret"),
            "the secret is not echoed: {err}"
        );

        let s = settings(&[(
            "JOBNIMBUS_WEBHOOK_SECRET",
            "0123456789abcdef0123456789abcdef",
        )])
        .unwrap();
        assert!(s.jobnimbus.webhook_secret.is_some());
        assert_eq!(s.jobnimbus.webhook_poll_interval, Duration::from_secs(5));
    }

    #[test]
    fn serving_requires_an_internal_key_and_an_embed_secret() {
        assert!(settings(&[]).unwrap().internal_key_for_serving().is_err());
        assert!(settings(&[]).unwrap().embed_secret_for_serving().is_err());
        let vars = [
            ("INTERNAL_API_KEY", "0123456789abcdef"),
            ("EMBED_SIGNING_SECRET", "0123456789abcdef0123456789abcdef"),
        ];
        let s = settings(&vars).unwrap();
        assert!(s.internal_key_for_serving().is_ok());
        assert!(s.embed_secret_for_serving().is_ok());
        let map: HashMap<&str, &str> = vars.into_iter().collect();
        let get = |k: &str| map.get(k).map(|v| v.to_string());
        assert!(Settings::for_serving(Settings::from_lookup(get), get).is_ok());
        let only_key = |k: &str| (k == "INTERNAL_API_KEY").then(|| vars[0].1.to_string());
        let err = Settings::for_serving(Settings::from_lookup(only_key), only_key).unwrap_err();
        let names: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(names, ["EMBED_SIGNING_SECRET"]);
    }

    #[test]
    fn serving_reports_a_missing_key_together_with_other_problems() {
        let vars = [("PORT", "eighty")];
        let map: HashMap<&str, &str> = vars.into_iter().collect();
        let get = |k: &str| map.get(k).map(|v| v.to_string());
        let err = Settings::for_serving(Settings::from_lookup(get), get).unwrap_err();
        let names: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(names, ["PORT", "INTERNAL_API_KEY", "EMBED_SIGNING_SECRET"]);
    }

    #[test]
    fn rate_limits_default_to_in_process_with_the_documented_budgets() {
        let limits = settings(&[]).unwrap().rate_limit;
        assert!(limits.enabled);
        assert!(limits.redis.is_none());
        assert!(!limits.policy.trust_proxy_headers);
        let budgets = [limits.policy.auth, limits.policy.api]
            .map(|quota| (quota.per_minute.get(), quota.burst.get()));
        assert_eq!(budgets, [(20, 5), (600, 100)]);
    }

    #[test]
    fn the_seed_redis_host_and_port_name_the_shared_store() {
        let cases = [
            (
                vec![("REDIS_HOST", "cache.internal")],
                "cache.internal:6379",
            ),
            (
                vec![("REDIS_HOST", "cache.internal"), ("REDIS_PORT", "6380")],
                "cache.internal:6380",
            ),
            (vec![("REDIS_HOST", "::1")], "::1:6379"),
            (
                vec![
                    ("REDIS_URL", "redis://other:7000/1"),
                    ("REDIS_HOST", "ignored"),
                ],
                "other:7000",
            ),
        ];
        for (vars, address) in cases {
            let redis = settings(&vars).unwrap().rate_limit.redis;
            assert_eq!(
                redis.map(|r| r.address()).as_deref(),
                Some(address),
                "{vars:?}"
            );
        }
    }

    #[test]
    fn the_redis_prefix_and_timeout_can_be_set() {
        let redis = settings(&[
            ("REDIS_URL", "redis://127.0.0.1"),
            ("RATE_LIMIT_REDIS_PREFIX", "staging:rl"),
            ("RATE_LIMIT_REDIS_TIMEOUT_MS", "20"),
        ])
        .unwrap()
        .rate_limit
        .redis
        .unwrap();
        assert_eq!(redis.prefix(), "staging:rl");
        assert_eq!(redis.timeout(), Duration::from_millis(20));
    }

    #[test]
    fn bad_rate_limit_variables_are_each_reported_by_name() {
        let err = settings(&[
            ("RATE_LIMIT_ENABLED", "maybe"),
            ("RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("RATE_LIMIT_AUTH_BURST", "-1"),
            ("RATE_LIMIT_API_PER_MINUTE", "lots"),
            ("RATE_LIMIT_API_BURST", "60000001"),
            ("TRUST_PROXY_HEADERS", "sometimes"),
            ("RATE_LIMIT_REDIS_TIMEOUT_MS", "0"),
            ("REDIS_PORT", "6379"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            [
                "RATE_LIMIT_AUTH_PER_MINUTE",
                "RATE_LIMIT_AUTH_BURST",
                "RATE_LIMIT_API_PER_MINUTE",
                "RATE_LIMIT_API_BURST",
                "RATE_LIMIT_ENABLED",
                "TRUST_PROXY_HEADERS",
                "RATE_LIMIT_REDIS_TIMEOUT_MS",
                "REDIS_HOST",
            ]
        );
    }

    #[test]
    fn an_unusable_redis_url_is_named_without_echoing_it() {
        for (var, value) in [
            ("REDIS_URL", "https://user:hunter2@cache:6379"),
            ("REDIS_URL", "rediss://user:hunter2@cache:6379"),
            ("REDIS_PORT", "not-a-port"),
        ] {
            let err = settings(&[(var, value), ("REDIS_HOST", "cache")]).unwrap_err();
            assert_eq!(err.0[0].variable, var, "{value}");
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn a_bad_database_url_is_named_without_echoing_it() {
        let err = settings(&[("DATABASE_URL", "mysql://root:hunter2@x/db")]).unwrap_err();
        assert_eq!(err.0[0].variable, "DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"));
    }
}
