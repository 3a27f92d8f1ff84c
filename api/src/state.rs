use std::time::Duration;

use adapters::store::{Db, EventLog, LogPosition};
use adapters::sync::SyncEngine;
use metrics_exporter_prometheus::PrometheusHandle;
use projections::ProjectionProgress;
use secrecy::SecretString;

use crate::rate_limit::RateLimiter;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub log: EventLog,
    pub progress: ProjectionProgress,
    pub metrics: PrometheusHandle,
    /// Longest a command endpoint waits for read models to show its write.
    pub read_your_writes_timeout: Duration,
    /// Expected value of `x-internal-api-key`.
    pub internal_api_key: SecretString,
    /// Base of JobNimbus deep links, without a trailing slash.
    pub jobnimbus_app_base_url: String,
    /// Sync from JobNimbus; `None` when `JOBNIMBUS_API_KEY` is not set.
    pub jobnimbus: Option<SyncEngine>,
    /// Jobs' photos and documents from JobNimbus; `None` when `JOBNIMBUS_API_KEY` is not set.
    pub photo_sync: Option<adapters::sync::PhotoSync>,
    /// Jobber OAuth connections; `None` when the Jobber app is not configured.
    pub jobber: Option<adapters::jobber::JobberConnections>,
    /// JobNimbus webhooks: the token and the inbox; `None` unless both `JOBNIMBUS_API_KEY`
    /// and `JOBNIMBUS_WEBHOOK_SECRET` are set.
    pub jobnimbus_webhooks: Option<adapters::jobnimbus::webhook_inbox::WebhookReceiver>,
    /// Embed links and the panels they open.
    pub embed: crate::embed::EmbedPanels,
    /// Per-client budgets of `/auth/…` and `/api/…`.
    pub rate_limiter: RateLimiter,
    /// QC and risk evaluations of mirrored jobs.
    pub evaluator: projections::evaluation::Evaluator,
    /// Write-backs to JobNimbus; `None` when `JOBNIMBUS_API_KEY` is not set.
    pub write_backs: Option<adapters::write_back::WriteBacks>,
}

impl AppState {
    /// Read-your-writes: waits, at most `read_your_writes_timeout`, for every projection to
    /// apply the event at `position` (nothing to wait for when the command appended nothing).
    /// Running out of time is not an error — the write is committed, and a 5xx would invite a
    /// retry that redoes it — so it is logged and reported as `false` for the answer to say.
    pub async fn wait_for_read_models(&self, position: Option<LogPosition>, what: &str) -> bool {
        let Some(position) = position else {
            return true;
        };
        match self
            .progress
            .wait_for(position, self.read_your_writes_timeout)
            .await
        {
            Ok(()) => true,
            Err(timed_out) => {
                tracing::warn!(error = %timed_out, "answering {what} before the read models caught up");
                false
            }
        }
    }
}
