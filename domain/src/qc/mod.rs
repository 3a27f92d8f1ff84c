//! Quality control of field work.

mod status;

pub use status::{QcStatus, UnknownQcStatus};
