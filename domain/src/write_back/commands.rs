use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WriteBackPayload;
use crate::JobId;

/// What the application asks of a `WriteBack`. Times are fields: the aggregate never reads
/// the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteBackCommand {
    /// Record the intent, before anything is sent. Repeating the same request is a no-op
    /// (a retried request whose first try crashed after claiming its idempotency key).
    Request {
        job_id: JobId,
        payload: WriteBackPayload,
        /// The token written with the record so it can be found again (`[ucrm:<marker>]`).
        marker: String,
        /// SHA-256 of the caller's `Idempotency-Key`, when there was one (never the key).
        idempotency_key_hash: Option<String>,
        requested_at: DateTime<Utc>,
    },
    /// Take the write for one attempt until `lease_until`: refused while another attempt
    /// holds it, before it is due, or once it is settled. Whoever appends this talks to the
    /// CRM; a concurrent taker loses on the stream's sequence and does not.
    StartAttempt {
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    },
    /// The read-back an attempt began with did not find the record: it was not applied.
    RecordNotFoundOnReadBack { at: DateTime<Utc> },
    /// The CRM holds the record (`remote_id`): it answered, or the read-back found it.
    RecordSuccess {
        remote_id: String,
        confirmed_by_read_back: bool,
        at: DateTime<Utc>,
    },
    /// The attempt failed. `transient`: trying again later may work; `may_have_been_applied`:
    /// the request was sent and its answer lost (or a 5xx came back). The aggregate decides
    /// between a retry at `next_attempt_at` and giving up after `max_attempts`.
    RecordFailure {
        reason: String,
        transient: bool,
        may_have_been_applied: bool,
        at: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
        max_attempts: u32,
    },
}
