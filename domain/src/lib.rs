//! Pure decisions of unified-crm: aggregates, commands, events and value types.
//!
//! Nothing here performs I/O or reads the clock: whatever a decision needs from the
//! outside world (a fetched CRM record, the current time) arrives inside the command.

pub mod contact;
pub mod ids;
pub mod job;

pub use contact::ContactSnapshot;
pub use ids::{CrmSource, JobId, ParseIdError};
pub use job::{Address, Job, JobCommand, JobError, JobEvent, JobField, JobSnapshot};
