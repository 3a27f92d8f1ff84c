//! One execution of a CRM sync: what it was asked to do, each page it processed, each record
//! it could not take, and how it ended. The sync log read model and the sync API read it.

mod aggregate;
mod commands;
mod errors;
mod events;
mod values;

pub use aggregate::SyncRun;
pub use commands::SyncRunCommand;
pub use errors::SyncRunError;
pub use events::SyncRunEvent;
pub use values::{RecordFailure, SyncMode, SyncOutcome, SyncResource, SyncStatus, SyncTrigger};
