//! Write-backs to JobNimbus, exactly once (docs/adr/0008-write-backs-exactly-once.md).
//!
//! A write is a `WriteBack` stream: the intent is appended before JobNimbus is called, the
//! outcome after. An `Idempotency-Key` maps a caller's retries to the write they started; an
//! attempt holds the write through a lease recorded on the stream, so two callers (or a
//! caller and the retry worker) never send it at once; and once an attempt may have been
//! applied (its answer lost, a 5xx after sending), the next one reads the job's records back
//! for the write's marker before sending anything again.

mod crm;
mod history;
mod idempotency;
mod service;
mod stream;
mod uploads;
mod worker;

pub use history::job_history;
pub use idempotency::{Claim, IdempotencyKeys};
pub use service::{
    request_hash, RequestError, Requested, WriteBackSettings, WriteBacks, WriteRequest,
};
pub use stream::load_write_back;
pub use worker::{spawn_worker, WorkerReport};

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256: how keys, requests and uploads are named without being stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
