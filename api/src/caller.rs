//! `x-caller`: who, behind the internal key, asked for a write or a link. Kept in the
//! events' metadata so an auditor sees a person or service, not just "the key".

use crate::ApiError;

/// Longest `x-caller` kept.
const MAX_CALLER_LEN: usize = 128;

/// The caller named in `x-caller`, or `internal` (the key's holder) when absent.
pub(crate) fn caller_of(header: Option<String>) -> Result<String, ApiError> {
    match header.map(|value| value.trim().to_string()) {
        None => Ok("internal".to_string()),
        Some(value)
            if !value.is_empty()
                && value.len() <= MAX_CALLER_LEN
                && value.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
        {
            Ok(value)
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_caller",
            format!("x-caller must be 1 to {MAX_CALLER_LEN} printable ASCII characters"),
        )),
    }
}
