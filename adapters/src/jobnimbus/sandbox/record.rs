//! The stored form of a record: a compact, immutable JSON-like tree.
//!
//! `serde_json::Map` costs about 6 KB and 60 allocations per JobNimbus record (B-tree nodes,
//! one `String` per key); at 30,000 jobs with their files and notes that is gigabytes and
//! seconds. Here an object is one shared sorted slice, and keys and most values are `'static`
//! strings from the word lists, so a record is a handful of allocations. It serialises in the
//! same key order as `serde_json::Map` (sorted), so responses are unchanged.

use std::borrow::Cow;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Keys and texts: borrowed from the word lists when generated, owned when a client sent them.
pub(crate) type Text = Cow<'static, str>;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    List(Box<[Field]>),
    Object(Record),
}

/// A JSON object with its keys sorted and unique; the stored form of every record.
/// Immutable and shared: the job link inside each of a job's files, notes and tasks is one
/// allocation, and cloning a record is a reference-count bump.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Record {
    entries: Arc<[(Text, Field)]>,
}

impl Record {
    /// Builds from pairs; later duplicates win, like repeated `insert`s.
    pub(crate) fn from_pairs(mut pairs: Vec<(Text, Field)>) -> Self {
        // Stable sort keeps insertion order among equal keys; keep the last of each run.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries: Vec<(Text, Field)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            match entries.last_mut() {
                Some(last) if last.0 == key => last.1 = value,
                _ => entries.push((key, value)),
            }
        }
        Self {
            entries: entries.into(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Field> {
        self.entries
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Field::Int(n)) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn text(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Field::Str(s)) => s,
            _ => "",
        }
    }

    /// A copy with `key` set to `value` (records are immutable; writes are rare).
    pub(crate) fn with(&self, key: &'static str, value: impl Into<Field>) -> Record {
        let mut pairs = self.entries.to_vec();
        pairs.push((Cow::Borrowed(key), value.into()));
        Record::from_pairs(pairs)
    }

    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect()
    }

    pub(crate) fn from_map(map: &Map<String, Value>) -> Self {
        Self::from_pairs(
            map.iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), Field::from(v)))
                .collect(),
        )
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::Object(self.to_map())
    }
}

impl Field {
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Int(n) => Value::from(*n),
            Field::Float(x) => Value::from(*x),
            Field::Str(s) => Value::String(s.to_string()),
            Field::List(items) => Value::Array(items.iter().map(Field::to_value).collect()),
            Field::Object(record) => record.to_value(),
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Field::Int(n) => Some(*n as f64),
            Field::Float(x) => Some(*x),
            _ => None,
        }
    }
}

impl From<&Value> for Field {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Field::Null,
            Value::Bool(b) => Field::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Field::Int(i),
                None => Field::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Field::Str(Cow::Owned(s.clone())),
            Value::Array(items) => Field::List(items.iter().map(Field::from).collect()),
            Value::Object(map) => Field::Object(Record::from_map(map)),
        }
    }
}

impl From<&'static str> for Field {
    fn from(s: &'static str) -> Self {
        Field::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::Str(Cow::Owned(s))
    }
}

impl From<i64> for Field {
    fn from(n: i64) -> Self {
        Field::Int(n)
    }
}

impl From<usize> for Field {
    fn from(n: usize) -> Self {
        Field::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u64> for Field {
    fn from(n: u64) -> Self {
        Field::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Field {
    fn from(b: bool) -> Self {
        Field::Bool(b)
    }
}

impl From<f64> for Field {
    fn from(x: f64) -> Self {
        Field::Float(x)
    }
}

impl From<Record> for Field {
    fn from(record: Record) -> Self {
        Field::Object(record)
    }
}

impl From<Vec<Field>> for Field {
    fn from(items: Vec<Field>) -> Self {
        Field::List(items.into_boxed_slice())
    }
}

impl<T: Into<Field>> From<Option<T>> for Field {
    fn from(value: Option<T>) -> Self {
        value.map_or(Field::Null, Into::into)
    }
}

/// Collects `set` calls, then sorts once.
#[derive(Default)]
pub(crate) struct Builder {
    pairs: Vec<(Text, Field)>,
}

impl Builder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            pairs: Vec::with_capacity(n),
        }
    }

    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Field>) -> &mut Self {
        self.pairs.push((Cow::Borrowed(key), value.into()));
        self
    }

    pub(crate) fn build(self) -> Record {
        Record::from_pairs(self.pairs)
    }
}

/// A small object literal: `object([("id", x.into())])`.
pub(crate) fn object<const N: usize>(pairs: [(&'static str, Field); N]) -> Record {
    Record::from_pairs(
        pairs
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect(),
    )
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Null => serializer.serialize_unit(),
            Field::Bool(b) => serializer.serialize_bool(*b),
            Field::Int(n) => serializer.serialize_i64(*n),
            // Match serde_json::Value: non-finite floats become null.
            Field::Float(x) if !x.is_finite() => serializer.serialize_unit(),
            Field::Float(x) => serializer.serialize_f64(*x),
            Field::Str(s) => serializer.serialize_str(s),
            Field::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Field::Object(record) => record.serialize(serializer),
        }
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in self.entries.iter() {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_round_trips_and_serialises_like_serde_json() {
        let value = json!({
            "b": [1, 2.5, "x", null, true],
            "a": {"z": 1, "y": {"k": "v"}},
            "c": -7,
            "d": ""
        });
        let record = Record::from_map(value.as_object().unwrap());
        assert_eq!(record.to_value(), value);
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(record.int("c"), Some(-7));
        assert_eq!(record.text("d"), "");
        assert!(record.get("nope").is_none());
    }

    #[test]
    fn later_duplicate_keys_win() {
        let mut b = Builder::default();
        b.set("k", 1i64).set("a", true).set("k", 2i64);
        let record = b.build();
        assert_eq!(record.to_map().len(), 2);
        assert_eq!(record.int("k"), Some(2));
    }
}
