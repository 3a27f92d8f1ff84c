//! Outbound automation webhooks (reference §1.8): JobNimbus has no webhook API; an account
//! Automation whose action is "Webhook POST" sends the record that was created, modified or
//! deleted to a URL. Here one such automation covers every record type.
//!
//! As awkward as the real ones: the payload is a slim flat record (the receiver must refetch
//! by `jnid`), nothing is signed (integrators put a secret token in the URL), deliveries run in
//! the background without holding up the write, arrive in any order, are retried when the
//! receiver fails (at least once), and are sent twice at a configurable rate. A write made with
//! `skip=automation` fires nothing.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, Notify};

use super::record::{Field, Record};
use super::rng::{mix, Rng};
use super::{Resource, SandboxError};

/// Where the automation posts, and how.
#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    /// The receiver, secret token (if any) in its query string.
    pub url: String,
    /// Probability in `[0, 1]` that a change is delivered twice.
    pub duplicate_ratio: f64,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per delivery before it is given up (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles for each further one.
    pub retry_delay: Duration,
}

impl WebhookConfig {
    /// One delivery per change, 10 s timeout, 3 attempts 200 ms apart (then 400 ms).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            duplicate_ratio: 0.0,
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            retry_delay: Duration::from_millis(200),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query string is where receivers keep their secret token.
        let url = match self.url.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => self.url.clone(),
        };
        f.debug_struct("WebhookConfig")
            .field("url", &url)
            .field("duplicate_ratio", &self.duplicate_ratio)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

/// What the automation did since start (or the last reset). `announced` and `skipped` are
/// counted when the write happens; the rest as deliveries finish.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Changes (a record created or saved) queued for delivery.
    pub announced: u64,
    /// Changes not announced because their write carried `skip=automation`.
    pub skipped: u64,
    /// Changes queued a second time (the duplicate-delivery fault).
    pub duplicates: u64,
    /// Deliveries the receiver accepted with a 2xx.
    pub delivered: u64,
    /// Attempts that failed (non-2xx, timeout, connection refused).
    pub failed_attempts: u64,
    /// Deliveries given up after `max_attempts`.
    pub abandoned: u64,
}

/// One POST to make (with its retries).
struct Delivery {
    config: WebhookConfig,
    payload: Vec<u8>,
}

struct State {
    config: RwLock<Option<WebhookConfig>>,
    stats: Mutex<WebhookStats>,
    dice: Mutex<Rng>,
    /// Deliveries queued and not yet finished.
    pending: AtomicUsize,
    idle: Notify,
    http: reqwest::Client,
}

impl State {
    fn stats(&self) -> std::sync::MutexGuard<'_, WebhookStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The automation: queues changes as they are written and delivers them from a background
/// task.
pub(crate) struct Webhooks {
    state: Arc<State>,
    queue: mpsc::UnboundedSender<Delivery>,
}

impl Webhooks {
    /// Starts the delivery task (on the current runtime); it ends when this is dropped.
    pub(crate) fn start(seed: u64, config: Option<WebhookConfig>) -> Result<Self, SandboxError> {
        let http = reqwest::Client::builder()
            .user_agent("JobNimbus-Automation (sandbox)")
            .build()
            .map_err(|e| SandboxError::Server(std::io::Error::other(e.to_string())))?;
        let state = Arc::new(State {
            config: RwLock::new(config),
            stats: Mutex::new(WebhookStats::default()),
            dice: Mutex::new(Rng::new(mix(seed ^ 0x0EB0_0C5E))),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            http,
        });
        let (queue, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
        let worker = state.clone();
        tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                // One task per delivery: a slow receiver delays nothing else, and deliveries
                // overtake each other, as the real ones do.
                tokio::spawn(deliver(worker.clone(), delivery));
            }
        });
        Ok(Self { state, queue })
    }

    pub(crate) fn config(&self) -> Option<WebhookConfig> {
        self.state
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_config(&self, config: Option<WebhookConfig>) {
        *self
            .state
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config;
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        self.state.stats().clone()
    }

    pub(crate) fn reset_stats(&self) {
        *self.state.stats() = WebhookStats::default();
    }

    /// Queues one delivery per change (two for a duplicate), or counts them as skipped.
    /// Never waits on the network.
    pub(crate) fn announce(&self, changes: &[(Resource, Record)], skip_automation: bool) {
        if changes.is_empty() {
            return;
        }
        let Some(config) = self.config() else {
            return;
        };
        if skip_automation {
            self.state.stats().skipped += changes.len() as u64;
            return;
        }
        for (_, record) in changes {
            let payload = match serde_json::to_vec(&slim_payload(record)) {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::error!(error = %e, "sandbox cannot serialise a webhook payload");
                    continue;
                }
            };
            let twice = {
                let mut dice = self
                    .state
                    .dice
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                dice.unit() < config.duplicate_ratio
            };
            {
                let mut stats = self.state.stats();
                stats.announced += 1;
                stats.duplicates += u64::from(twice);
            }
            for _ in 0..(1 + usize::from(twice)) {
                self.state.pending.fetch_add(1, Ordering::SeqCst);
                let delivery = Delivery {
                    config: config.clone(),
                    payload: payload.clone(),
                };
                if self.queue.send(delivery).is_err() {
                    // The worker is gone (runtime shutting down): nothing will deliver it.
                    self.state.stats().abandoned += 1;
                    self.state.finish_one();
                }
            }
        }
    }

    /// Waits until every delivery queued so far has succeeded or been given up.
    pub(crate) async fn flush(&self) {
        loop {
            let idle = self.state.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.state.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

async fn deliver(state: Arc<State>, delivery: Delivery) {
    let Delivery { config, payload } = delivery;
    let mut wait = config.retry_delay;
    let attempts = config.max_attempts.max(1);
    for attempt in 1..=attempts {
        let sent = state
            .http
            .post(&config.url)
            .timeout(config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                state.stats().delivered += 1;
                state.finish_one();
                return;
            }
            Ok(response) => {
                tracing::debug!(
                    attempt,
                    status = response.status().as_u16(),
                    "webhook refused"
                )
            }
            // Without the URL: its query string holds the receiver's secret.
            Err(e) => tracing::debug!(attempt, error = %e.without_url(), "webhook failed"),
        }
        state.stats().failed_attempts += 1;
        if attempt < attempts {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    state.stats().abandoned += 1;
    state.finish_one();
}

/// The fields a slim automation payload carries: enough to know what changed and refetch it,
/// not enough to act on.
const PAYLOAD_FIELDS: &[&str] = &[
    "jnid",
    "type",
    "record_type_name",
    "status_name",
    "is_active",
    "date_updated",
];

fn slim_payload(record: &Record) -> Value {
    let mut payload = Map::new();
    for field in PAYLOAD_FIELDS {
        if let Some(value) = record.get(field) {
            if *value != Field::Null {
                payload.insert((*field).to_owned(), value.to_value());
            }
        }
    }
    Value::Object(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_is_the_slim_flat_record() {
        let record = Record::from_map(
            json!({
                "jnid": "j1", "type": "job", "record_type_name": "Commercial",
                "status_name": "Lead", "is_active": true, "date_updated": 1_767_225_600,
                "name": "Roof", "primary": {"id": "c1"}, "description": null,
            })
            .as_object()
            .unwrap(),
        );
        assert_eq!(
            slim_payload(&record),
            json!({
                "jnid": "j1", "type": "job", "record_type_name": "Commercial",
                "status_name": "Lead", "is_active": true, "date_updated": 1_767_225_600,
            })
        );
    }

    #[test]
    fn the_debug_form_hides_the_receivers_token() {
        let config = WebhookConfig::new("http://127.0.0.1:9/hook?token=s3cr3t");
        let text = format!("{config:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("http://127.0.0.1:9/hook"), "{text}");
    }
}
