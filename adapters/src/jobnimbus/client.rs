//! The JobNimbus v1 API client: reads jobs, contacts and files, with timeouts, retries
//! (exponential backoff with full jitter, `Retry-After`), client-side pacing and `tracing`.
//! The writes (`writes`) share its transport.
//!
//! Every request says how it may be repeated ([`Replay`]): reads and idempotent writes are
//! retried on any transient failure; a create only when the failure proves it was not applied
//! (a 429, a connection never made), and otherwise ends in [`ClientError::Ambiguous`] so the
//! caller reconciles by reading back instead of posting twice (design §6).

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tracing::Instrument;

use super::dto::{ErrorBody, FilesEnvelope, ResultsEnvelope};
use super::error::{ClientError, TransientFailure};
use super::mapping::{
    contact_from_value, file_from_value, job_from_value, listed_contact, listed_job, Listed,
    PulledContact, PulledFile, PulledJob, RejectedRecord,
};

/// The production API base.
pub const DEFAULT_BASE_URL: &str = "https://app.jobnimbus.com/api1";
/// Largest page we ask for: the documented default, and the most the API is known to honour.
pub const MAX_PAGE_SIZE: u32 = 1_000;
/// Elasticsearch's `max_result_window`: `from + size` may not exceed it.
pub const RESULT_WINDOW: u32 = 10_000;

/// How to reach JobNimbus and how patiently.
///
/// Invariant: the key is only ever exposed to build the `Authorization` header; `Debug` shows
/// it redacted.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// API base including `/api1`, e.g. `https://app.jobnimbus.com/api1`.
    pub base_url: String,
    pub api_key: SecretString,
    /// Whole-request timeout (connect, send, read the body), per attempt.
    pub timeout: Duration,
    /// Retries after the first attempt, for transient failures only.
    pub max_retries: u32,
    /// First backoff ceiling; doubles per retry up to `backoff_cap` (full jitter below it).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Longest `Retry-After` we obey; a larger value is cut to this.
    pub retry_after_cap: Duration,
    /// Least time between two request starts, across all clones of the client. JobNimbus
    /// documents no rate limit, so we pace ourselves rather than find it.
    pub min_request_interval: Duration,
    /// Root of the files service (`{this}/files/v1/uploads/…`). The docs put it on
    /// `app.jobnimbus.com`, working clients call `api.jobnimbus.com`; `None` takes the API
    /// base without its last segment (`https://app.jobnimbus.com` for `…/api1`).
    pub files_base_url: Option<String>,
}

impl ClientConfig {
    /// Production defaults: 30 s timeout, 4 retries from 500 ms up to 30 s, `Retry-After`
    /// obeyed up to 60 s, at most 5 requests a second.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            retry_after_cap: Duration::from_secs(60),
            min_request_interval: Duration::from_millis(200),
            files_base_url: None,
        }
    }

    /// Reads `JOBNIMBUS_API_KEY` (required), `JOBNIMBUS_BASE_URL` (defaults to
    /// [`DEFAULT_BASE_URL`]) and `JOBNIMBUS_FILES_BASE_URL` (defaults to the API base's host
    /// root) from the environment.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`ClientConfig::from_env`] over any variable lookup (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ClientError> {
        let key = var("JOBNIMBUS_API_KEY")
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ClientError::Config("JOBNIMBUS_API_KEY is not set".into()))?;
        let base_url = var("JOBNIMBUS_BASE_URL")
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Ok(Self {
            files_base_url: var("JOBNIMBUS_FILES_BASE_URL").filter(|u| !u.trim().is_empty()),
            ..Self::new(base_url, SecretString::from(key))
        })
    }
}

/// Which way a list is sorted. The API takes a single `sort_field`; ties keep the index's
/// order, so callers that need "each record once" dedupe by jnid (as the pager does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListSort {
    /// Oldest change first: what incremental sync needs (new changes land at the end).
    #[default]
    UpdatedAscending,
    UpdatedDescending,
    CreatedAscending,
    /// The API's own default.
    CreatedDescending,
}

impl ListSort {
    fn params(self) -> (&'static str, &'static str) {
        match self {
            ListSort::UpdatedAscending => ("date_updated", "asc"),
            ListSort::UpdatedDescending => ("date_updated", "desc"),
            ListSort::CreatedAscending => ("date_created", "asc"),
            ListSort::CreatedDescending => ("date_created", "desc"),
        }
    }
}

/// One page of a job or contact list.
///
/// Invariant (checked before sending): `1 <= size <= 1000` and `from + size <= 10_000`.
/// The date bounds are applied at whole-second granularity: `updated_since` is inclusive of
/// its second, `updated_before` exclusive of its instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub from: u32,
    pub size: u32,
    pub updated_since: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    pub sort: ListSort,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            from: 0,
            size: MAX_PAGE_SIZE,
            updated_since: None,
            updated_before: None,
            sort: ListSort::default(),
        }
    }
}

impl ListQuery {
    /// Rows `from .. from + size`, everything, oldest change first.
    pub fn page(from: u32, size: u32) -> Self {
        Self {
            from,
            size,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), ClientError> {
        if self.size == 0 || self.size > MAX_PAGE_SIZE {
            return Err(ClientError::InvalidRequest(format!(
                "page size {} is outside 1..={MAX_PAGE_SIZE}",
                self.size
            )));
        }
        let window = u64::from(self.from) + u64::from(self.size);
        if window > u64::from(RESULT_WINDOW) {
            return Err(ClientError::InvalidRequest(format!(
                "from + size = {window} is past the API's {RESULT_WINDOW}-row window; \
                 narrow the date range instead"
            )));
        }
        Ok(())
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let since = self.updated_since.map(|t| t.timestamp());
        // Records carry whole seconds: a record at second s is before `t` iff s < ceil(t).
        let before = self.updated_before.map(|t| {
            let s = t.timestamp();
            if t.timestamp_subsec_nanos() > 0 {
                s.saturating_add(1)
            } else {
                s
            }
        });
        list_params(
            self.sort,
            self.from,
            self.size,
            updated_filter(since, before),
        )
    }
}

/// One page of records: the envelope's total, the records that mapped, and the ones that
/// did not (with why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// `count` of the envelope: all matches of the query, not this page's length.
    pub total: u64,
    pub items: Vec<T>,
    pub rejected: Vec<RejectedRecord>,
}

/// The result of [`JobNimbusClient::health_check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// The key works and a list answered.
    Healthy { latency: Duration },
    /// JobNimbus answered 401: the key is wrong or revoked.
    AuthRejected { latency: Duration },
    /// No answer: DNS, connect, TLS, timeout or a broken connection.
    Unreachable { reason: String },
    /// An answer, but not a usable one (throttled, 5xx, unexpected body…).
    Unhealthy { status: Option<u16>, reason: String },
}

impl HealthStatus {
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthStatus::Healthy { .. })
    }
}

/// The JobNimbus v1 client. Cheap to clone: clones share the connection pool and the pacing.
#[derive(Clone)]
pub struct JobNimbusClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// Root of the files service (see [`ClientConfig::files_base_url`]).
    files_base: Url,
    api_key: SecretString,
    timeout: Duration,
    retry: RetryPolicy,
    pacer: Pacer,
    jitter: Jitter,
}

impl fmt::Debug for JobNimbusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobNimbusClient")
            .field("base_url", &self.inner.base.as_str())
            .field("files_base_url", &self.inner.files_base.as_str())
            .field("api_key", &"<redacted>")
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .field("min_request_interval", &self.inner.pacer.interval)
            .finish()
    }
}

/// What a successful exchange produced.
pub(super) enum Answer {
    Body(String),
    NotFound,
}

/// How a request may be repeated after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Replay {
    /// Doing it twice is doing it once: reads, a `PUT` of the same fields, a completion keyed
    /// by an id the server issued.
    Idempotent,
    /// A create: repeated only after a failure that proves it was not applied (a 429, a
    /// connection never made). Any other failure after sending is [`ClientError::Ambiguous`].
    OnlyIfNotApplied,
}

/// A request body. Kept whole so an attempt can be repeated.
pub(super) enum Payload {
    Json(Vec<u8>),
    /// Raw bytes sent as `application/octet-stream` (the presigned upload).
    Bytes(Vec<u8>),
}

/// One logical request: what to send, to whom, and how it may be repeated.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) params: &'a [(&'static str, String)],
    pub(super) payload: Option<&'a Payload>,
    /// Sends the API key. Off for presigned URLs, which carry their own signature and
    /// refuse a second credential.
    pub(super) authenticated: bool,
    pub(super) replay: Replay,
    /// A 404 is `Answer::NotFound` rather than an error.
    pub(super) not_found_is_none: bool,
}

impl<'a> Call<'a> {
    /// An authenticated read of `url`.
    pub(super) fn get(url: Url, params: &'a [(&'static str, String)]) -> Self {
        Self {
            method: Method::GET,
            url,
            params,
            payload: None,
            authenticated: true,
            replay: Replay::Idempotent,
            not_found_is_none: false,
        }
    }
}

/// The fate of one attempt.
enum Attempt {
    Done(Answer, StatusCode),
    Transient(TransientFailure),
    Fatal(ClientError),
}

impl JobNimbusClient {
    /// Checks the configuration and builds the HTTP client; sends nothing.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let ClientConfig {
            base_url,
            api_key,
            timeout,
            max_retries,
            backoff_base,
            backoff_cap,
            retry_after_cap,
            min_request_interval,
            files_base_url,
        } = config;
        let mut base = Url::parse(base_url.trim())
            .map_err(|e| ClientError::Config(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "base URL {base_url:?} must be http or https"
            )));
        }
        base.path_segments_mut()
            .map_err(|_| ClientError::Config(format!("base URL {base_url:?} cannot hold paths")))?
            .pop_if_empty();
        base.set_query(None);
        let files_base = match files_base_url {
            Some(url) => {
                let mut files = Url::parse(url.trim())
                    .map_err(|e| ClientError::Config(format!("files base URL {url:?}: {e}")))?;
                if !matches!(files.scheme(), "http" | "https") {
                    return Err(ClientError::Config(format!(
                        "files base URL {url:?} must be http or https"
                    )));
                }
                files
                    .path_segments_mut()
                    .map_err(|_| {
                        ClientError::Config(format!("files base URL {url:?} cannot hold paths"))
                    })?
                    .pop_if_empty();
                files.set_query(None);
                files
            }
            None => {
                let mut files = base.clone();
                files
                    .path_segments_mut()
                    .map_err(|_| {
                        ClientError::Config(format!("base URL {base_url:?} cannot hold paths"))
                    })?
                    .pop();
                files
            }
        };
        if api_key.expose_secret().trim().is_empty() {
            return Err(ClientError::Config("the API key is empty".into()));
        }
        // Fail now rather than on every request; the message must not quote the key.
        auth_header(&api_key)?;
        if timeout.is_zero() {
            return Err(ClientError::Config("timeout must be positive".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("unified-crm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                files_base,
                api_key,
                timeout,
                retry: RetryPolicy {
                    max_retries,
                    backoff_base,
                    backoff_cap,
                    retry_after_cap,
                },
                pacer: Pacer::new(min_request_interval),
                jitter: Jitter::from_clock(),
            }),
        })
    }

    /// One page of jobs. Records that cannot be mapped are in `rejected`, not errors.
    pub async fn fetch_jobs(&self, query: &ListQuery) -> Result<Page<PulledJob>, ClientError> {
        query.validate()?;
        let (total, rows) = self.list("jobs", &query.params(), listed_job).await?;
        Ok(map_page(total, rows.into_iter().map(|row| row.mapped)))
    }

    /// One page of contacts. Records that cannot be mapped are in `rejected`, not errors.
    pub async fn fetch_contacts(
        &self,
        query: &ListQuery,
    ) -> Result<Page<PulledContact>, ClientError> {
        query.validate()?;
        let (total, rows) = self
            .list("contacts", &query.params(), listed_contact)
            .await?;
        Ok(map_page(total, rows.into_iter().map(|row| row.mapped)))
    }

    /// One job by jnid; `None` when JobNimbus does not know it (404).
    pub async fn fetch_job_by_id(&self, jnid: &str) -> Result<Option<PulledJob>, ClientError> {
        self.fetch_by_id("jobs", jnid, job_from_value).await
    }

    /// One contact by jnid; `None` when JobNimbus does not know it (404).
    pub async fn fetch_contact_by_id(
        &self,
        jnid: &str,
    ) -> Result<Option<PulledContact>, ClientError> {
        self.fetch_by_id("contacts", jnid, contact_from_value).await
    }

    /// `GET /{resource}/{jnid}` mapped by `map`; `None` on a 404.
    async fn fetch_by_id<T>(
        &self,
        resource: &'static str,
        jnid: &str,
        map: fn(Value) -> Result<T, RejectedRecord>,
    ) -> Result<Option<T>, ClientError> {
        check_jnid(jnid)?;
        let answer = self.get(&[resource, jnid], &[], true).await?;
        let Answer::Body(body) = answer else {
            return Ok(None);
        };
        let raw: Value = serde_json::from_str(&body).map_err(|e| ClientError::Decode {
            method: "GET".into(),
            path: format!("/{resource}/{jnid}"),
            detail: format!("body is not JSON: {e}"),
        })?;
        map(raw).map(Some).map_err(|rejected| ClientError::Decode {
            method: "GET".into(),
            path: format!("/{resource}/{jnid}"),
            detail: format!("record cannot be mapped: {}", rejected.reason),
        })
    }

    /// Every file linked to the job (`related.id` = jnid), all pages, oldest first.
    ///
    /// Files that do not name the job among their links are dropped even if the server
    /// returned them (whether `GET /files` honours this filter is not documented); files that
    /// cannot be mapped are logged and skipped.
    pub async fn fetch_attachments(&self, job_jnid: &str) -> Result<Vec<PulledFile>, ClientError> {
        check_jnid(job_jnid)?;
        let filter = json!({ "must": [{ "term": { "related.id": job_jnid } }] }).to_string();
        let mut files = Vec::new();
        let mut from: u32 = 0;
        loop {
            let params = list_params(
                ListSort::CreatedAscending,
                from,
                MAX_PAGE_SIZE,
                Some(filter.clone()),
            );
            let body = self.get_body(&["files"], &params).await?;
            let envelope: FilesEnvelope = decode(&body, "/files")?;
            if envelope.count > u64::from(RESULT_WINDOW) {
                return Err(ClientError::WindowExceeded {
                    resource: "files",
                    what: format!("job {job_jnid}"),
                    count: envelope.count,
                });
            }
            let received = envelope.files.len();
            for raw in envelope.files {
                if !links_to(&raw, job_jnid) {
                    continue;
                }
                match file_from_value(raw) {
                    Ok(file) => files.push(file),
                    Err(rejected) => tracing::warn!(
                        jnid = rejected.jnid.as_deref().unwrap_or("?"),
                        reason = %rejected.reason,
                        "skipping a JobNimbus file that cannot be mapped"
                    ),
                }
            }
            from = from.saturating_add(u32::try_from(received).unwrap_or(u32::MAX));
            // An empty page before `count` means the list shrank while we paged: stop.
            if received == 0 || u64::from(from) >= envelope.count {
                return Ok(files);
            }
        }
    }

    /// One file's metadata by jnid (its `related` jobs included); `None` when no file has
    /// it. `GET /files/{jnid}` answers the bytes (a redirect), not the record, so the file is
    /// looked up through the list's filter instead.
    pub async fn fetch_file_by_id(&self, jnid: &str) -> Result<Option<PulledFile>, ClientError> {
        check_jnid(jnid)?;
        let filter = json!({ "must": [{ "term": { "jnid": jnid } }] }).to_string();
        let params = list_params(ListSort::CreatedAscending, 0, 10, Some(filter));
        let body = self.get_body(&["files"], &params).await?;
        let envelope: FilesEnvelope = decode(&body, "/files")?;
        // The filter is not trusted to have been applied: the record must carry the jnid.
        let Some(raw) = envelope
            .files
            .into_iter()
            .find(|raw| raw.get("jnid").and_then(Value::as_str) == Some(jnid))
        else {
            return Ok(None);
        };
        file_from_value(raw)
            .map(Some)
            .map_err(|rejected| ClientError::Decode {
                method: "GET".into(),
                path: "/files".into(),
                detail: format!("file cannot be mapped: {}", rejected.reason),
            })
    }

    /// The job's photos: files of type 2 / "Photo", or with an `image/*` content type.
    pub async fn fetch_job_photos(&self, job_jnid: &str) -> Result<Vec<PulledFile>, ClientError> {
        let mut files = self.fetch_attachments(job_jnid).await?;
        files.retain(PulledFile::is_photo);
        Ok(files)
    }

    /// One cheap authenticated request (`GET /jobs?size=1&fields=jnid`), never retried, so a
    /// probe answers fast. `Err` only if the request cannot be built.
    pub async fn health_check(&self) -> Result<HealthStatus, ClientError> {
        let url = self.url(&["jobs"])?;
        let params = [("size", "1".to_owned()), ("fields", "jnid".to_owned())];
        let span = tracing::info_span!("jobnimbus_health", path = %url.path());
        async {
            self.inner.pacer.wait().await;
            let started = Instant::now();
            let attempt = self.attempt(&Call::get(url.clone(), &params)).await;
            let latency = started.elapsed();
            let status = match attempt {
                Attempt::Done(Answer::Body(body), status) => {
                    match serde_json::from_str::<ResultsEnvelope<Value>>(&body) {
                        Ok(_) => HealthStatus::Healthy { latency },
                        Err(e) => HealthStatus::Unhealthy {
                            status: Some(status.as_u16()),
                            reason: format!("unexpected body: {e}"),
                        },
                    }
                }
                Attempt::Done(Answer::NotFound, status) => HealthStatus::Unhealthy {
                    status: Some(status.as_u16()),
                    reason: "not found".into(),
                },
                Attempt::Fatal(ClientError::Unauthorized { .. }) => {
                    HealthStatus::AuthRejected { latency }
                }
                Attempt::Fatal(
                    ClientError::Rejected {
                        status, message, ..
                    }
                    | ClientError::Server {
                        status, message, ..
                    },
                ) => HealthStatus::Unhealthy {
                    status: Some(status),
                    reason: message,
                },
                Attempt::Fatal(other) => HealthStatus::Unreachable {
                    reason: other.to_string(),
                },
                Attempt::Transient(failure @ TransientFailure::RateLimited { .. }) => {
                    HealthStatus::Unhealthy {
                        status: Some(429),
                        reason: failure.to_string(),
                    }
                }
                Attempt::Transient(TransientFailure::Gateway { status }) => {
                    HealthStatus::Unhealthy {
                        status: Some(status),
                        reason: format!("HTTP {status}"),
                    }
                }
                Attempt::Transient(failure) => HealthStatus::Unreachable {
                    reason: failure.to_string(),
                },
            };
            tracing::info!(
                healthy = status.is_healthy(),
                latency_ms = latency.as_millis() as u64,
                "health check"
            );
            Ok(status)
        }
        .instrument(span)
        .await
    }

    /// Every job updated at or after `since` (all jobs for `None`), in pages of up to
    /// `page_size`, past the 10,000-row window. See [`UpdatedSincePager`] for the guarantees.
    pub fn jobs_updated_since(
        &self,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<UpdatedSincePager<PulledJob>, ClientError> {
        UpdatedSincePager::new(self.clone(), "jobs", listed_job, since, page_size)
    }

    /// Like [`JobNimbusClient::jobs_updated_since`], for contacts.
    pub fn contacts_updated_since(
        &self,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<UpdatedSincePager<PulledContact>, ClientError> {
        UpdatedSincePager::new(self.clone(), "contacts", listed_contact, since, page_size)
    }

    /// Drains [`JobNimbusClient::jobs_updated_since`] into memory. Fine for a sync pass
    /// (30,000 jobs are a few tens of MB); use the pager to stream instead.
    pub async fn fetch_all_jobs_updated_since(
        &self,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<Vec<Page<PulledJob>>, ClientError> {
        let mut pager = self.jobs_updated_since(since, page_size)?;
        let mut pages = Vec::new();
        while let Some(page) = pager.next_page().await? {
            pages.push(page);
        }
        Ok(pages)
    }

    // ----- transport -----

    /// One list page: the envelope's `count` and each record read by `read`.
    async fn list<T>(
        &self,
        resource: &'static str,
        params: &[(&'static str, String)],
        read: fn(&str) -> Option<Listed<T>>,
    ) -> Result<(u64, Vec<Listed<T>>), ClientError> {
        let body = self.get_body(&[resource], params).await?;
        decode_list(&body, &format!("/{resource}"), read)
    }

    pub(super) async fn get_body(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
    ) -> Result<String, ClientError> {
        match self.get(segments, params, false).await? {
            Answer::Body(body) => Ok(body),
            // `get` only yields NotFound when asked to.
            Answer::NotFound => Err(ClientError::Rejected {
                method: "GET".into(),
                path: format!("/{}", segments.join("/")),
                status: 404,
                message: "not found".into(),
            }),
        }
    }

    async fn get(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        not_found_is_none: bool,
    ) -> Result<Answer, ClientError> {
        let call = Call {
            not_found_is_none,
            ..Call::get(self.url(segments)?, params)
        };
        self.send(&call).await
    }

    /// Sends with pacing and retries as `call.replay` allows. One span per logical request,
    /// one event per attempt; the query string is never logged (its filter may hold record
    /// values, a presigned URL's is a credential).
    pub(super) async fn send(&self, call: &Call<'_>) -> Result<Answer, ClientError> {
        let method = &call.method;
        let path = call.url.path().to_owned();
        let span = tracing::info_span!("jobnimbus_request", method = %method, path = %path);
        async {
            let mut attempt: u32 = 0;
            loop {
                attempt = attempt.saturating_add(1);
                if call.authenticated {
                    self.inner.pacer.wait().await;
                }
                let started = Instant::now();
                let outcome = self.attempt(call).await;
                let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let failure = match outcome {
                    Attempt::Done(answer, status) => {
                        tracing::debug!(attempt, status = status.as_u16(), latency_ms, "answered");
                        return Ok(answer);
                    }
                    // A create answered with an error of the server's own may have been
                    // applied before it failed.
                    Attempt::Fatal(ClientError::Server {
                        status, message, ..
                    }) if call.replay == Replay::OnlyIfNotApplied => {
                        tracing::warn!(attempt, latency_ms, status, "failed, may have applied");
                        return Err(ClientError::Ambiguous {
                            method: method.to_string(),
                            path: path.clone(),
                            reason: format!("HTTP {status}: {message}"),
                        });
                    }
                    Attempt::Fatal(error) => {
                        tracing::debug!(attempt, latency_ms, %error, "failed, not retryable");
                        return Err(error);
                    }
                    Attempt::Transient(failure) => failure,
                };
                if !self
                    .inner
                    .retry
                    .should_retry(call.replay, &failure, attempt)
                {
                    tracing::warn!(attempt, latency_ms, %failure, "giving up");
                    if call.replay == Replay::OnlyIfNotApplied && failure.may_have_applied() {
                        return Err(ClientError::Ambiguous {
                            method: method.to_string(),
                            path: path.clone(),
                            reason: failure.to_string(),
                        });
                    }
                    return Err(ClientError::RetriesExhausted {
                        method: method.to_string(),
                        path: path.clone(),
                        attempts: attempt,
                        last: failure,
                    });
                }
                let delay = self
                    .inner
                    .retry
                    .delay(attempt, &failure, self.inner.jitter.unit());
                tracing::warn!(
                    attempt,
                    latency_ms,
                    %failure,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "transient failure, retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }

    /// One exchange, classified. Never sleeps, never retries.
    async fn attempt(&self, call: &Call<'_>) -> Attempt {
        let method = &call.method;
        let path = call.url.path();
        let fatal_transport = |message: String| {
            Attempt::Fatal(ClientError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                message,
            })
        };
        let mut request = self.inner.http.request(method.clone(), call.url.clone());
        // An empty `query` would still rewrite the URL; a presigned one must stay as signed.
        if !call.params.is_empty() {
            request = request.query(call.params);
        }
        if call.authenticated {
            match auth_header(&self.inner.api_key) {
                Ok(auth) => request = request.header(AUTHORIZATION, auth),
                Err(e) => return Attempt::Fatal(e),
            }
        }
        request = match call.payload {
            None => request,
            Some(Payload::Json(body)) => request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
            Some(Payload::Bytes(bytes)) => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone()),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return match classify(e) {
                    Ok(failure) => Attempt::Transient(failure),
                    Err(message) => fatal_transport(message),
                }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_success() {
            return match response.bytes().await {
                Ok(bytes) => Attempt::Done(Answer::Body(text_of(bytes.into())), status),
                Err(e) => match classify(e) {
                    Ok(failure) => Attempt::Transient(failure),
                    Err(message) => fatal_transport(message),
                },
            };
        }
        match status {
            StatusCode::UNAUTHORIZED => {
                return Attempt::Fatal(ClientError::Unauthorized {
                    method: method.to_string(),
                    path: path.to_owned(),
                })
            }
            StatusCode::NOT_FOUND if call.not_found_is_none => {
                return Attempt::Done(Answer::NotFound, status)
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Attempt::Transient(TransientFailure::RateLimited { retry_after })
            }
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => {
                return Attempt::Transient(TransientFailure::Gateway {
                    status: status.as_u16(),
                })
            }
            _ => {}
        }
        // Reading the body is best effort: the status already says what went wrong.
        let body = response.text().await.unwrap_or_default();
        let message = self.scrub(&error_message(&body));
        let (method, path, status) = (method.to_string(), path.to_owned(), status.as_u16());
        if (400..500).contains(&status) {
            Attempt::Fatal(ClientError::Rejected {
                method,
                path,
                status,
                message,
            })
        } else {
            Attempt::Fatal(ClientError::Server {
                method,
                path,
                status,
                message,
            })
        }
    }

    pub(super) fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        join(&self.inner.base, segments)
    }

    /// A URL of the files service: `{files base}/files/v1/{segments}`.
    pub(super) fn files_url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        join(
            &self.inner.files_base,
            &[&["files", "v1"], segments].concat(),
        )
    }

    /// Belt and braces: a server echoing our headers must not leak the key into an error.
    fn scrub(&self, text: &str) -> String {
        let key = self.inner.api_key.expose_secret();
        if key.is_empty() {
            text.to_owned()
        } else {
            text.replace(key, "<redacted>")
        }
    }
}

/// Pages through records updated at or after a point in time, oldest change first, past the
/// API's 10,000-row window.
///
/// How: keyset paging on `date_updated`. Each request asks for `date_updated >= cursor`
/// sorted ascending from offset 0, and the cursor moves to the last row's second. Records in
/// the cursor's second are fetched again by the next request and skipped by jnid. Offsets are
/// never used across seconds, so records that change while we page cannot shift unseen rows
/// past us: a changed record moves to "now" and is fetched again (newer) later.
///
/// When a whole page shares one second (more records in that second than `page_size`), that
/// second is drained with offsets under `date_updated` in `[s, s + 1)`, swept again until a
/// sweep finds nothing new (at most 4 sweeps: a record leaving the second mid-sweep shifts
/// the offsets), then the cursor moves to `s + 1`.
///
/// Guarantees: no record whose `date_updated` stays put during the pull is returned twice,
/// and none is skipped unless records keep leaving a crowded second through every sweep.
/// A record updated during the pull may be returned again with a later `date_updated`; keep
/// the latest. A record written during the pull into a second the pull has already passed
/// (the current second, typically) is left for the next pull, which must therefore start at
/// [`UpdatedSincePager::resume_from`] (inclusive), never later. Records with no
/// `date_updated` can only appear on an unfiltered first page (no date cursor reaches them)
/// and are rejected anyway. Fails with [`ClientError::WindowExceeded`] if more than 10,000
/// records share one second.
pub struct UpdatedSincePager<T> {
    client: JobNimbusClient,
    resource: &'static str,
    read: fn(&str) -> Option<Listed<T>>,
    page_size: u32,
    /// Lower bound (inclusive, unix seconds) of the next request.
    cursor: Option<i64>,
    /// jnids already returned whose `date_updated` is the cursor's second.
    seen_at_cursor: HashSet<String>,
    /// Draining one crowded second with offsets.
    drain: Option<Drain>,
    /// Largest `date_updated` returned so far.
    latest_returned: Option<i64>,
    /// Earliest crowded second we moved past while it may still have been receiving writes.
    open_second: Option<i64>,
    done: bool,
}

#[derive(Clone, Copy, Debug)]
struct Drain {
    second: i64,
    from: u32,
    /// Sweeps over the second completed so far.
    sweep: u32,
    /// Records first returned during the current sweep.
    fresh_in_sweep: usize,
}

/// Offset sweeps over a crowded second skip a row whenever another row leaves the second
/// mid-sweep (its record was edited), so a second is swept again until a sweep finds nothing
/// new, at most this many times.
const MAX_DRAIN_SWEEPS: u32 = 4;

/// A drained second this close to our clock may still be receiving writes (clock skew
/// between us and JobNimbus included).
const LIVE_SECOND_MARGIN_SECS: i64 = 300;

impl<T> fmt::Debug for UpdatedSincePager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdatedSincePager")
            .field("resource", &self.resource)
            .field("page_size", &self.page_size)
            .field("cursor", &self.cursor)
            .field("drain", &self.drain)
            .field("done", &self.done)
            .finish()
    }
}

impl<T> UpdatedSincePager<T> {
    fn new(
        client: JobNimbusClient,
        resource: &'static str,
        read: fn(&str) -> Option<Listed<T>>,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<Self, ClientError> {
        // A page of one could never see past a second with two records, and the drain
        // needs at least two rows per page to make progress through its window.
        if !(2..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ClientError::InvalidRequest(format!(
                "page size {page_size} is outside 2..={MAX_PAGE_SIZE}"
            )));
        }
        Ok(Self {
            client,
            resource,
            read,
            page_size,
            cursor: since.map(|t| t.timestamp()),
            seen_at_cursor: HashSet::new(),
            drain: None,
            latest_returned: None,
            open_second: None,
            done: false,
        })
    }

    /// Where the next pull should start (inclusive): the latest `date_updated` returned so
    /// far, or earlier if the pull moved past a crowded second that was recent enough to still
    /// receive writes. Never resume later than this, or those writes would be missed.
    pub fn resume_from(&self) -> Option<DateTime<Utc>> {
        let second = match (self.latest_returned, self.open_second) {
            (Some(latest), Some(open)) => Some(latest.min(open)),
            (latest, open) => latest.or(open),
        };
        second.and_then(|s| DateTime::from_timestamp(s, 0))
    }

    /// The next page, or `None` once every matching record has been returned. A page may be
    /// empty (e.g. after draining a crowded second); keep calling until `None`.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        if let Some(drain) = self.drain {
            return self.next_drain_page(drain).await.map(Some);
        }
        let params = list_params(
            ListSort::UpdatedAscending,
            0,
            self.page_size,
            updated_filter(self.cursor, None),
        );
        let (count, rows) = self.client.list(self.resource, &params, self.read).await?;
        let previous = self.cursor;
        // Judged by `count`, not by a short page: the API may cap `size` below what we asked.
        let full = !rows.is_empty() && (rows.len() as u64) < count;
        let last = rows.last().and_then(|row| row.date_updated);

        let mut fresh = Vec::with_capacity(rows.len());
        for row in rows {
            let repeat = row.date_updated.is_some()
                && row.date_updated == previous
                && row
                    .jnid
                    .as_ref()
                    .is_some_and(|j| self.seen_at_cursor.contains(j));
            if !repeat {
                fresh.push(row);
            }
        }

        match (full, last) {
            (false, _) => self.done = true,
            // Rows without a date sort last, so every dated row is already in this page, and
            // the undated ones cannot be reached with a date cursor.
            (true, None) => {
                tracing::warn!(
                    resource = self.resource,
                    "records without date_updated cannot be paged past; stopping"
                );
                self.done = true;
            }
            // Ascending from `previous`: a full page ending at `previous` is all `previous`.
            (true, Some(last)) if Some(last) == previous => {
                self.drain = Some(Drain {
                    second: last,
                    from: 0,
                    sweep: 0,
                    fresh_in_sweep: 0,
                });
            }
            (true, Some(last)) => {
                self.cursor = Some(last);
                self.seen_at_cursor.clear();
            }
        }
        Ok(Some(self.remember_and_map(count, fresh)))
    }

    async fn next_drain_page(&mut self, drain: Drain) -> Result<Page<T>, ClientError> {
        let room = RESULT_WINDOW.saturating_sub(drain.from);
        let size = self.page_size.min(room);
        let second = drain.second;
        let params = list_params(
            ListSort::UpdatedAscending,
            drain.from,
            size,
            updated_filter(Some(second), Some(second.saturating_add(1))),
        );
        let (count, rows) = self.client.list(self.resource, &params, self.read).await?;
        if count > u64::from(RESULT_WINDOW) {
            return Err(ClientError::WindowExceeded {
                resource: self.resource,
                what: format!("date_updated second {second}"),
                count,
            });
        }
        let received = rows.len();
        let fresh: Vec<Listed<T>> = rows
            .into_iter()
            .filter(|row| {
                !row.jnid
                    .as_ref()
                    .is_some_and(|j| self.seen_at_cursor.contains(j))
            })
            .collect();
        let fresh_in_sweep = drain.fresh_in_sweep + fresh.len();
        // Advance by what came back, in case the API capped `size`.
        let next_from = drain
            .from
            .saturating_add(u32::try_from(received).unwrap_or(u32::MAX));
        let sweep_done = received == 0 || u64::from(next_from) >= count;
        self.drain = match (sweep_done, drain.sweep + 1) {
            (false, _) => Some(Drain {
                from: next_from,
                fresh_in_sweep,
                ..drain
            }),
            // The first sweep always gets a confirming one; later ones only if they found more.
            (true, done) if done < MAX_DRAIN_SWEEPS && (done == 1 || fresh_in_sweep > 0) => {
                Some(Drain {
                    second,
                    from: 0,
                    sweep: done,
                    fresh_in_sweep: 0,
                })
            }
            (true, _) => None,
        };
        if self.drain.is_some() {
            return Ok(self.remember_and_map(count, fresh));
        }
        let page = self.remember_and_map(count, fresh);
        // Moving past `second` is only safe once the API's clock has left it; we cannot read
        // that clock, so a recent second (ours, with room for skew) stays open for the next
        // pull to read again.
        if second
            >= Utc::now()
                .timestamp()
                .saturating_sub(LIVE_SECOND_MARGIN_SECS)
        {
            self.open_second = Some(self.open_second.map_or(second, |o| o.min(second)));
        }
        // Nothing at the new cursor second has been returned yet.
        self.cursor = Some(second.saturating_add(1));
        self.seen_at_cursor.clear();
        Ok(page)
    }

    /// Records the jnids at the cursor's second (the next request returns them again) and
    /// makes the page.
    fn remember_and_map(&mut self, total: u64, rows: Vec<Listed<T>>) -> Page<T> {
        let mut mapped = Vec::with_capacity(rows.len());
        for row in rows {
            let second = row.date_updated;
            self.latest_returned = self.latest_returned.max(second);
            if let (Some(jnid), true) = (row.jnid, second.is_some() && second == self.cursor) {
                self.seen_at_cursor.insert(jnid);
            }
            mapped.push(row.mapped);
        }
        map_page(total, mapped)
    }
}

// ----- pure helpers -----

/// `base` with `segments` appended, each percent-encoded, so a jnid can never change the
/// path's shape.
fn join(base: &Url, segments: &[&str]) -> Result<Url, ClientError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| ClientError::Config("base URL cannot hold paths".into()))?
        .extend(segments);
    Ok(url)
}

/// When and how long to retry.
#[derive(Clone, Copy, Debug)]
struct RetryPolicy {
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    retry_after_cap: Duration,
}

impl RetryPolicy {
    /// Idempotent requests retry every transient failure; others only the ones that prove the
    /// server did not act (a 429 refusal, a connection never made). `attempt` counts from 1.
    fn should_retry(&self, replay: Replay, failure: &TransientFailure, attempt: u32) -> bool {
        if attempt > self.max_retries {
            return false;
        }
        replay == Replay::Idempotent || !failure.may_have_applied()
    }

    /// `Retry-After` when the server sent one (capped), else full jitter: uniform in
    /// `[0, min(cap, base * 2^(attempt - 1))]`. `unit` is in `[0, 1)`.
    fn delay(&self, attempt: u32, failure: &TransientFailure, unit: f64) -> Duration {
        if let TransientFailure::RateLimited {
            retry_after: Some(wait),
        } = failure
        {
            return (*wait).min(self.retry_after_cap);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Spaces request starts at least `interval` apart. A start slot is reserved under a short
/// lock and slept for outside it, so waiting tasks do not hold each other up further.
struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(None),
        }
    }

    /// The earliest start at or after `now` that keeps the spacing, and books it.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match *next {
            Some(free) if free > now => free,
            _ => now,
        };
        *next = Some(slot + self.interval);
        slot
    }

    async fn wait(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
    }
}

/// splitmix64 over an atomic counter: jitter only needs to differ between clients and
/// attempts, not to be unpredictable, so no `rand` dependency.
struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED);
        Self {
            state: AtomicU64::new(nanos),
        }
    }

    /// Uniform in `[0, 1)`.
    fn unit(&self) -> f64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn auth_header(key: &SecretString) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret().trim()))
        .map_err(|_| {
            ClientError::Config("the API key holds characters a header cannot carry".into())
        })?;
    // Keeps hyper/reqwest from printing it in their own debug output.
    value.set_sensitive(true);
    Ok(value)
}

/// Transient failures, or `Err(message)` for ones retrying cannot fix.
fn classify(error: reqwest::Error) -> Result<TransientFailure, String> {
    if error.is_timeout() {
        Ok(TransientFailure::Timeout)
    } else if error.is_builder() || error.is_redirect() {
        Err(describe(error))
    } else if error.is_connect() {
        Ok(TransientFailure::Connect(describe(error)))
    } else {
        Ok(TransientFailure::Network(describe(error)))
    }
}

/// The error and its causes on one line, without the URL (it holds the query string).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The message of a JSON error body (`error`, or a problem's `detail` or `title`, or the
/// `message` of a gateway), else the start of the body as text.
pub(super) fn error_message(body: &str) -> String {
    if let Ok(parsed) = serde_json::from_str::<ErrorBody>(body) {
        if let Some(message) = parsed.message() {
            return message;
        }
    }
    let text = body.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    text.chars().take(200).collect()
}

pub(super) fn decode<'a, T: serde::Deserialize<'a>>(
    body: &'a str,
    path: &str,
) -> Result<T, ClientError> {
    serde_json::from_str(body).map_err(|e| ClientError::Decode {
        method: "GET".into(),
        path: path.to_owned(),
        detail: format!("not the list envelope: {e}"),
    })
}

/// A list body: the envelope first, its records left as text, then each record on its own,
/// so no record costs a `Value` tree.
fn decode_list<T>(
    body: &str,
    path: &str,
    read: fn(&str) -> Option<Listed<T>>,
) -> Result<(u64, Vec<Listed<T>>), ClientError> {
    let envelope: ResultsEnvelope<&RawValue> = decode(body, path)?;
    let mut rows = Vec::with_capacity(envelope.results.len());
    for raw in envelope.results {
        match read(raw.get()) {
            Some(row) => rows.push(row),
            // A record that is not even a `Value` fails the page as it always did; decoding
            // the body the old way gives the error it always gave.
            None => {
                return Err(match decode::<ResultsEnvelope<Value>>(body, path) {
                    Err(error) => error,
                    Ok(_) => ClientError::Decode {
                        method: "GET".into(),
                        path: path.to_owned(),
                        detail: "not the list envelope: a record is not JSON".into(),
                    },
                })
            }
        }
    }
    Ok((envelope.count, rows))
}

/// The body as text, as `reqwest::Response::text` makes it (invalid UTF-8 replaced), without
/// its copy of every valid body.
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// The list parameters shared by every list call.
pub(super) fn list_params(
    sort: ListSort,
    from: u32,
    size: u32,
    filter: Option<String>,
) -> Vec<(&'static str, String)> {
    let (field, direction) = sort.params();
    let mut params = vec![
        ("sort_field", field.to_owned()),
        ("sort_direction", direction.to_owned()),
        ("from", from.to_string()),
        ("size", size.to_string()),
    ];
    if let Some(filter) = filter {
        params.push(("filter", filter));
    }
    params
}

/// `{"must":[{"range":{"date_updated":{"gte":since,"lt":before}}}]}`, or nothing unbounded.
fn updated_filter(since: Option<i64>, before: Option<i64>) -> Option<String> {
    let mut range = serde_json::Map::new();
    if let Some(since) = since {
        range.insert("gte".into(), json!(since));
    }
    if let Some(before) = before {
        range.insert("lt".into(), json!(before));
    }
    if range.is_empty() {
        return None;
    }
    Some(json!({ "must": [{ "range": { "date_updated": range } }] }).to_string())
}

fn map_page<T>(total: u64, mapped: impl IntoIterator<Item = Result<T, RejectedRecord>>) -> Page<T> {
    let mapped = mapped.into_iter();
    let mut items = Vec::with_capacity(mapped.size_hint().0);
    let mut rejected = Vec::new();
    for record in mapped {
        match record {
            Ok(item) => items.push(item),
            Err(reason) => rejected.push(reason),
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(
            rejected = rejected.len(),
            "JobNimbus records that cannot be mapped"
        );
    }
    Page {
        total,
        items,
        rejected,
    }
}

/// The id grammar our ids accept (see `domain::JobId`); refusing others up front keeps odd
/// input out of URLs and filters.
pub(super) fn check_jnid(jnid: &str) -> Result<(), ClientError> {
    domain::JobId::jobnimbus(jnid)
        .map(|_| ())
        .map_err(|e| ClientError::InvalidRequest(format!("not a jnid: {e}")))
}

/// True when the raw file names `jnid` as its `primary.id` or one of its `related[].id`.
pub(super) fn links_to(raw: &Value, jnid: &str) -> bool {
    let is = |link: &Value| link.get("id").and_then(Value::as_str) == Some(jnid);
    raw.get("primary").is_some_and(is)
        || match raw.get("related") {
            Some(Value::Array(links)) => links.iter().any(is),
            Some(link) => is(link),
            None => false,
        }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::time::{Duration, Instant};

    use chrono::{DateTime, Utc};
    use secrecy::SecretString;
    use serde_json::Value;

    use super::*;
    use crate::jobnimbus::sandbox::{
        FaultConfig, Resource, RunningSandbox, SandboxConfig, SandboxJobNimbus,
    };

    const KEY: &str = "jn-client-test-key-7f3c91d2";
    const ANCHOR: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn sandbox_config(jobs: usize, faults: FaultConfig) -> SandboxConfig {
        SandboxConfig {
            jobs,
            contacts: 120,
            anchor: ANCHOR,
            faults,
            ..SandboxConfig::new(KEY, 11)
        }
    }

    async fn start(config: SandboxConfig) -> RunningSandbox {
        SandboxJobNimbus::start(config).await.unwrap()
    }

    /// Fast retries and no pacing: tests prove behaviour, not timing.
    fn fast_config(base_url: String, key: &str) -> ClientConfig {
        ClientConfig {
            timeout: Duration::from_secs(10),
            max_retries: 8,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
            retry_after_cap: Duration::from_millis(5),
            min_request_interval: Duration::ZERO,
            ..ClientConfig::new(base_url, SecretString::from(key.to_owned()))
        }
    }

    fn client(sandbox: &RunningSandbox) -> JobNimbusClient {
        JobNimbusClient::new(fast_config(sandbox.base_url(), KEY)).unwrap()
    }

    fn jnids_of(records: &[Value]) -> HashSet<String> {
        records
            .iter()
            .map(|r| r["jnid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every page's jnids and the envelope total each page reported.
    async fn all_jobs_by_offset(client: &JobNimbusClient, size: u32) -> (Vec<String>, Vec<u64>) {
        let mut jnids = Vec::new();
        let mut totals = Vec::new();
        let mut from = 0;
        loop {
            let page = client
                .fetch_jobs(&ListQuery::page(from, size))
                .await
                .unwrap();
            assert!(page.rejected.is_empty(), "{:?}", page.rejected);
            totals.push(page.total);
            let n = page.items.len() as u32;
            jnids.extend(page.items.into_iter().map(|j| j.jnid));
            from += size;
            if n < size {
                return (jnids, totals);
            }
        }
    }

    // ----- paging and mapping against the sandbox -----

    #[tokio::test]
    async fn paging_through_jobs_returns_every_job_once_with_the_envelope_total() {
        let sandbox = start(sandbox_config(450, FaultConfig::default())).await;
        let client = client(&sandbox);

        let (jnids, totals) = all_jobs_by_offset(&client, 100).await;

        let expected = jnids_of(&sandbox.handle().records(Resource::Jobs));
        assert_eq!(totals, vec![450; 5], "count is the total on every page");
        assert_eq!(jnids.len(), 450, "no job twice");
        assert_eq!(jnids.into_iter().collect::<HashSet<_>>(), expected);
    }

    #[tokio::test]
    async fn jobs_and_contacts_arrive_mapped_to_their_snapshots() {
        let sandbox = start(sandbox_config(50, FaultConfig::default())).await;
        let client = client(&sandbox);

        let jobs = client.fetch_jobs(&ListQuery::page(0, 50)).await.unwrap();
        let contacts = client
            .fetch_contacts(&ListQuery::page(0, 1000))
            .await
            .unwrap();

        assert_eq!(contacts.total, 120);
        assert_eq!(contacts.items.len(), 120);
        assert!(jobs.rejected.is_empty() && contacts.rejected.is_empty());
        let job = &jobs.items[0];
        let raw = sandbox.handle().get(Resource::Jobs, &job.jnid).unwrap();
        assert_eq!(job.snapshot.name, raw["name"].as_str().unwrap());
        assert_eq!(job.snapshot.status.as_deref(), raw["status_name"].as_str());
        assert_eq!(
            job.snapshot.contact_external_id.as_deref(),
            raw["primary"]["id"].as_str()
        );
        assert_eq!(
            job.date_updated.timestamp(),
            raw["date_updated"].as_i64().unwrap()
        );
        let contact = &contacts.items[0];
        let raw = sandbox
            .handle()
            .get(Resource::Contacts, &contact.jnid)
            .unwrap();
        assert_eq!(
            contact.snapshot.display_name,
            raw["display_name"].as_str().unwrap()
        );
    }

    #[tokio::test]
    async fn pages_come_sorted_by_date_updated_ascending_by_default() {
        let sandbox = start(sandbox_config(200, FaultConfig::default())).await;
        let client = client(&sandbox);

        let page = client.fetch_jobs(&ListQuery::page(0, 200)).await.unwrap();

        let dates: Vec<DateTime<Utc>> = page.items.iter().map(|j| j.date_updated).collect();
        assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    }

    #[tokio::test]
    async fn updated_since_and_before_select_exactly_the_jobs_updated_in_that_window() {
        let sandbox = start(sandbox_config(300, FaultConfig::default())).await;
        let client = client(&sandbox);
        let records = sandbox.handle().records(Resource::Jobs);
        let mut seconds: Vec<i64> = records
            .iter()
            .map(|r| r["date_updated"].as_i64().unwrap())
            .collect();
        seconds.sort_unstable();
        let (since, before) = (seconds[100], seconds[200]);

        let page = client
            .fetch_jobs(&ListQuery {
                updated_since: DateTime::from_timestamp(since, 0),
                updated_before: DateTime::from_timestamp(before, 0),
                ..ListQuery::page(0, 1000)
            })
            .await
            .unwrap();

        let expected: HashSet<String> = records
            .iter()
            .filter(|r| (since..before).contains(&r["date_updated"].as_i64().unwrap()))
            .map(|r| r["jnid"].as_str().unwrap().to_owned())
            .collect();
        let got: HashSet<String> = page.items.into_iter().map(|j| j.jnid).collect();
        assert_eq!(page.total as usize, expected.len());
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_job_fetched_by_id_is_mapped_and_an_unknown_id_is_none() {
        let sandbox = start(sandbox_config(20, FaultConfig::default())).await;
        let client = client(&sandbox);
        let jnid = sandbox.handle().random_jnid(Resource::Jobs).unwrap();

        let job = client.fetch_job_by_id(&jnid).await.unwrap().unwrap();
        let missing = client.fetch_job_by_id("doesnotexist").await.unwrap();
        let refused = client.fetch_job_by_id("../contacts").await.unwrap_err();

        assert_eq!(job.jnid, jnid);
        assert_eq!(job.id.as_str(), format!("jobnimbus:{jnid}"));
        assert_eq!(missing, None);
        assert!(
            matches!(refused, ClientError::InvalidRequest(_)),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_contact_fetched_by_id_is_mapped_and_an_unknown_id_is_none() {
        let sandbox = start(sandbox_config(20, FaultConfig::default())).await;
        let client = client(&sandbox);
        let jnid = sandbox.handle().random_jnid(Resource::Contacts).unwrap();
        let raw = sandbox.handle().get(Resource::Contacts, &jnid).unwrap();

        let contact = client.fetch_contact_by_id(&jnid).await.unwrap().unwrap();
        let missing = client.fetch_contact_by_id("doesnotexist").await.unwrap();
        let refused = client.fetch_contact_by_id("../jobs").await.unwrap_err();

        assert_eq!(contact.jnid, jnid);
        assert_eq!(contact.id.as_str(), format!("jobnimbus:{jnid}"));
        assert_eq!(
            contact.date_updated.timestamp(),
            raw["date_updated"].as_i64().unwrap()
        );
        assert_eq!(
            contact.snapshot,
            contact_from_value(raw).unwrap().snapshot,
            "the same mapping as a listed contact"
        );
        assert_eq!(missing, None);
        assert!(
            matches!(refused, ClientError::InvalidRequest(_)),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_file_fetched_by_id_names_its_jobs_and_an_unknown_id_is_none() {
        let sandbox = start(sandbox_config(20, FaultConfig::default())).await;
        let client = client(&sandbox);
        let jnid = sandbox.handle().random_jnid(Resource::Files).unwrap();
        let raw = sandbox.handle().get(Resource::Files, &jnid).unwrap();

        let file = client.fetch_file_by_id(&jnid).await.unwrap().unwrap();
        let missing = client.fetch_file_by_id("doesnotexist").await.unwrap();

        assert_eq!(file, file_from_value(raw).unwrap());
        assert!(!file.related_job_ids.is_empty(), "{file:?}");
        assert_eq!(missing, None);
    }

    #[tokio::test]
    async fn soft_deleted_jobs_are_listed_as_inactive() {
        let sandbox = start(sandbox_config(20, FaultConfig::default())).await;
        let client = client(&sandbox);
        let jnid = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
        sandbox.handle().soft_delete(Resource::Jobs, &jnid).unwrap();

        let job = client.fetch_job_by_id(&jnid).await.unwrap().unwrap();

        assert!(!job.is_active);
    }

    #[tokio::test]
    async fn attachments_and_photos_are_exactly_the_files_linked_to_the_job() {
        let sandbox = start(SandboxConfig {
            files_per_job: 6,
            ..sandbox_config(30, FaultConfig::default())
        })
        .await;
        let client = client(&sandbox);
        let files = sandbox.handle().records(Resource::Files);
        // The job with the most files, so the check is not vacuous.
        let mut per_job: HashMap<String, Vec<&Value>> = HashMap::new();
        for file in &files {
            for link in file["related"].as_array().unwrap() {
                per_job
                    .entry(link["id"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(file);
            }
        }
        let (jnid, expected) = per_job.iter().max_by_key(|(_, v)| v.len()).unwrap();
        let expected_photos: HashSet<String> = expected
            .iter()
            .filter(|f| {
                f["record_type_name"] == "Photo"
                    || f["content_type"].as_str().unwrap().starts_with("image/")
            })
            .map(|f| f["jnid"].as_str().unwrap().to_owned())
            .collect();

        let attachments = client.fetch_attachments(jnid).await.unwrap();
        let photos = client.fetch_job_photos(jnid).await.unwrap();

        let got: HashSet<String> = attachments.iter().map(|f| f.jnid.clone()).collect();
        assert_eq!(got.len(), attachments.len(), "no file twice");
        assert_eq!(
            got,
            expected
                .iter()
                .map(|f| f["jnid"].as_str().unwrap().to_owned())
                .collect()
        );
        assert!(attachments.iter().all(|f| f.related_job_ids.contains(jnid)));
        let got_photos: HashSet<String> = photos.iter().map(|f| f.jnid.clone()).collect();
        assert_eq!(got_photos, expected_photos);
        assert!(!expected_photos.is_empty() && expected_photos.len() < expected.len());
    }

    // ----- the updated-since pager -----

    async fn pull_all(
        client: &JobNimbusClient,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Vec<PulledJob> {
        client
            .fetch_all_jobs_updated_since(since, page_size)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|page| {
                assert!(page.rejected.is_empty(), "{:?}", page.rejected);
                page.items
            })
            .collect()
    }

    fn assert_each_once(pulled: &[PulledJob], expected: &HashSet<String>) {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for job in pulled {
            *counts.entry(job.jnid.as_str()).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "returned more than once: {twice:?}");
        let got: HashSet<String> = counts.keys().map(|j| (*j).to_owned()).collect();
        let missing: Vec<_> = expected.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{} missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert_eq!(&got, expected);
    }

    #[tokio::test]
    async fn an_updated_since_pull_gets_past_the_10000_row_window_returning_each_of_30000_jobs_once(
    ) {
        let sandbox = start(SandboxConfig {
            files_per_job: 0,
            activities_per_job: 0,
            tasks_per_job: 0,
            contacts: 200,
            ..sandbox_config(30_000, FaultConfig::default())
        })
        .await;
        let client = client(&sandbox);

        let pulled = pull_all(&client, None, 1000).await;

        assert_eq!(pulled.len(), 30_000);
        assert_each_once(
            &pulled,
            &jnids_of(&sandbox.handle().records(Resource::Jobs)),
        );
        let dates: Vec<DateTime<Utc>> = pulled.iter().map(|j| j.date_updated).collect();
        assert!(
            dates.windows(2).all(|w| w[0] <= w[1]),
            "oldest change first"
        );
    }

    #[tokio::test]
    async fn an_updated_since_pull_returns_only_jobs_changed_since_the_cursor() {
        let sandbox = start(sandbox_config(400, FaultConfig::default())).await;
        let client = client(&sandbox);
        let records = sandbox.handle().records(Resource::Jobs);
        let mut seconds: Vec<i64> = records
            .iter()
            .map(|r| r["date_updated"].as_i64().unwrap())
            .collect();
        seconds.sort_unstable();
        let since = seconds[250];

        let pulled = pull_all(&client, DateTime::from_timestamp(since, 0), 40).await;

        let expected: HashSet<String> = records
            .iter()
            .filter(|r| r["date_updated"].as_i64().unwrap() >= since)
            .map(|r| r["jnid"].as_str().unwrap().to_owned())
            .collect();
        assert_each_once(&pulled, &expected);
    }

    #[tokio::test]
    async fn more_jobs_in_one_second_than_a_page_are_drained_without_skipping_any() {
        let sandbox = start(SandboxConfig {
            files_per_job: 0,
            activities_per_job: 0,
            tasks_per_job: 0,
            ..sandbox_config(120, FaultConfig::default())
        })
        .await;
        // 450 jobs stamped with the same second, then a few later ones.
        sandbox.handle().add_jobs(450);
        sandbox.handle().advance_clock(5);
        sandbox.handle().add_jobs(7);
        let client = client(&sandbox);

        let pulled = pull_all(&client, None, 100).await;

        assert_each_once(
            &pulled,
            &jnids_of(&sandbox.handle().records(Resource::Jobs)),
        );
    }

    #[tokio::test]
    async fn jobs_changed_while_pulling_are_never_skipped_and_a_resumed_pull_catches_up() {
        let sandbox = start(SandboxConfig {
            files_per_job: 0,
            activities_per_job: 0,
            tasks_per_job: 0,
            ..sandbox_config(
                1_000,
                FaultConfig {
                    churn: 0.5,
                    churn_edits: 20,
                    churn_inserts: 3,
                    ..FaultConfig::default()
                },
            )
        })
        .await;
        let client = client(&sandbox);
        let before: HashMap<String, Value> = sandbox
            .handle()
            .records(Resource::Jobs)
            .into_iter()
            .map(|r| {
                (
                    r["jnid"].as_str().unwrap().to_owned(),
                    r["date_updated"].clone(),
                )
            })
            .collect();

        let mut latest: HashMap<String, i64> = HashMap::new();
        let mut pager = client.jobs_updated_since(None, 50).unwrap();
        while let Some(page) = pager.next_page().await.unwrap() {
            for job in page.items {
                latest.insert(job.jnid, job.date_updated.timestamp());
            }
        }
        let first_pass = latest.clone();
        // The sync's next pass: from where this one stopped, inclusive.
        sandbox.handle().set_faults(FaultConfig::default());
        let resumed = pull_all(&client, pager.resume_from(), 50).await;
        for job in resumed {
            latest.insert(job.jnid, job.date_updated.timestamp());
        }

        assert!(sandbox.handle().fault_stats().churned_records > 0);
        let records = sandbox.handle().records(Resource::Jobs);
        for record in &records {
            let jnid = record["jnid"].as_str().unwrap();
            if before.get(jnid) == Some(&record["date_updated"]) {
                assert!(
                    first_pass.contains_key(jnid),
                    "unchanged job {jnid} skipped"
                );
            }
            assert_eq!(
                latest.get(jnid).copied(),
                record["date_updated"].as_i64(),
                "latest version of {jnid}"
            );
        }
        assert_eq!(latest.len(), records.len(), "every job, including new ones");
    }

    #[tokio::test]
    async fn pager_page_sizes_outside_two_to_a_thousand_are_refused() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let client = client(&sandbox);

        for size in [0, 1, 1001] {
            let err = client.jobs_updated_since(None, size).unwrap_err();
            assert!(matches!(err, ClientError::InvalidRequest(_)), "{err}");
        }
        assert!(client.contacts_updated_since(None, 2).is_ok());
    }

    #[tokio::test]
    async fn contacts_can_be_pulled_with_the_same_pager() {
        let sandbox = start(sandbox_config(10, FaultConfig::default())).await;
        let client = client(&sandbox);

        let mut pager = client.contacts_updated_since(None, 25).unwrap();
        let mut jnids = Vec::new();
        while let Some(page) = pager.next_page().await.unwrap() {
            jnids.extend(page.items.into_iter().map(|c| c.jnid));
        }

        assert_eq!(jnids.len(), 120);
        assert_eq!(
            jnids.into_iter().collect::<HashSet<_>>(),
            jnids_of(&sandbox.handle().records(Resource::Contacts))
        );
    }

    // ----- errors and resilience -----

    #[tokio::test]
    async fn a_wrong_key_is_unauthorized_at_once_without_a_retry() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let client = JobNimbusClient::new(fast_config(sandbox.base_url(), "wrong-key")).unwrap();

        let err = client.fetch_jobs(&ListQuery::default()).await.unwrap_err();

        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
        assert_eq!(sandbox.handle().fault_stats().requests, 1);
    }

    #[tokio::test]
    async fn other_client_errors_are_rejected_with_the_servers_message_and_not_retried() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let base = format!("{}/nope", sandbox.base_url());
        let client = JobNimbusClient::new(fast_config(base, KEY)).unwrap();

        let err = client.fetch_jobs(&ListQuery::default()).await.unwrap_err();

        match &err {
            ClientError::Rejected {
                status,
                message,
                path,
                ..
            } => {
                assert_eq!(*status, 404);
                assert_eq!(message, "Not found", "the body's `error` field");
                assert_eq!(path, "/api1/nope/jobs");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(sandbox.handle().fault_stats().requests, 1);
    }

    #[tokio::test]
    async fn list_queries_the_api_would_refuse_are_refused_before_sending() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let client = client(&sandbox);

        for query in [
            ListQuery::page(9_500, 1_000),
            ListQuery::page(0, 1_001),
            ListQuery::page(0, 0),
        ] {
            let err = client.fetch_jobs(&query).await.unwrap_err();
            assert!(matches!(err, ClientError::InvalidRequest(_)), "{err}");
        }
        assert!(client
            .fetch_jobs(&ListQuery::page(9_000, 1_000))
            .await
            .is_ok());
        assert_eq!(sandbox.handle().fault_stats().requests, 1);
    }

    /// Pages 30 times through a sandbox with `faults`; every call must succeed.
    async fn survives(faults: FaultConfig) -> crate::jobnimbus::sandbox::FaultStats {
        let sandbox = start(sandbox_config(300, faults)).await;
        let client = client(&sandbox);
        let calls = 30;
        for i in 0..calls {
            let page = client
                .fetch_jobs(&ListQuery::page((i % 10) * 30, 30))
                .await
                .unwrap_or_else(|e| panic!("call {i}: {e}"));
            assert_eq!(page.items.len(), 30);
        }
        let stats = sandbox.handle().fault_stats();
        let max_attempts = u64::from(calls) * (1 + 8);
        assert!(
            stats.requests > u64::from(calls),
            "faults were injected: {stats:?}"
        );
        assert!(
            stats.requests <= max_attempts,
            "bounded attempts: {stats:?}"
        );
        stats
    }

    #[tokio::test]
    async fn rate_limited_requests_without_retry_after_are_retried_until_they_succeed() {
        let stats = survives(FaultConfig {
            rate_limit: 0.4,
            retry_after_share: 0.0,
            ..FaultConfig::default()
        })
        .await;
        assert!(stats.rate_limited_without_retry_after > 0);
    }

    #[tokio::test]
    async fn rate_limited_requests_with_retry_after_are_retried_until_they_succeed() {
        // `retry_after_cap` (5 ms) cuts the server's 1 s: the test proves we obey the cap.
        let stats = survives(FaultConfig {
            rate_limit: 0.4,
            retry_after_share: 1.0,
            retry_after_secs: 1,
            ..FaultConfig::default()
        })
        .await;
        assert!(stats.rate_limited_with_retry_after > 0);
    }

    #[tokio::test]
    async fn gateway_errors_are_retried_until_they_succeed() {
        let stats = survives(FaultConfig {
            server_error: 0.4,
            ..FaultConfig::default()
        })
        .await;
        assert!(stats.bad_gateway + stats.service_unavailable + stats.gateway_timeout > 0);
    }

    #[tokio::test]
    async fn dropped_connections_are_retried_until_they_succeed() {
        let stats = survives(FaultConfig {
            drop_connection: 0.3,
            ..FaultConfig::default()
        })
        .await;
        assert!(stats.dropped_connections > 0);
    }

    #[tokio::test]
    async fn retries_give_up_after_max_retries_naming_the_last_failure_and_the_attempts() {
        let sandbox = start(sandbox_config(
            5,
            FaultConfig {
                rate_limit: 1.0,
                ..FaultConfig::default()
            },
        ))
        .await;
        let client = JobNimbusClient::new(ClientConfig {
            max_retries: 3,
            ..fast_config(sandbox.base_url(), KEY)
        })
        .unwrap();

        let err = client.fetch_jobs(&ListQuery::default()).await.unwrap_err();

        assert!(
            matches!(
                err,
                ClientError::RetriesExhausted {
                    attempts: 4,
                    last: TransientFailure::RateLimited { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
        let text = err.to_string();
        assert!(text.contains("4 attempt") && text.contains("429"), "{text}");
        assert_eq!(sandbox.handle().fault_stats().requests, 4);
    }

    #[tokio::test]
    async fn requests_slower_than_the_timeout_are_retried_then_reported_as_timeouts() {
        let sandbox = start(sandbox_config(
            5,
            FaultConfig {
                latency: Duration::from_secs(3),
                ..FaultConfig::default()
            },
        ))
        .await;
        let client = JobNimbusClient::new(ClientConfig {
            timeout: Duration::from_millis(100),
            max_retries: 1,
            ..fast_config(sandbox.base_url(), KEY)
        })
        .unwrap();

        let err = client.fetch_jobs(&ListQuery::default()).await.unwrap_err();

        assert!(
            matches!(
                err,
                ClientError::RetriesExhausted {
                    attempts: 2,
                    last: TransientFailure::Timeout,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_api_key_never_appears_in_debug_output_or_error_messages() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let config = fast_config(sandbox.base_url(), KEY);
        let client = JobNimbusClient::new(config.clone()).unwrap();
        let mut texts = vec![format!("{config:?}"), format!("{client:?}")];

        let wrong = JobNimbusClient::new(fast_config(sandbox.base_url(), "wrong-key")).unwrap();
        let nope =
            JobNimbusClient::new(fast_config(format!("{}/nope", sandbox.base_url()), KEY)).unwrap();
        sandbox.handle().set_faults(FaultConfig {
            rate_limit: 1.0,
            ..FaultConfig::default()
        });
        let mut errors = vec![client.fetch_jobs(&ListQuery::default()).await.unwrap_err()];
        sandbox.handle().set_faults(FaultConfig::default());
        errors.push(nope.fetch_jobs(&ListQuery::default()).await.unwrap_err());
        errors.push(wrong.fetch_jobs(&ListQuery::default()).await.unwrap_err());
        errors.push(JobNimbusClient::new(fast_config(sandbox.base_url(), "bad\nkey")).unwrap_err());
        for err in &errors {
            texts.push(err.to_string());
            texts.push(format!("{err:?}"));
        }

        for text in &texts {
            assert!(!text.contains(KEY), "key leaked: {text}");
            assert!(!text.contains("bad\nkey"), "key leaked: {text}");
        }
    }

    #[tokio::test]
    async fn health_check_tells_a_working_key_from_a_rejected_key_and_an_unreachable_server() {
        let sandbox = start(sandbox_config(5, FaultConfig::default())).await;
        let good = client(&sandbox);
        let wrong = JobNimbusClient::new(fast_config(sandbox.base_url(), "wrong-key")).unwrap();

        let healthy = good.health_check().await.unwrap();
        let rejected = wrong.health_check().await.unwrap();
        sandbox.shutdown().await.unwrap();
        let unreachable = good.health_check().await.unwrap();

        assert!(healthy.is_healthy(), "{healthy:?}");
        assert!(
            matches!(rejected, HealthStatus::AuthRejected { .. }),
            "{rejected:?}"
        );
        assert!(
            matches!(unreachable, HealthStatus::Unreachable { .. }),
            "{unreachable:?}"
        );
    }

    // ----- pure parts -----

    #[test]
    fn configuration_comes_from_the_seed_env_vars_with_the_production_defaults() {
        let vars: HashMap<&str, &str> = [("JOBNIMBUS_API_KEY", "k-123")].into();
        let config = ClientConfig::from_vars(|n| vars.get(n).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert!(!format!("{config:?}").contains("k-123"));

        let missing = ClientConfig::from_vars(|_| None).unwrap_err();
        assert!(matches!(missing, ClientError::Config(_)), "{missing}");
    }

    #[test]
    fn bad_base_urls_and_empty_keys_are_refused_when_building_the_client() {
        for (url, key) in [
            ("not a url", "k"),
            ("ftp://example.com/api1", "k"),
            ("https://app.jobnimbus.com/api1", "  "),
        ] {
            let config = ClientConfig::new(url, SecretString::from(key.to_owned()));
            let err = JobNimbusClient::new(config).unwrap_err();
            assert!(matches!(err, ClientError::Config(_)), "{err}");
        }
    }

    #[test]
    fn backoff_stays_under_an_exponential_ceiling_and_retry_after_is_capped() {
        let policy = RetryPolicy {
            max_retries: 10,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(2),
            retry_after_cap: Duration::from_secs(5),
        };
        let network = TransientFailure::Network("reset".into());
        for (attempt, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (5, 1600),
            (6, 2000),
            (40, 2000),
        ] {
            let ceiling = Duration::from_millis(ceiling_ms);
            assert_eq!(policy.delay(attempt, &network, 0.0), Duration::ZERO);
            assert!(policy.delay(attempt, &network, 0.999_999) <= ceiling);
            assert!(policy.delay(attempt, &network, 0.999_999) > ceiling.mul_f64(0.99));
        }
        let told = |secs| TransientFailure::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(policy.delay(1, &told(3), 0.5), Duration::from_secs(3));
        assert_eq!(policy.delay(1, &told(120), 0.5), Duration::from_secs(5));
        let jitter = Jitter::from_clock();
        assert!((0..1000)
            .map(|_| jitter.unit())
            .all(|u| (0.0..1.0).contains(&u)));
    }

    #[test]
    fn only_idempotent_requests_are_retried_after_an_ambiguous_failure() {
        let policy = RetryPolicy {
            max_retries: 2,
            backoff_base: Duration::ZERO,
            backoff_cap: Duration::ZERO,
            retry_after_cap: Duration::ZERO,
        };
        let gateway = TransientFailure::Gateway { status: 502 };
        let throttled = TransientFailure::RateLimited { retry_after: None };
        let refused = TransientFailure::Connect("refused".into());
        let create = Replay::OnlyIfNotApplied;
        let broken = TransientFailure::Network("connection closed".into());
        assert!(policy.should_retry(Replay::Idempotent, &gateway, 1));
        assert!(policy.should_retry(Replay::Idempotent, &TransientFailure::Timeout, 2));
        assert!(
            !policy.should_retry(Replay::Idempotent, &gateway, 3),
            "max_retries reached"
        );
        assert!(!policy.should_retry(create, &gateway, 1));
        assert!(!policy.should_retry(create, &TransientFailure::Timeout, 1));
        assert!(!policy.should_retry(create, &broken, 1));
        assert!(
            policy.should_retry(create, &throttled, 1),
            "429 was not applied"
        );
        assert!(policy.should_retry(create, &refused, 1), "never connected");
        assert!(
            !policy.should_retry(create, &refused, 3),
            "max_retries reached"
        );
    }

    #[test]
    fn pacing_books_request_starts_one_interval_apart_across_callers() {
        let pacer = Pacer::new(Duration::from_millis(250));
        let t0 = Instant::now();

        let slots: Vec<Instant> = (0..4).map(|_| pacer.reserve(t0)).collect();
        let later = pacer.reserve(t0 + Duration::from_secs(10));

        let gaps: Vec<Duration> = slots.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(slots[0], t0);
        assert!(
            gaps.iter().all(|g| *g == Duration::from_millis(250)),
            "{gaps:?}"
        );
        assert_eq!(
            later,
            t0 + Duration::from_secs(10),
            "an idle client starts at once"
        );
    }

    #[test]
    fn list_queries_filter_the_updated_window_at_whole_seconds() {
        let since = DateTime::from_timestamp(1_760_000_000, 0);
        let before = DateTime::from_timestamp(1_760_000_100, 500);
        let params = ListQuery {
            updated_since: since,
            updated_before: before,
            ..ListQuery::page(20, 10)
        }
        .params();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };

        assert_eq!(get("sort_field").as_deref(), Some("date_updated"));
        assert_eq!(get("sort_direction").as_deref(), Some("asc"));
        assert_eq!(get("from").as_deref(), Some("20"));
        assert_eq!(get("size").as_deref(), Some("10"));
        let filter: Value = serde_json::from_str(&get("filter").unwrap()).unwrap();
        assert_eq!(
            filter,
            serde_json::json!({"must":[{"range":{"date_updated":{
                "gte": 1_760_000_000, "lt": 1_760_000_101
            }}}]})
        );
        assert_eq!(
            ListQuery::default().params().len(),
            4,
            "no filter when unbounded"
        );
    }

    #[test]
    fn error_bodies_yield_their_error_field_or_their_first_characters() {
        assert_eq!(error_message(r#"{"error":"bad filter"}"#), "bad filter");
        assert_eq!(
            error_message(
                r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"type 99"}"#
            ),
            "type 99"
        );
        assert_eq!(
            error_message(r#"{"title":"Unauthorized","status":401}"#),
            "Unauthorized"
        );
        assert_eq!(error_message(r#"{"message":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_message("Authentication required"),
            "Authentication required"
        );
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(error_message(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn list_bodies_fail_whole_exactly_when_and_as_they_did_with_value_records() {
        let good = r#"{"jnid":"k1","name":"A","date_updated":1760000000}"#;
        let cases = [
            format!(r#"{{"count":2,"results":[{good},"not an object"]}}"#),
            format!(r#"{{"count":2,"results":[{good},{{"jnid":"k2","date_updated":1e400}}]}}"#),
            format!(r#"{{"count":1,"results":[{good}],"took":3}}"#),
            r#"{"count":0}"#.to_owned(),
            r#"{"results":[]}"#.to_owned(),
            r#"{"count":1,"results":null}"#.to_owned(),
            r#"{"count":1,"results":[{"jnid":"k1"},]}"#.to_owned(),
            "<html>502</html>".to_owned(),
        ];
        for body in &cases {
            let now = decode_list(body, "/jobs", listed_job);
            let before = decode::<ResultsEnvelope<Value>>(body, "/jobs");
            match (now, before) {
                (Ok((count, rows)), Ok(envelope)) => {
                    assert_eq!(count, envelope.count);
                    assert_eq!(rows.len(), envelope.results.len(), "{body}");
                }
                (Err(now), Err(before)) => {
                    assert_eq!(now.to_string(), before.to_string(), "{body}")
                }
                (now, before) => panic!("{body}: now {now:?}, before {before:?}"),
            }
        }
    }

    #[test]
    fn bodies_are_text_as_reqwest_makes_it() {
        assert_eq!(text_of(b"{\"a\":1}".to_vec()), "{\"a\":1}");
        let invalid = b"{\"a\":\"\xff\"}".to_vec();
        assert_eq!(
            text_of(invalid.clone()),
            String::from_utf8_lossy(&invalid).into_owned()
        );
    }
}
