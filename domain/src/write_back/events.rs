use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::WriteBackPayload;
use crate::JobId;

/// Facts about one write to a CRM. Type names and versions are frozen once on main.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteBackEvent {
    /// The intent, appended before the CRM is called.
    WriteBackRequested {
        job_id: JobId,
        payload: WriteBackPayload,
        marker: String,
        idempotency_key_hash: Option<String>,
        requested_at: DateTime<Utc>,
    },
    /// Attempt `attempt` (1-based) holds the write until `lease_until`. `read_back_first`:
    /// an earlier attempt may have applied it, so the CRM is read for the marker before
    /// anything is sent; `read_back_only`: attempts are used up, only the read-back is left.
    WriteBackAttemptStarted {
        attempt: u32,
        read_back_first: bool,
        read_back_only: bool,
        lease_until: DateTime<Utc>,
        started_at: DateTime<Utc>,
    },
    /// The read-back found no record carrying the marker: nothing was applied so far.
    WriteBackNotFoundOnReadBack { at: DateTime<Utc> },
    /// The CRM holds the record.
    WriteBackSucceeded {
        remote_id: String,
        confirmed_by_read_back: bool,
        succeeded_at: DateTime<Utc>,
    },
    /// Attempt `attempt` failed; the next one is due at `next_attempt_at`.
    WriteBackRetryScheduled {
        attempt: u32,
        reason: String,
        may_have_been_applied: bool,
        read_back_only: bool,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Given up: the CRM refused the write (`retryable: false`), or every attempt failed
    /// and a read-back proved none applied (`retryable: true`).
    WriteBackFailed {
        reason: String,
        retryable: bool,
        failed_at: DateTime<Utc>,
    },
}

impl DomainEvent for WriteBackEvent {
    fn event_type(&self) -> String {
        match self {
            WriteBackEvent::WriteBackRequested { .. } => "WriteBackRequested",
            WriteBackEvent::WriteBackAttemptStarted { .. } => "WriteBackAttemptStarted",
            WriteBackEvent::WriteBackNotFoundOnReadBack { .. } => "WriteBackNotFoundOnReadBack",
            WriteBackEvent::WriteBackSucceeded { .. } => "WriteBackSucceeded",
            WriteBackEvent::WriteBackRetryScheduled { .. } => "WriteBackRetryScheduled",
            WriteBackEvent::WriteBackFailed { .. } => "WriteBackFailed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
