//! A customer or lead contact mirrored from a CRM: one aggregate per CRM record.

mod aggregate;
mod commands;
mod errors;
mod events;
mod snapshot;

pub use aggregate::Contact;
pub use commands::ContactCommand;
pub use errors::ContactError;
pub use events::ContactEvent;
pub use snapshot::{ContactField, ContactSnapshot};
