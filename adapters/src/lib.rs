//! The outside world: the event store on SQLite or PostgreSQL, the CRM clients and the
//! sandbox CRMs.

pub mod store;

/// Signed, short-lived links to the embedded panels.
pub mod embed;

/// JobNimbus v1 ("Open API"): the read client (retries, pacing, paging past the 10,000-row
/// window) with its mapping to our snapshots, and the sandbox server that stands in for the
/// real API in tests, benchmarks and the demo.
pub mod jobnimbus;

/// Jobber (GraphQL, OAuth 2.0): for now the sandbox authorisation server and GraphQL endpoint.
pub mod jobber;

/// Sync from JobNimbus into the event store: one run as a single step, recorded as a
/// `SyncRun`, resuming from a `SyncCursor`.
pub mod sync;

/// OAuth tokens encrypted at rest, with key rotation, crypto-shredding and a single-flight
/// refresh lock per connection.
pub mod vault;

/// Write-backs to JobNimbus (notes, tasks, status changes, attachments), exactly once:
/// intent and outcome as events, idempotency keys, read-back after an ambiguous failure, and
/// a retry worker.
pub mod write_back;
