//! The marker a write carries so it can be found again when its answer was lost.

use std::fmt;

/// A token embedded in what we write (a note's text, a task's or a file's description), so a
/// write whose answer was lost can be looked for by reading the job's records back.
///
/// Invariant: 8 to 64 ASCII letters, digits, `-` or `_`; embedded as `[ucrm:<marker>]`, so one
/// marker is never found inside another.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WriteMarker(String);

/// A marker that breaks the invariant of [`WriteMarker`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a write marker is 8 to 64 ASCII letters, digits, '-' or '_'; got {0:?}")]
pub struct InvalidMarker(pub String);

impl WriteMarker {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidMarker> {
        let value = value.into();
        let valid = (8..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(value))
        } else {
            Err(InvalidMarker(value))
        }
    }

    /// From an id the caller already keys the write by (e.g. the intent event's id).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id.simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form embedded in the text.
    fn token(&self) -> String {
        format!("[ucrm:{}]", self.0)
    }

    /// `text` with the marker on a line of its own at the end (the marker alone when `text`
    /// is blank).
    pub fn appended_to(&self, text: &str) -> String {
        let text = text.trim_end();
        if text.is_empty() {
            self.token()
        } else {
            format!("{text}\n\n{}", self.token())
        }
    }

    /// Whether `text` carries this marker.
    pub fn is_in(&self, text: &str) -> bool {
        text.contains(&self.token())
    }
}

impl fmt::Display for WriteMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WriteMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteMarker({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_outside_the_alphabet_or_length_are_refused() {
        for bad in [
            "short",
            "has space-123",
            "ünïcode-123",
            "x]y[ucrm-123",
            &"a".repeat(65),
        ] {
            assert!(WriteMarker::new(bad).is_err(), "{bad}");
        }
        for good in ["abcdefgh", "intent_7f3c-91d2", &"a".repeat(64)] {
            assert!(WriteMarker::new(good).is_ok(), "{good}");
        }
        let from_uuid = WriteMarker::from_uuid(uuid::Uuid::nil());
        assert_eq!(from_uuid.as_str(), "00000000000000000000000000000000");
    }

    #[test]
    fn a_marker_is_found_in_its_own_text_only_not_inside_a_longer_marker() {
        let short = WriteMarker::new("intent-0001").unwrap();
        let long = WriteMarker::new("intent-00012").unwrap();
        let text = long.appended_to("QC Review: passed\n");
        assert_eq!(text, "QC Review: passed\n\n[ucrm:intent-00012]");
        assert!(long.is_in(&text));
        assert!(!short.is_in(&text));
        assert_eq!(short.appended_to("  "), "[ucrm:intent-0001]");
    }
}
