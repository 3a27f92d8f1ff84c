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

/// Declares the id newtype of an aggregate that mirrors one CRM record. Every such id has
/// the same shape and rules, so jobs and contacts cannot drift apart; they stay distinct
/// types so a contact id is never passed where a job id is meant.
macro_rules! crm_record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id of the record whose JobNimbus `jnid` is given.
            pub fn jobnimbus(jnid: &str) -> Result<Self, ParseIdError> {
                jobnimbus_id(jnid).map(Self)
            }

            /// The id of a Jobber record within one Jobber account.
            pub fn jobber(account: &str, id: &str) -> Result<Self, ParseIdError> {
                jobber_id(account, id).map(Self)
            }

            pub fn source(&self) -> CrmSource {
                source_of(&self.0)
            }

            /// The record's id inside its CRM (the jnid, or the Jobber id without the
            /// account).
            pub fn external_id(&self) -> &str {
                external_id_of(&self.0)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_record_id(s).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseIdError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

crm_record_id!(
    /// Id of a `Job` aggregate: `jobnimbus:<jnid>` or `jobber:<account>:<id>`.
    ///
    /// Invariant: every segment is 1–64 characters of `[A-Za-z0-9_-]`, so ids are safe in
    /// URLs, log lines and SQL text without escaping.
    JobId
);

crm_record_id!(
    /// Id of a `Contact` aggregate: `jobnimbus:<jnid>` or `jobber:<account>:<id>`.
    ///
    /// Invariant: every segment is 1–64 characters of `[A-Za-z0-9_-]`, so ids are safe in
    /// URLs, log lines and SQL text without escaping.
    ContactId
);

fn jobnimbus_id(jnid: &str) -> Result<String, ParseIdError> {
    check_segment(jnid)?;
    Ok(format!("jobnimbus:{jnid}"))
}

fn jobber_id(account: &str, id: &str) -> Result<String, ParseIdError> {
    check_segment(account)?;
    check_segment(id)?;
    Ok(format!("jobber:{account}:{id}"))
}

fn parse_record_id(s: &str) -> Result<String, ParseIdError> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["jobnimbus", jnid] => jobnimbus_id(jnid),
        ["jobber", account, id] => jobber_id(account, id),
        _ => Err(ParseIdError::UnknownShape),
    }
}

/// Only meaningful on a validated id, whose prefix is one of the two known ones.
fn source_of(id: &str) -> CrmSource {
    if id.starts_with("jobber:") {
        CrmSource::Jobber
    } else {
        CrmSource::JobNimbus
    }
}

fn external_id_of(id: &str) -> &str {
    id.rsplit(':').next().unwrap_or_default()
}

fn check_segment(segment: &str) -> Result<(), ParseIdError> {
    if is_safe_segment(segment) {
        Ok(())
    } else {
        Err(ParseIdError::BadSegment(segment.to_string()))
    }
}

/// 1–64 characters of `[A-Za-z0-9_-]`: safe in URLs, log lines, file names and SQL text
/// without escaping. Every id segment of the domain follows this rule.
pub(crate) fn is_safe_segment(segment: &str) -> bool {
    (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_IDS: [&str; 7] = [
        "",
        "3pg",
        "salesforce:1",
        "jobnimbus:",
        "jobnimbus:a/b",
        "jobnimbus:a b",
        "jobber:only",
    ];

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
        for bad in BAD_IDS {
            assert!(bad.parse::<JobId>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn contact_ids_follow_the_same_shapes_and_rules_as_job_ids() {
        let jn: ContactId = "jobnimbus:3pg".parse().unwrap();
        assert_eq!(jn, ContactId::jobnimbus("3pg").unwrap());
        assert_eq!(
            (jn.source(), jn.external_id()),
            (CrmSource::JobNimbus, "3pg")
        );
        let jb = ContactId::jobber("acct_1", "Z2lkOi8v").unwrap();
        assert_eq!(jb.as_str(), "jobber:acct_1:Z2lkOi8v");
        assert_eq!(
            (jb.source(), jb.external_id()),
            (CrmSource::Jobber, "Z2lkOi8v")
        );
        for bad in BAD_IDS {
            assert!(
                bad.parse::<ContactId>().is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(ContactId::jobnimbus("a/b").is_err());
    }

    #[test]
    fn ids_serialise_as_their_text_and_refuse_invalid_text_when_read() {
        let id = ContactId::jobnimbus("3pg").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"jobnimbus:3pg\"");
        assert_eq!(
            serde_json::from_str::<ContactId>("\"jobnimbus:3pg\"").unwrap(),
            id
        );
        assert!(serde_json::from_str::<ContactId>("\"jobnimbus:a/b\"").is_err());
    }
}
