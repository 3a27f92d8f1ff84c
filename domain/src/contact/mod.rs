//! A customer or lead contact mirrored from a CRM.

mod snapshot;

pub use snapshot::ContactSnapshot;
