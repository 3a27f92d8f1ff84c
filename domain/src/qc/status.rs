//! The verdict of a QC photo check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Whether a job's photos meet the QC requirements that apply to it (the seed's
/// `PASS | FAIL | NOT_CHECKED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QcStatus {
    Pass,
    Fail,
    /// Nothing to check against: no requirement applies, or the job's files were never
    /// pulled, so a count of zero would be a guess rather than a finding.
    NotChecked,
}

impl QcStatus {
    pub const ALL: [QcStatus; 3] = [QcStatus::Pass, QcStatus::Fail, QcStatus::NotChecked];

    pub fn as_str(self) -> &'static str {
        match self {
            QcStatus::Pass => "PASS",
            QcStatus::Fail => "FAIL",
            QcStatus::NotChecked => "NOT_CHECKED",
        }
    }
}

impl fmt::Display for QcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`QcStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a QC status (PASS, FAIL, NOT_CHECKED)")]
pub struct UnknownQcStatus(pub String);

impl FromStr for QcStatus {
    type Err = UnknownQcStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QcStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownQcStatus(s.to_string()))
    }
}
