//! A field-service job mirrored from a CRM: one aggregate per CRM record.

mod aggregate;
mod commands;
mod errors;
mod events;
mod snapshot;

pub use aggregate::Job;
pub use commands::JobCommand;
pub use errors::JobError;
pub use events::JobEvent;
pub use snapshot::{Address, JobField, JobSnapshot};
