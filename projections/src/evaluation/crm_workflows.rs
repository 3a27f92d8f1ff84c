//! The CRM's own job workflows (JobNimbus `GET /account/settings`): each workflow's statuses
//! in pipeline order, and which of them are closed (`is_closed`). Accounts name their own
//! statuses, so configuration alone can neither tell that "Paid & Closed" is done nor that a
//! job in "In Production" is past the "Signed" status a document was needed from. The
//! workflows are read before a pass, at most once per refresh interval; a failed read keeps
//! what was known and is tried again a minute later.

use std::sync::Arc;
use std::time::Duration;

use adapters::jobnimbus::JobWorkflow;
use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Reads the CRM's job workflows; the error is a sentence for the log.
pub type CrmWorkflowSource =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<JobWorkflow>, String>> + Send + Sync>;

/// How soon a failed read is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Longest a pass waits for the CRM: evaluations sit on the policy's path, so a CRM that
/// hangs (or retries a failing call for long) must not hold them up beyond this.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(super) struct CrmWorkflows {
    source: CrmWorkflowSource,
    refresh_every: Duration,
    /// When the next read is due; `None` before the first. Locked across the read, so
    /// concurrent passes read once.
    next_read: Arc<Mutex<Option<Instant>>>,
}

impl CrmWorkflows {
    pub(super) fn new(source: CrmWorkflowSource, refresh_every: Duration) -> Self {
        Self {
            source,
            refresh_every,
            next_read: Arc::new(Mutex::new(None)),
        }
    }

    /// The CRM's workflows when a read is due and succeeds; `None` otherwise.
    pub(super) async fn read_if_due(&self) -> Option<Vec<JobWorkflow>> {
        let mut next_read = self.next_read.lock().await;
        if next_read.is_some_and(|due| Instant::now() < due) {
            return None;
        }
        let read = tokio::time::timeout(READ_TIMEOUT, (self.source)())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {READ_TIMEOUT:?}")));
        match read {
            Ok(workflows) => {
                *next_read = Some(Instant::now() + self.refresh_every);
                Some(workflows)
            }
            Err(error) => {
                tracing::warn!(
                    error.message = %error,
                    "could not read the CRM's workflows; evaluating with those known"
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

    fn counting(answer: Result<Vec<JobWorkflow>, String>) -> (CrmWorkflowSource, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = reads.clone();
        let source: CrmWorkflowSource = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            Box::pin(async move { answer })
        });
        (source, reads)
    }

    #[tokio::test(start_paused = true)]
    async fn the_crm_is_read_once_per_refresh_interval() {
        let commercial = JobWorkflow {
            name: "Commercial".to_string(),
            statuses: vec!["Lead".to_string(), "Paid & Closed".to_string()],
            closed_statuses: vec!["Paid & Closed".to_string()],
        };
        let (source, reads) = counting(Ok(vec![commercial.clone()]));
        let crm = CrmWorkflows::new(source, Duration::from_secs(3600));

        assert_eq!(crm.read_if_due().await, Some(vec![commercial]));
        assert_eq!(crm.read_if_due().await, None, "not due yet");
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(crm.read_if_due().await.is_some(), "due again");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crm_that_does_not_answer_holds_a_pass_up_for_the_read_timeout_only() {
        let source: CrmWorkflowSource = Arc::new(|| Box::pin(std::future::pending()));
        let crm = CrmWorkflows::new(source, Duration::from_secs(3600));

        let started = Instant::now();
        assert_eq!(crm.read_if_due().await, None);
        assert_eq!(started.elapsed(), READ_TIMEOUT);
        assert_eq!(
            crm.read_if_due().await,
            None,
            "not retried within the minute"
        );
        assert_eq!(started.elapsed(), READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_is_retried_after_a_minute_not_on_every_pass() {
        let (source, reads) = counting(Err("503 from the CRM".to_string()));
        let crm = CrmWorkflows::new(source, Duration::from_secs(3600));

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
