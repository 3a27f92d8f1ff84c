//! unified-crm's composition root: configuration, telemetry and start-up wiring. The CLI
//! in `main.rs` and the integration tests both build the service through `startup`.

pub mod cli;
pub mod config;
pub mod scheduler;
pub mod startup;
pub mod telemetry;
