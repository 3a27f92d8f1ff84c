//! A field-service job mirrored from a CRM: one aggregate per CRM record.

mod aggregate;
mod commands;
mod errors;
mod events;
mod files;
mod snapshot;

pub use aggregate::{HeldFile, Job};
pub use commands::JobCommand;
pub use errors::JobError;
pub use events::JobEvent;
pub use files::{FileKind, JobFile, JobFileField};
pub use snapshot::{Address, JobField, JobSnapshot};
