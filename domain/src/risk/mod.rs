//! Operational risk of a job: pure rules over what we mirror, evaluated at an instant the
//! caller chooses (never the clock), so an evaluation can be replayed and tested.

mod assess;
mod facts;
mod level;
mod policy;

pub use assess::assess;
pub use facts::{DocumentFacts, JobRiskFacts, LatestQc, MissingPhotos};
pub use level::{RiskAssessment, RiskLevel, RiskReason, RiskRule};
pub use policy::{
    DayThresholds, DocumentRequirement, RequiredDocuments, RiskPolicy, RiskPolicyError,
};
