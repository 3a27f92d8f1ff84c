//! Where incremental sync of one CRM resource resumes, and when that resource was last
//! scanned completely. One aggregate per resource, id `<source>:<resource>` (e.g.
//! `jobnimbus:jobs`).

mod aggregate;
mod commands;
mod events;

pub use aggregate::SyncCursor;
pub use commands::SyncCursorCommand;
pub use events::SyncCursorEvent;

/// A `SyncCursor` refuses nothing: stale positions are ignored, not errors.
pub type SyncCursorError = std::convert::Infallible;
