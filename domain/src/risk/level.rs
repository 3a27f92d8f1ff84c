use std::fmt;

use serde::{Deserialize, Serialize};

/// How worried to be about a job. Ordered, so the overall level is the highest reason's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    /// No rule fired.
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 3] = [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "LOW",
            RiskLevel::Medium => "MEDIUM",
            RiskLevel::High => "HIGH",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules of the seed's risk engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskRule {
    StuckInStatus,
    MissingQcPhotos,
    StaleJob,
    MissingDocuments,
}

impl RiskRule {
    pub const ALL: [RiskRule; 4] = [
        RiskRule::StuckInStatus,
        RiskRule::MissingQcPhotos,
        RiskRule::StaleJob,
        RiskRule::MissingDocuments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskRule::StuckInStatus => "STUCK_IN_STATUS",
            RiskRule::MissingQcPhotos => "MISSING_QC_PHOTOS",
            RiskRule::StaleJob => "STALE_JOB",
            RiskRule::MissingDocuments => "MISSING_DOCUMENTS",
        }
    }

    /// What a dispatcher can do about it, shown beside the reason in the risk panel.
    pub fn recommended_action(self) -> &'static str {
        match self {
            RiskRule::StuckInStatus => {
                "Find out what holds the job and move it to its next status in JobNimbus."
            }
            RiskRule::MissingQcPhotos => {
                "Ask the crew to upload the missing photos to the job in JobNimbus."
            }
            RiskRule::StaleJob => {
                "Follow up with the crew or the customer and record the outcome on the job."
            }
            RiskRule::MissingDocuments => {
                "Upload the missing documents to the job before it moves on."
            }
        }
    }
}

impl fmt::Display for RiskRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule that fired, and why, in a sentence a dispatcher can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskReason {
    pub rule: RiskRule,
    /// `Medium` or `High`; a rule that would say `Low` does not fire.
    pub severity: RiskLevel,
    pub message: String,
}

/// The outcome of evaluating a job's risk.
///
/// Invariant: `level` is the highest severity among `reasons`, `Low` when there are none;
/// `reasons` are in rule order, so equal facts give equal assessments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub level: RiskLevel,
    pub reasons: Vec<RiskReason>,
}

impl RiskAssessment {
    pub(super) fn from_reasons(mut reasons: Vec<RiskReason>) -> Self {
        reasons.sort_by_key(|reason| reason.rule);
        let level = reasons
            .iter()
            .map(|reason| reason.severity)
            .max()
            .unwrap_or(RiskLevel::Low);
        Self { level, reasons }
    }

    /// A job the rules do not apply to (closed, archived, deleted in the CRM).
    pub fn none() -> Self {
        Self::from_reasons(Vec::new())
    }
}
