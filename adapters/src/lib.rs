//! The outside world: the event store on SQLite or PostgreSQL, and (in later modules) the
//! CRM clients and sandbox CRMs.

pub mod store;
