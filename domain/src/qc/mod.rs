//! Quality control of field work: which stage of the job a photo shows, and whether a
//! job's photos meet its requirements.

mod check;
mod photo_category;
mod requirements;
mod status;

pub use check::{check_photos, MissingCategory, PhotoCounts, QcCheck, QcFacts};
pub use photo_category::{classify_photo, JobDates, PhotoFacts, QcCategory, UnknownQcCategory};
pub use requirements::{QcPolicy, QcPolicyError, RequiredPhotos};
pub use status::{QcStatus, UnknownQcStatus};
