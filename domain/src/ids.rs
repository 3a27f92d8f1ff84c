//! Identifiers of aggregates that mirror CRM records.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The CRM a mirrored record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmSource {
    JobNimbus,
    Jobber,
}

impl CrmSource {
    /// The prefix used in aggregate ids and stored in read models.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmSource::JobNimbus => "jobnimbus",
            CrmSource::Jobber => "jobber",
        }
    }
}

/// Why a string is not a valid aggregate id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error("id must look like `jobnimbus:<jnid>` or `jobber:<account>:<id>`")]
    UnknownShape,
    #[error("id segment `{0}` may only hold letters, digits, `-` and `_` (1 to 64 characters)")]
    BadSegment(String),
}

/// Id of a `Job` aggregate: `jobnimbus:<jnid>` or `jobber:<account>:<id>`.
///
/// Invariant: every segment is 1–64 characters of `[A-Za-z0-9_-]`, so ids are safe in
/// URLs, log lines and SQL text without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    /// The id of the job whose JobNimbus `jnid` is given.
    pub fn jobnimbus(jnid: &str) -> Result<Self, ParseIdError> {
        check_segment(jnid)?;
        Ok(Self(format!("jobnimbus:{jnid}")))
    }

    /// The id of a Jobber job within one Jobber account.
    pub fn jobber(account: &str, id: &str) -> Result<Self, ParseIdError> {
        check_segment(account)?;
        check_segment(id)?;
        Ok(Self(format!("jobber:{account}:{id}")))
    }

    pub fn source(&self) -> CrmSource {
        if self.0.starts_with("jobber:") {
            CrmSource::Jobber
        } else {
            CrmSource::JobNimbus
        }
    }

    /// The record's id inside its CRM (the jnid, or the Jobber id without the account).
    pub fn external_id(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_segment(segment: &str) -> Result<(), ParseIdError> {
    let ok = (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ParseIdError::BadSegment(segment.to_string()))
    }
}

impl FromStr for JobId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["jobnimbus", jnid] => Self::jobnimbus(jnid),
            ["jobber", account, id] => Self::jobber(account, id),
            _ => Err(ParseIdError::UnknownShape),
        }
    }
}

impl TryFrom<String> for JobId {
    type Error = ParseIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_crm_shapes_and_keeps_the_external_id() {
        let jn: JobId = "jobnimbus:3pg".parse().unwrap();
        assert_eq!(jn.source(), CrmSource::JobNimbus);
        assert_eq!(jn.external_id(), "3pg");
        let jb: JobId = "jobber:acct_1:Z2lkOi8v".parse().unwrap();
        assert_eq!(jb.source(), CrmSource::Jobber);
        assert_eq!(jb.external_id(), "Z2lkOi8v");
    }

    #[test]
    fn rejects_unknown_prefixes_empty_segments_and_unsafe_characters() {
        for bad in [
            "",
            "3pg",
            "salesforce:1",
            "jobnimbus:",
            "jobnimbus:a/b",
            "jobnimbus:a b",
            "jobber:only",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad:?} should be rejected");
        }
    }
}
