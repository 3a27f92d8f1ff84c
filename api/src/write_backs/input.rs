//! Checks of what callers send: ids, text lengths, the `Idempotency-Key` and `x-caller`
//! headers, and the 422s the write-back endpoints answer.

use domain::{ContactId, CrmSource};
use poem_openapi::payload::Json;

use crate::ApiError;

/// Longest accepted `Idempotency-Key`.
pub(super) const MAX_KEY_LEN: usize = 255;
/// Longest note text or description, and task title.
pub(super) const MAX_TEXT_CHARS: usize = 10_000;
pub(super) const MAX_TITLE_CHARS: usize = 500;
/// Largest attachment: JobNimbus takes single-part uploads under 100 MB, but a request body
/// this server holds in memory while it uploads stays modest.
pub(super) const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

/// A contact as `jobnimbus:<jnid>` or a bare jnid → the jnid.
pub(super) fn contact_jnid(raw: &str) -> Result<String, ApiError> {
    let parsed = if raw.contains(':') {
        raw.parse::<ContactId>()
    } else {
        ContactId::jobnimbus(raw)
    };
    match parsed {
        Ok(id) if id.source() == CrmSource::JobNimbus => Ok(id.external_id().to_string()),
        Ok(id) => Err(ApiError::bad_request(
            "invalid_contact_id",
            format!("{id} is not a JobNimbus contact"),
        )),
        Err(e) => Err(ApiError::bad_request("invalid_contact_id", e.to_string())),
    }
}

/// `text` trimmed; `None` when blank; 400 `invalid_<field>` when longer than `max` characters.
pub(super) fn bounded_text(
    field: &str,
    text: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(ApiError::bad_request(
            &format!("invalid_{}", field.to_ascii_lowercase()),
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

pub(super) fn checked_key(key: String) -> Result<String, ApiError> {
    if !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces"),
        ))
    }
}

pub(super) fn unprocessable(code: &str, detail: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(Json(crate::Problem::new(
        poem::http::StatusCode::UNPROCESSABLE_ENTITY,
        code,
        detail,
    )))
}

pub(super) fn too_large() -> ApiError {
    unprocessable(
        "file_too_large",
        format!(
            "the file is larger than {} MiB",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ),
    )
}
