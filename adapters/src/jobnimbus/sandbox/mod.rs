//! A sandbox JobNimbus: an in-process HTTP server that behaves like the v1 API
//! (reference/external-apis.md §1), awkward parts included, so the client, the sync engine,
//! benchmarks and the demo can run without a real account.
//!
//! What it enforces: Bearer-key auth (401 `Authentication required` as text), per-resource
//! envelopes (`results` / `activity` / `files`) with `count` = total hits, `from`/`size`
//! paging with `size` capped at 1000 and the Elasticsearch 10,000-row window, `sort_field` /
//! `sort_direction`, `fields` projection, the ES-style `filter`, unix-second timestamps, soft
//! deletes, `date_updated` bumps on every write and status-change activities.
//!
//! Writes: `POST /api1/{jobs,contacts,tasks,activities}` and `PUT /api1/{jobs,contacts,tasks}/
//! {jnid}` (partial), validated against the account's workflows, statuses, task and activity
//! types (400 `{"error"}` naming what is wrong, 404 for an unknown jnid), answered with the
//! whole record; the optional `skip=automation,notification` and `actor=<email>` (attribution
//! to that team member) query parameters. Files: the presigned three-step upload of the files
//! service on the host root (`/files/v1/uploads/…`, see `uploads`) and the deprecated base64
//! `POST /api1/files`; a file is listed only once its upload is complete.
//!
//! Automation webhooks ([`WebhookConfig`]): every record created or saved, over HTTP or
//! through the [`SandboxHandle`], is POSTed as a slim flat record to a configured URL, in the
//! background, unsigned, at least once, twice at a configurable rate; writes with
//! `skip=automation` fire nothing.
//!
//! What it injects on demand ([`FaultConfig`]): 429 with and without `Retry-After`,
//! 502/503/504 and 500 (on writes: before or after applying them), latency with spikes,
//! connections closed without a response (on writes: also after applying them), and records
//! that change while a client pages.
//!
//! Not simulated: the multipart upload and `POST /files/fromUrl`, the `actor` parameter's
//! permissions, per-key access profiles, webhooks for records purged with
//! [`SandboxHandle::purge`], notifications, and Elasticsearch's refresh delay (a record
//! written is listed at once; on the real API a list may miss it for about a second).

mod account;
mod data;
mod faults;
mod filter;
mod handle;
mod index;
mod net;
mod params;
mod record;
mod rng;
mod server;
mod store;
mod uploads;
mod webhooks;
mod words;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;

use std::fmt;

pub use faults::{FaultConfig, FaultStats};
pub use handle::{RunningSandbox, SandboxHandle, SandboxJobNimbus};
pub use webhooks::{WebhookConfig, WebhookStats};

/// The five record collections the sandbox serves under `/api1/{path}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Jobs,
    Contacts,
    Tasks,
    Activities,
    Files,
}

impl Resource {
    /// Every resource, in a fixed order.
    pub const ALL: [Resource; 5] = [
        Resource::Jobs,
        Resource::Contacts,
        Resource::Tasks,
        Resource::Activities,
        Resource::Files,
    ];

    /// The URL segment after `/api1/`.
    pub fn path(self) -> &'static str {
        match self {
            Resource::Jobs => "jobs",
            Resource::Contacts => "contacts",
            Resource::Tasks => "tasks",
            Resource::Activities => "activities",
            Resource::Files => "files",
        }
    }

    /// The list envelope's key for the records: not `results` everywhere.
    pub fn envelope_key(self) -> &'static str {
        match self {
            Resource::Activities => "activity",
            Resource::Files => "files",
            _ => "results",
        }
    }

    /// The records' `type` field.
    pub fn record_type(self) -> &'static str {
        match self {
            Resource::Jobs => "job",
            Resource::Contacts => "contact",
            Resource::Tasks => "task",
            Resource::Activities => "activity",
            Resource::Files => "attachment",
        }
    }

    fn from_path(segment: &str) -> Option<Self> {
        Resource::ALL.into_iter().find(|r| r.path() == segment)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// A failure to start the sandbox, or a refused change made through the [`SandboxHandle`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("sandbox server failed: {0}")]
    Server(std::io::Error),
    #[error("generating sandbox data failed: {0}")]
    Generate(String),
    #[error("no {resource} record with jnid {jnid}")]
    NotFound { resource: Resource, jnid: String },
    /// The request or change breaks a rule of the API (becomes a 400).
    #[error("{0}")]
    Invalid(String),
    /// The API offers no such operation (becomes a 405).
    #[error("{0}")]
    NotAllowed(String),
}

/// How to build a sandbox: key, seed, data sizes, clock anchor, port and faults.
///
/// The same seed, sizes and `anchor` always produce byte-identical data.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The only key accepted in `Authorization: Bearer <key>`.
    pub api_key: String,
    pub seed: u64,
    pub contacts: usize,
    pub jobs: usize,
    /// Average files per job (actual counts vary from 0 to twice this).
    pub files_per_job: usize,
    /// Average notes per job, besides the status-change log line.
    pub activities_per_job: usize,
    /// Average tasks per job.
    pub tasks_per_job: usize,
    /// "Now" for the generated history (unix seconds): records are dated in the two years
    /// before it, and the sandbox clock never reads earlier than it.
    pub anchor: i64,
    /// 0 picks a free port.
    pub port: u16,
    pub faults: FaultConfig,
    /// The automation webhook's receiver; `None` (the default) sends nothing.
    pub webhook: Option<WebhookConfig>,
}

impl SandboxConfig {
    /// A small healthy account (200 contacts, 500 jobs) anchored at today's midnight UTC, so
    /// two sandboxes started the same day hold the same data.
    pub fn new(api_key: impl Into<String>, seed: u64) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            api_key: api_key.into(),
            seed,
            contacts: 200,
            jobs: 500,
            files_per_job: 3,
            activities_per_job: 2,
            tasks_per_job: 1,
            anchor: now - now.rem_euclid(86_400),
            port: 0,
            faults: FaultConfig::default(),
            webhook: None,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key, even a fake one: the habit is the point.
        f.debug_struct("SandboxConfig")
            .field("api_key", &"<redacted>")
            .field("seed", &self.seed)
            .field("contacts", &self.contacts)
            .field("jobs", &self.jobs)
            .field("files_per_job", &self.files_per_job)
            .field("activities_per_job", &self.activities_per_job)
            .field("tasks_per_job", &self.tasks_per_job)
            .field("anchor", &self.anchor)
            .field("port", &self.port)
            .field("faults", &self.faults)
            .field("webhook", &self.webhook)
            .finish()
    }
}
