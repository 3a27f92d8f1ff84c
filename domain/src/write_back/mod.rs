//! One write to a CRM (a note, a task, a status change, an attachment): a stream per write
//! (id = a fresh uuid) that records the intent before the CRM is called and the outcome after,
//! so a write whose answer was lost is settled by reading back, never by writing blindly again.

mod aggregate;
mod commands;
mod errors;
mod events;
mod values;

pub use aggregate::{WriteBack, WriteBackState};
pub use commands::WriteBackCommand;
pub use errors::WriteBackError;
pub use events::WriteBackEvent;
pub use values::{WriteBackKind, WriteBackPayload};
