//! Who a connection belongs to, and the id of its aggregate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::is_safe_segment;

/// The id our platform gives one of its users (the seed's `userid`).
///
/// Invariant: 1–64 characters of `[A-Za-z0-9_-]`, so it can sit in a URL path, an aggregate
/// id, a log line or a lock name without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// The seed's "Invalid User ID". The offending text is not echoed: it is user input and may
/// be anything, including something meant for a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid User ID: expected 1 to 64 letters, digits, `-` or `_`")]
pub struct InvalidUserId;

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserId {
    type Err = InvalidUserId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_safe_segment(s) {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidUserId)
        }
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_safe_segment(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidUserId)
        }
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Id of a `Connection` aggregate: `jobber:user:<user_id>`, one per (provider, user).
///
/// Invariant: built only from a valid `UserId`, so it is as safe to embed as the user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId {
    text: String,
    user: UserId,
}

/// Why a string is not a connection id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection id must look like `jobber:user:<user_id>`")]
pub struct ParseConnectionIdError;

const JOBBER_USER_PREFIX: &str = "jobber:user:";

impl ConnectionId {
    /// The connection of `user` to Jobber (Jobber grants are per user, through OAuth).
    pub fn jobber_user(user: &UserId) -> Self {
        Self {
            text: format!("{JOBBER_USER_PREFIX}{user}"),
            user: user.clone(),
        }
    }

    pub fn user_id(&self) -> &UserId {
        &self.user
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ConnectionId {
    type Err = ParseConnectionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let user = s
            .strip_prefix(JOBBER_USER_PREFIX)
            .ok_or(ParseConnectionIdError)?
            .parse::<UserId>()
            .map_err(|_| ParseConnectionIdError)?;
        Ok(Self::jobber_user(&user))
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = ParseConnectionIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.text
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_one_to_sixty_four_safe_characters() {
        for good in ["42", "user_7", "A-b_C", &"x".repeat(64)] {
            assert!(
                good.parse::<UserId>().is_ok(),
                "{good:?} should be accepted"
            );
        }
        for bad in ["", "a b", "a/b", "42;drop", "ü", &"x".repeat(65), "a:b"] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidUserId), "{bad:?}");
        }
    }

    #[test]
    fn the_invalid_user_id_message_does_not_echo_the_input() {
        let err = "<script>".parse::<UserId>().unwrap_err();
        assert!(!err.to_string().contains("script"));
        assert!(err.to_string().starts_with("Invalid User ID"));
    }

    #[test]
    fn a_connection_id_names_the_provider_and_the_user_and_parses_back() {
        let user: UserId = "42".parse().unwrap();
        let id = ConnectionId::jobber_user(&user);
        assert_eq!(id.as_str(), "jobber:user:42");
        assert_eq!(id.user_id(), &user);
        assert_eq!("jobber:user:42".parse::<ConnectionId>().unwrap(), id);
        for bad in [
            "jobber:user:",
            "jobber:42",
            "jobnimbus:user:42",
            "jobber:user:a/b",
        ] {
            assert!(bad.parse::<ConnectionId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_serialise_as_their_text_and_refuse_invalid_text_when_read() {
        let id: ConnectionId = "jobber:user:42".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"jobber:user:42\"");
        assert_eq!(
            serde_json::from_str::<ConnectionId>("\"jobber:user:42\"").unwrap(),
            id
        );
        assert!(serde_json::from_str::<UserId>("\"a b\"").is_err());
    }
}
