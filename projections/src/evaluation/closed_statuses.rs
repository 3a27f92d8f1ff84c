//! The statuses the CRM itself marks closed (JobNimbus: `is_closed` on each status of the
//! account's workflows, `GET /account/settings`). Accounts name their own statuses, so a
//! configured list alone would flag jobs that are done ("Paid & Closed", "Invoiced"). The
//! CRM's flags are read before a pass, at most once per refresh interval; a failed read keeps
//! what was known and is tried again a minute later.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Reads the CRM's closed statuses; the error is a sentence for the log.
pub type ClosedStatusSource =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<String>, String>> + Send + Sync>;

/// How soon a failed read is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(super) struct CrmClosedStatuses {
    source: ClosedStatusSource,
    refresh_every: Duration,
    /// When the next read is due; `None` before the first. Locked across the read, so
    /// concurrent passes read once.
    next_read: Arc<Mutex<Option<Instant>>>,
}

impl CrmClosedStatuses {
    pub(super) fn new(source: ClosedStatusSource, refresh_every: Duration) -> Self {
        Self {
            source,
            refresh_every,
            next_read: Arc::new(Mutex::new(None)),
        }
    }

    /// The CRM's closed statuses when a read is due and succeeds; `None` otherwise.
    pub(super) async fn read_if_due(&self) -> Option<Vec<String>> {
        let mut next_read = self.next_read.lock().await;
        if next_read.is_some_and(|due| Instant::now() < due) {
            return None;
        }
        match (self.source)().await {
            Ok(closed) => {
                *next_read = Some(Instant::now() + self.refresh_every);
                Some(closed)
            }
            Err(error) => {
                tracing::warn!(
                    error.message = %error,
                    "could not read the CRM's closed statuses; evaluating with those known"
                );
                *next_read = Some(Instant::now() + RETRY_AFTER);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(answer: Result<Vec<String>, String>) -> (ClosedStatusSource, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = reads.clone();
        let source: ClosedStatusSource = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            Box::pin(async move { answer })
        });
        (source, reads)
    }

    #[tokio::test(start_paused = true)]
    async fn the_crm_is_read_once_per_refresh_interval() {
        let (source, reads) = counting(Ok(vec!["Paid & Closed".to_string()]));
        let crm = CrmClosedStatuses::new(source, Duration::from_secs(3600));

        assert_eq!(
            crm.read_if_due().await,
            Some(vec!["Paid & Closed".to_string()])
        );
        assert_eq!(crm.read_if_due().await, None, "not due yet");
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(crm.read_if_due().await.is_some(), "due again");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_is_retried_after_a_minute_not_on_every_pass() {
        let (source, reads) = counting(Err("503 from the CRM".to_string()));
        let crm = CrmClosedStatuses::new(source, Duration::from_secs(3600));

        assert_eq!(crm.read_if_due().await, None);
        assert_eq!(crm.read_if_due().await, None);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "no retry within the minute"
        );
        tokio::time::advance(RETRY_AFTER).await;
        assert_eq!(crm.read_if_due().await, None);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
