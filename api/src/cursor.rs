//! The opaque keyset cursors of the mirror lists (jobs, contacts).
//!
//! A cursor is hex of `sort|key|id`, where the key is RFC 3339 for time sorts. The sort is
//! inside, so a cursor cannot be replayed under another order; clients must treat it as
//! opaque, which leaves us free to change the encoding.

use chrono::{DateTime, Utc};
use projections::{MirrorSort, SortKey};

use crate::ApiError;

/// Longest cursor accepted; real ones are a few hundred characters at most.
const MAX_LEN: usize = 2048;

/// The cursor of the page after the row with this sort key and id.
pub(crate) fn encode(key: &SortKey, id: &str, sort: MirrorSort) -> String {
    let key = match key {
        SortKey::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        SortKey::Text(t) => t.clone(),
    };
    let plain = format!("{}\u{1f}{key}\u{1f}{id}", sort_tag(sort));
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The sort key and id a cursor of `sort` ends at; `invalid_cursor` for anything that is
/// not a cursor this list gave out under this sort.
pub(crate) fn decode(cursor: &str, sort: MirrorSort) -> Result<(SortKey, String), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_cursor",
            "cursor is not a nextCursor of this list and sort",
        )
    };
    let pairs = cursor.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() || cursor.len() > MAX_LEN {
        return Err(invalid());
    }
    let bytes = pairs
        .map(|pair| match pair {
            [high, low] => Some(hex_digit(*high)? << 4 | hex_digit(*low)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let plain = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = plain.split('\u{1f}');
    let (Some(tag), Some(key), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if tag != sort_tag(sort) {
        return Err(invalid());
    }
    let key = if sort.by_time() {
        SortKey::Time(
            DateTime::parse_from_rfc3339(key)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
        )
    } else {
        SortKey::Text(key.to_string())
    };
    Ok((key, id.to_string()))
}

fn hex_digit(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The `sort` parameter's spelling of each order.
fn sort_tag(sort: MirrorSort) -> &'static str {
    match sort {
        MirrorSort::UpdatedDesc => "-updatedAt",
        MirrorSort::UpdatedAsc => "updatedAt",
        MirrorSort::NameAsc => "name",
        MirrorSort::NameDesc => "-name",
    }
}

/// Hex of the parts joined by a unit separator: the opaque cursors of other lists (the QC
/// and risk lists), whose keys are not a mirror's.
pub(crate) fn encode_parts(parts: &[&str]) -> String {
    parts
        .join("\u{1f}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parts of a cursor made by `encode_parts`; `None` for anything else.
pub(crate) fn decode_parts(cursor: &str) -> Option<Vec<String>> {
    let pairs = cursor.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() || cursor.len() > MAX_LEN {
        return None;
    }
    let bytes = pairs
        .map(|pair| match pair {
            [high, low] => Some(hex_digit(*high)? << 4 | hex_digit(*low)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()?;
    let plain = String::from_utf8(bytes).ok()?;
    Some(plain.split('\u{1f}').map(String::from).collect())
}
