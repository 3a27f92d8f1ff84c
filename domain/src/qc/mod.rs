//! Quality control of field work: which stage of the job a photo shows, and whether a
//! job's photos meet its requirements.

mod photo_category;
mod status;

pub use photo_category::{classify_photo, JobDates, PhotoFacts, QcCategory, UnknownQcCategory};
pub use status::{QcStatus, UnknownQcStatus};
