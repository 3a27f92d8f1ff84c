//! The outside world: the event store on SQLite or PostgreSQL, and (in later modules) the
//! CRM clients and sandbox CRMs.

pub mod store;

/// JobNimbus v1 ("Open API"): the sandbox server that stands in for it in tests, benchmarks
/// and the demo.
pub mod jobnimbus;
