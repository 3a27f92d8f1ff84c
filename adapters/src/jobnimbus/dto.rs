//! JobNimbus wire types: exactly what the API sends, nothing of ours. Private to the adapter;
//! `mapping` turns them into domain snapshots.
//!
//! The API is loosely typed in practice (numbers sent as strings, phones as a string or a list
//! of `{value, type}`, `null` where a field is unset), so the scalar fields go through lenient
//! deserialisers that never fail on a shape they can make sense of. Unknown keys, including
//! custom fields (`cf_*`), are ignored.
//!
//! Records are read straight from their text (a full sync reads 100,000 of them); the
//! lenient readers build a `Value` only for the rare shapes whose meaning is defined on one
//! (lists, objects where a scalar belongs), so every record reads as it would through `Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

/// `{"count": <total hits>, "results": [...]}` (jobs, contacts, tasks). Records stay
/// unparsed (`&RawValue`, each one's own text) so one malformed record is rejected alone
/// instead of failing the whole page, without a `Value` tree per record. With `Value`
/// records it is the reference for which bodies fail as a whole (a number out of range in any
/// record fails it) and with what message.
#[derive(Debug, Deserialize)]
pub(crate) struct ResultsEnvelope<R> {
    pub(crate) count: u64,
    // A path default: `#[serde(default)]` would demand `R: Default`.
    #[serde(default = "Vec::new")]
    pub(crate) results: Vec<R>,
}

/// `{"count": <total hits>, "files": [...]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct FilesEnvelope {
    pub(crate) count: u64,
    #[serde(default)]
    pub(crate) files: Vec<Value>,
}

/// The body of a non-2xx answer: `{"error": "..."}` from `/api1`, RFC 7807 problem details
/// (`title`, `detail`) from the newer services, `{"message": "..."}` from their gateway.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) error: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) detail: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) title: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) message: Option<String>,
}

impl ErrorBody {
    /// The most specific message the body holds.
    pub(crate) fn message(self) -> Option<String> {
        self.error.or(self.detail).or(self.message).or(self.title)
    }
}

/// A `primary` / `related[]` link: `{id, type, name, number}`, read by `loose_link`.
#[derive(Debug, Default)]
pub(crate) struct LinkDto {
    pub(crate) id: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) name: Option<String>,
}

/// The address fields shared by jobs and contacts (top-level keys of both on the wire).
#[derive(Debug, Default)]
pub(crate) struct AddressDto {
    pub(crate) address_line1: Option<String>,
    pub(crate) address_line2: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) state_text: Option<String>,
    pub(crate) zip: Option<String>,
    pub(crate) country_name: Option<String>,
}

/// A job record (`GET /jobs`, `GET /jobs/{jnid}`).
///
/// The address fields are inline rather than a `#[serde(flatten)]` `AddressDto`: flatten
/// buffers every other key of the record (some 30, nested ones included) before reading it.
#[derive(Debug, Deserialize)]
#[serde(remote = "Self")]
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
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_updated: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_status_change: Option<i64>,
    /// When the work starts / started (0 when unset).
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_start: Option<i64>,
    /// When the work ends / ended (0 when unset).
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_end: Option<i64>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_archived: Option<bool>,
}

impl<'de> Deserialize<'de> for JobDto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JobDto::deserialize(MapOnly(d))
    }
}

impl JobDto {
    pub(crate) fn take_address(&mut self) -> AddressDto {
        AddressDto {
            address_line1: self.address_line1.take(),
            address_line2: self.address_line2.take(),
            city: self.city.take(),
            state_text: self.state_text.take(),
            zip: self.zip.take(),
            country_name: self.country_name.take(),
        }
    }
}

/// A contact record (`GET /contacts`). Address fields inline, as in [`JobDto`].
#[derive(Debug, Deserialize)]
#[serde(remote = "Self")]
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
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_updated: Option<i64>,
}

impl<'de> Deserialize<'de> for ContactDto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ContactDto::deserialize(MapOnly(d))
    }
}

impl ContactDto {
    pub(crate) fn take_address(&mut self) -> AddressDto {
        AddressDto {
            address_line1: self.address_line1.take(),
            address_line2: self.address_line2.take(),
            city: self.city.take(),
            state_text: self.state_text.take(),
            zip: self.zip.take(),
            country_name: self.country_name.take(),
        }
    }
}

/// What a list needs of every record, even one that does not map: the pager keys on both.
pub(crate) trait ListedDto {
    fn jnid(&self) -> Option<&str>;
    fn date_updated(&self) -> Option<i64>;
}

impl ListedDto for JobDto {
    fn jnid(&self) -> Option<&str> {
        self.jnid.as_deref()
    }

    fn date_updated(&self) -> Option<i64> {
        self.date_updated
    }
}

impl ListedDto for ContactDto {
    fn jnid(&self) -> Option<&str> {
        self.jnid.as_deref()
    }

    fn date_updated(&self) -> Option<i64> {
        self.date_updated
    }
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
    /// Not in the documented file shape; read when an account sends it (as on jobs).
    #[serde(default, deserialize_with = "loose_tags")]
    pub(crate) tags: Vec<String>,
}

/// What we read back from the answer to a write: the record's id and stamps (the rest of
/// the record is ignored).
#[derive(Debug, Deserialize)]
pub(crate) struct WrittenDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_created: Option<i64>,
    #[serde(default, deserialize_with = "loose_timestamp")]
    pub(crate) date_updated: Option<i64>,
}

/// `{"data": ...}`, the files service's envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct DataEnvelope<T> {
    pub(crate) data: T,
}

/// `data` of `POST /files/v1/uploads/url`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadUrlDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) url: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
}

/// `data` of `POST /files/v1/uploads/{jnid}/complete`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadCompleteDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) jnid: Option<String>,
    #[serde(default, rename = "thumbnailUrl", deserialize_with = "loose_string")]
    pub(crate) thumbnail_url: Option<String>,
}

/// Any list: `count` and the records under whichever key the resource uses (`results`,
/// `activity`, `files`). For the small per-job lists the writes read back.
#[derive(Debug, Deserialize)]
pub(crate) struct AnyEnvelope {
    pub(crate) count: u64,
    #[serde(default, alias = "results", alias = "activity", alias = "files")]
    pub(crate) records: Vec<Value>,
}

/// `GET /account/settings`, the part that says which statuses each workflow has.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsDto {
    #[serde(default)]
    pub(crate) workflows: Vec<WorkflowDto>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorkflowDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) name: Option<String>,
    /// `job` or `contact`.
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) object_type: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    #[serde(default)]
    pub(crate) status: Vec<StatusDto>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusDto {
    #[serde(default, deserialize_with = "loose_string")]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_active: Option<bool>,
    /// Where jobs end, won or lost (Completed, Paid & Closed, Lost, …).
    #[serde(default, deserialize_with = "loose_bool")]
    pub(crate) is_closed: Option<bool>,
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
        Value::String(s) => timestamp_in(s),
        _ => None,
    }
}

fn timestamp_in(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()
}

fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => bool_in(s),
        _ => None,
    }
}

fn bool_in(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn loose_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(Lenient {
        text: |s| Some(s.into_owned()),
        value: |v| string_of(&v),
    })
}

fn loose_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(Lenient {
        text: |s| timestamp_in(&s),
        value: |v| timestamp_of(&v),
    })
}

/// Integers share the timestamps' leniency (ints, floats, numeric strings).
fn loose_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    loose_timestamp(d)
}

fn loose_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(loose_timestamp(d)?.and_then(|n| u64::try_from(n).ok()))
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(Lenient {
        text: |s| bool_in(&s),
        value: |v| bool_of(&v),
    })
}

/// Tags: a list (its text and numeric items), or one comma-separated string. Anything
/// else means "no tags" rather than failing the record.
fn loose_tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let tags = match Value::deserialize(d)? {
        Value::Array(items) => items.iter().filter_map(string_of).collect(),
        Value::String(text) => text.split(',').map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Ok(tags
        .into_iter()
        .map(|tag: String| tag.trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect())
}

/// A link object; anything that is not an object (`null`, `""`) means "no link".
fn loose_link<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LinkDto>, D::Error> {
    d.deserialize_any(LinkVisitor)
}

/// A list of links (non-objects in it skipped), or a single link object.
fn loose_links<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LinkDto>, D::Error> {
    d.deserialize_any(LinksVisitor)
}

/// Reads one scalar field the way `Value::deserialize` followed by a `&Value` reader did:
/// strings through `text` without building a `Value`, everything else through `value` from
/// the very `Value` serde_json would have built (free for numbers, booleans and null; lists
/// and objects are rare), so the result and the errors are the same.
struct Lenient<T> {
    text: fn(Cow<'_, str>) -> Option<T>,
    value: fn(Value) -> Option<T>,
}

impl<'de, T> Visitor<'de> for Lenient<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Option<T>, E> {
        Ok((self.value)(Value::Bool(b)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Option<T>, E> {
        Ok((self.value)(Value::from(n)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Option<T>, E> {
        Ok((self.value)(Value::from(n)))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Option<T>, E> {
        // As `Value` does: a float JSON cannot hold (NaN, ∞) is null.
        Ok((self.value)(
            Number::from_f64(x).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, s: &str) -> Result<Option<T>, E> {
        Ok((self.text)(Cow::Borrowed(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Option<T>, E> {
        Ok((self.text)(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok((self.value)(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Option<T>, E> {
        Ok((self.value)(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok((self.value)(value))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        let value = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok((self.value)(value))
    }
}

/// A link read field by field: the same as building the object's `Value` and reading `id`,
/// `type` and `name` from it (a repeated key: the last one wins, as in a `Value`).
struct LinkVisitor;

impl<'de> Visitor<'de> for LinkVisitor {
    type Value = Option<LinkDto>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<LinkDto>, A::Error> {
        let mut link = LinkDto::default();
        while let Some(key) = map.next_key::<LinkKey>()? {
            let slot = match key {
                LinkKey::Id => &mut link.id,
                LinkKey::Kind => &mut link.kind,
                LinkKey::Name => &mut link.name,
                LinkKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<LooseString>()?.0;
        }
        Ok(Some(link))
    }

    // Every other shape is "no link"; lists are still read, so they fail as they did.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<LinkDto>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<LinkDto>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<LinkDto>, D::Error> {
        d.deserialize_any(self)
    }
}

struct LinksVisitor;

impl<'de> Visitor<'de> for LinksVisitor {
    type Value = Vec<LinkDto>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<LinkDto>, A::Error> {
        let mut links = Vec::new();
        while let Some(link) = seq.next_element::<OptionalLink>()? {
            links.extend(link.0);
        }
        Ok(links)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<LinkDto>, A::Error> {
        Ok(LinkVisitor.visit_map(map)?.into_iter().collect())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_str<E>(self, _: &str) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E>(self) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E>(self) -> Result<Vec<LinkDto>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<LinkDto>, D::Error> {
        d.deserialize_any(self)
    }
}

struct OptionalLink(Option<LinkDto>);

impl<'de> Deserialize<'de> for OptionalLink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose_link(d).map(OptionalLink)
    }
}

struct LooseString(Option<String>);

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose_string(d).map(LooseString)
    }
}

/// The keys of a link object we read.
enum LinkKey {
    Id,
    Kind,
    Name,
    Other,
}

impl<'de> Deserialize<'de> for LinkKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = LinkKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E>(self, key: &str) -> Result<LinkKey, E> {
                Ok(match key {
                    "id" => LinkKey::Id,
                    "type" => LinkKey::Kind,
                    "name" => LinkKey::Name,
                    _ => LinkKey::Other,
                })
            }
        }

        d.deserialize_identifier(KeyVisitor)
    }
}

/// Hands a derived struct a map even when it asks for a struct, so it reads JSON objects
/// only, as it did while it had a `#[serde(flatten)]` field: a derived struct would also
/// read an array, field by field in order, and a list record that is an array must stay
/// "malformed".
struct MapOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
