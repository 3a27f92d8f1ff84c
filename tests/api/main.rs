//! Integration tests of the whole service: one test binary, modules per feature.
//!
//! Every test runs against SQLite, and against PostgreSQL when `TEST_DATABASE_URL` is set
//! (CI sets it and `REQUIRE_POSTGRES_TESTS=1`, which turns a skip into a failure). Each
//! test gets a fresh database.

#[macro_use]
mod support;

mod batch;
mod cli;
mod contacts_api;
mod crash_recovery;
mod embed_api;
mod embed_browser;
mod event_store;
mod http_basics;
mod integration_api;
mod jobber_auth;
mod jobnimbus_webhooks;
mod jobs_api;
mod openapi;
mod photos_api;
mod projections;
mod qc_risk_api;
mod rate_limit;
mod scheduler;
mod sync_api;
mod sync_engine;
mod sync_log_api;
mod token_vault;
mod write_backs;
