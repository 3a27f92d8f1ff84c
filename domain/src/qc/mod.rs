//! Quality control of field work. For now: which stage of the job a photo shows.

mod photo_category;

pub use photo_category::{classify_photo, JobDates, PhotoFacts, QcCategory, UnknownQcCategory};
