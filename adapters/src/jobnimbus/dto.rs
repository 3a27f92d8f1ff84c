//! JobNimbus wire types: exactly what the API sends, nothing of ours. Private to the adapter;
//! `mapping` turns them into domain snapshots.
//!
//! The API is loosely typed in practice (numbers sent as strings, phones as a string or a list
//! of `{value, type}`, `null` where a field is unset), so the scalar fields go through lenient
//! deserialisers that never fail on a shape they can make sense of. Unknown keys, including
//! custom fields (`cf_*`), are ignored.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `{"count": <total hits>, "results": [...]}` (jobs, contacts, tasks). Records stay raw JSON
/// so one malformed record is rejected alone instead of failing the whole page.
#[derive(Debug, Deserialize)]
pub(crate) struct ResultsEnvelope {
    pub(crate) count: u64,
    #[serde(default)]
    pub(crate) results: Vec<Value>,
}

/// `{"count": <total hits>, "files": [...]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct FilesEnvelope {
    pub(crate) count: u64,
    #[serde(default)]
    pub(crate) files: Vec<Value>,
}

/// `{"error": "..."}`, the body of most non-2xx answers.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) error: Option<String>,
}

/// A `primary` / `related[]` link: `{id, type, name, number}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LinkDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "loose_string")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) name: Option<String>,
}

/// The address fields shared by jobs and contacts.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AddressDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) address_line1: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) address_line2: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) city: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) state_text: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) zip: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) country_name: Option<String>,
}

/// A job record (`GET /jobs`, `GET /jobs/{jnid}`).
#[derive(Debug, Deserialize)]
pub(crate) struct JobDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) number: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) description: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) status_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) record_type_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) sales_rep_name: Option<String>,
    #[serde(default, deserialize_with = "loose_link")]
    pub(crate) primary: Option<LinkDto>,
    #[serde(flatten)]
    pub(crate) address: AddressDto,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_updated: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_status_change: Option<i64>,
}

/// A contact record (`GET /contacts`).
#[derive(Debug, Deserialize)]
pub(crate) struct ContactDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) number: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) first_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) last_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) display_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) company: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) email: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) home_phone: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) mobile_phone: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) work_phone: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) status_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) record_type_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) source_name: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) sales_rep_name: Option<String>,
    #[serde(flatten)]
    pub(crate) address: AddressDto,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_updated: Option<i64>,
}

/// A file (attachment) record (`GET /files`).
#[derive(Debug, Deserialize)]
pub(crate) struct FileDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) filename: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) content_type: Option<String>,
    #[serde(default, deserialize_with = "loose_u64")]
    pub(crate) size: Option<u64>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) description: Option<String>,
    /// File type id: 1 Document, 2 Photo, … or an account's custom type.
    #[serde(default, deserialize_with = "loose_int")]
    pub(crate) record_type: Option<i64>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) record_type_name: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_private: Option<bool>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_file_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_link")]
    pub(crate) primary: Option<LinkDto>,
    #[serde(default, deserialize_with = "loose_links")]
    pub(crate) related: Vec<LinkDto>,
}

/// `date_updated` of a raw record, read the same lenient way as the DTOs; the updated-since
/// pager needs it even for records that fail to map.
pub(crate) fn raw_date_updated(record: &Value) -> Option<i64> {
    record.get("date_updated").and_then(timestamp_of)
}

/// `jnid` of a raw record, for reporting records that fail to map.
pub(crate) fn raw_jnid(record: &Value) -> Option<String> {
    record.get("jnid").and_then(string_of)
}

/// Text as sent, numbers rendered as text (`number` is sometimes numeric), a list of
/// `{value}` objects (how some accounts send phones and emails) read as its first value.
/// Anything else is treated as absent rather than failing the record.
fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => items.iter().find_map(|item| match item {
            Value::Object(map) => map.get("value").and_then(string_of),
            other => string_of(other),
        }),
        _ => None,
    }
}

/// Unix seconds from an integer, a float (truncated) or a numeric string.
fn timestamp_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|x| x.is_finite() && x.abs() < 1e15)
                .map(|x| x.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn loose_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(string_of(&Value::deserialize(d)?))
}

fn loose_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(timestamp_of(&Value::deserialize(d)?))
}

/// Integers share the timestamps' leniency (ints, floats, numeric strings).
fn loose_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    loose_timestamp(d)
}

fn loose_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(timestamp_of(&Value::deserialize(d)?).and_then(|n| u64::try_from(n).ok()))
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

/// A link object; anything that is not an object (`null`, `""`) means "no link".
fn loose_link<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LinkDto>, D::Error> {
    Ok(link_of(Value::deserialize(d)?))
}

fn loose_links<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LinkDto>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.into_iter().filter_map(link_of).collect(),
        other => link_of(other).into_iter().collect(),
    })
}

fn link_of(value: Value) -> Option<LinkDto> {
    match value {
        Value::Object(map) => Some(LinkDto {
            id: map.get("id").and_then(string_of),
            kind: map.get("type").and_then(string_of),
            name: map.get("name").and_then(string_of),
        }),
        _ => None,
    }
}
