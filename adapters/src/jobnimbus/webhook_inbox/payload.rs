//! A webhook body → what changed, and the key that tells a new change from a repeated one.
//! Pure, no I/O.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jobnimbus::client::check_jnid;

/// Largest body accepted. A full flat record with custom fields is a few kilobytes; this
/// leaves room for big ones without letting a caller fill the inbox with one request.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Longest record `type` kept as sent; longer ones are not a JobNimbus record type.
const MAX_KIND_LEN: usize = 64;

/// The kind of record a webhook is about (its `type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Job,
    Contact,
    Task,
    Activity,
    /// `attachment` (as JobNimbus names files) or `file`.
    File,
    /// Another type (work order, estimate…), lowercased.
    Other(String),
    /// The payload had no `type`.
    Unknown,
}

impl RecordKind {
    fn from_type(kind: Option<&Value>) -> Result<Self, PayloadError> {
        let text = match kind {
            None | Some(Value::Null) => return Ok(RecordKind::Unknown),
            Some(Value::String(text)) => text.trim().to_ascii_lowercase(),
            Some(_) => return Err(PayloadError::InvalidType),
        };
        Ok(match text.as_str() {
            "" => RecordKind::Unknown,
            "job" => RecordKind::Job,
            "contact" => RecordKind::Contact,
            "task" => RecordKind::Task,
            "activity" => RecordKind::Activity,
            "attachment" | "file" => RecordKind::File,
            // What is stored must stay a short, printable label.
            other
                if other.len() <= MAX_KIND_LEN
                    && other
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ')) =>
            {
                RecordKind::Other(other.to_owned())
            }
            _ => return Err(PayloadError::InvalidType),
        })
    }

    /// As stored in the inbox's `kind` column and in dedupe keys.
    pub fn as_str(&self) -> &str {
        match self {
            RecordKind::Job => "job",
            RecordKind::Contact => "contact",
            RecordKind::Task => "task",
            RecordKind::Activity => "activity",
            RecordKind::File => "file",
            RecordKind::Other(kind) => kind,
            RecordKind::Unknown => "unknown",
        }
    }

    /// What the processor does with a change of this kind.
    ///
    /// The extension point for other record kinds (a new action here, handled in the
    /// processor); rows already stored keep the action they were stored with.
    pub fn action(&self) -> InboxAction {
        match self {
            RecordKind::Job => InboxAction::RefetchJob,
            RecordKind::Contact => InboxAction::RefetchContact,
            RecordKind::File => InboxAction::RefreshFileJobs,
            // JobNimbus jnids are unique across record types: the record is whichever of
            // the two answers.
            RecordKind::Unknown => InboxAction::RefetchJobOrContact,
            RecordKind::Task | RecordKind::Activity | RecordKind::Other(_) => InboxAction::Ignore,
        }
    }
}

/// What the processor does with an inbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxAction {
    /// `GET /jobs/{jnid}` and record it on the `Job` aggregate.
    RefetchJob,
    /// `GET /contacts/{jnid}` and record it on the `Contact` aggregate.
    RefetchContact,
    /// No `type` in the payload: the job if JobNimbus has one by that jnid, else the contact.
    RefetchJobOrContact,
    /// A file changed: look it up by jnid and resync the file listing of every job it is
    /// linked to (a job's files are recorded as one complete listing, never one by one).
    RefreshFileJobs,
    /// A kind we do not mirror: stored for auditors, never fetched.
    Ignore,
}

impl InboxAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxAction::RefetchJob => "refetch_job",
            InboxAction::RefetchContact => "refetch_contact",
            InboxAction::RefetchJobOrContact => "refetch_job_or_contact",
            InboxAction::RefreshFileJobs => "refresh_file_jobs",
            InboxAction::Ignore => "ignore",
        }
    }

    /// The action of a stored row; `None` for a value this version does not know.
    pub fn parse(text: &str) -> Option<Self> {
        [
            InboxAction::RefetchJob,
            InboxAction::RefetchContact,
            InboxAction::RefetchJobOrContact,
            InboxAction::RefreshFileJobs,
            InboxAction::Ignore,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// One delivery, read and validated.
///
/// Invariant: `jnid` is a valid JobNimbus id and `dedupe_key` is the same for every
/// delivery of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub kind: RecordKind,
    pub jnid: String,
    /// The payload's `date_updated` (unix seconds), when it had a usable one.
    pub date_updated: Option<i64>,
    /// `kind:jnid:date_updated`, or `kind:jnid:sha256=<body hash>` without a date.
    pub dedupe_key: String,
    /// The body as compact JSON, for the audit trail.
    pub payload: String,
}

impl WebhookDelivery {
    pub fn action(&self) -> InboxAction {
        self.kind.action()
    }
}

/// Why a body is not a JobNimbus webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is larger than {MAX_PAYLOAD_BYTES} bytes")]
    TooLarge,
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body must be a JSON object (the flat record)")]
    NotAnObject,
    #[error("`jnid` is missing or blank")]
    MissingJnid,
    #[error("`jnid` is not a JobNimbus id")]
    InvalidJnid,
    #[error("`type` must be a record type name (letters, digits, `_`, `-`, at most 64)")]
    InvalidType,
}

/// Reads a webhook body: the flat record JSON, slim or full.
pub fn parse(body: &[u8]) -> Result<WebhookDelivery, PayloadError> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Object(record) = &value else {
        return Err(PayloadError::NotAnObject);
    };
    let jnid = match record.get("jnid") {
        Some(Value::String(jnid)) if !jnid.trim().is_empty() => jnid.trim().to_owned(),
        _ => return Err(PayloadError::MissingJnid),
    };
    check_jnid(&jnid).map_err(|_| PayloadError::InvalidJnid)?;
    let kind = RecordKind::from_type(record.get("type"))?;
    let date_updated = record.get("date_updated").and_then(unix_seconds);
    // Compact and with a stable key order (serde_json's map is sorted), so the same record
    // sent with other whitespace or key order hashes the same.
    let payload = value.to_string();
    let dedupe_key = match date_updated {
        Some(seconds) => format!("{}:{jnid}:{seconds}", kind.as_str()),
        None => format!(
            "{}:{jnid}:sha256={}",
            kind.as_str(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(payload.as_bytes()))
        ),
    };
    Ok(WebhookDelivery {
        kind,
        jnid,
        date_updated,
        dedupe_key,
        payload,
    })
}

/// JobNimbus timestamps are unix seconds; some integrations forward them as strings or
/// floats. Zero, negative or unreadable is no date.
fn unix_seconds(value: &Value) -> Option<i64> {
    let seconds = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    (seconds > 0).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(text: &str) -> WebhookDelivery {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_slim_job_payload_is_keyed_by_kind_jnid_and_date_updated() {
        let delivery = fixture(include_str!("../fixtures/webhook_job_slim.json"));

        assert_eq!(delivery.kind, RecordKind::Job);
        assert_eq!(delivery.jnid, "mhzq1bk4ykwz0s1a");
        assert_eq!(delivery.date_updated, Some(1_767_312_000));
        assert_eq!(delivery.dedupe_key, "job:mhzq1bk4ykwz0s1a:1767312000");
        assert_eq!(delivery.action(), InboxAction::RefetchJob);
    }

    #[test]
    fn a_full_contact_payload_with_labelled_custom_fields_is_read_the_same_way() {
        let delivery = fixture(include_str!("../fixtures/webhook_contact_full.json"));

        assert_eq!(delivery.kind, RecordKind::Contact);
        assert_eq!(delivery.jnid, "c7x2k");
        assert_eq!(delivery.dedupe_key, "contact:c7x2k:1767398400");
        assert_eq!(delivery.action(), InboxAction::RefetchContact);
    }

    #[test]
    fn kinds_we_do_not_mirror_are_ignored_and_attachments_refresh_their_jobs_files() {
        let cases = [
            (
                r#"{"jnid":"t1","type":"task","date_updated":5}"#,
                RecordKind::Task,
                InboxAction::Ignore,
            ),
            (
                r#"{"jnid":"a1","type":"activity"}"#,
                RecordKind::Activity,
                InboxAction::Ignore,
            ),
            (
                include_str!("../fixtures/webhook_attachment.json"),
                RecordKind::File,
                InboxAction::RefreshFileJobs,
            ),
            (
                r#"{"jnid":"f1","type":"File"}"#,
                RecordKind::File,
                InboxAction::RefreshFileJobs,
            ),
            (
                r#"{"jnid":"w1","type":"Work Order"}"#,
                RecordKind::Other("work order".into()),
                InboxAction::Ignore,
            ),
        ];
        for (body, kind, action) in cases {
            let delivery = fixture(body);
            assert_eq!(delivery.kind, kind, "{body}");
            assert_eq!(delivery.action(), action, "{body}");
        }
    }

    #[test]
    fn a_payload_without_type_refetches_whichever_record_has_the_jnid() {
        let delivery = fixture(r#"{"jnid":"x9","record_type_name":"Residential"}"#);

        assert_eq!(delivery.kind, RecordKind::Unknown);
        assert_eq!(delivery.action(), InboxAction::RefetchJobOrContact);
    }

    #[test]
    fn without_date_updated_the_key_is_a_hash_of_the_body_ignoring_layout() {
        let one = fixture(include_str!("../fixtures/webhook_job_no_date.json"));
        let same = fixture(r#"{ "type": "job", "status_name": "Lead", "jnid": "j42" }"#);
        let other = fixture(r#"{"jnid":"j42","type":"job","status_name":"Sold"}"#);

        assert_eq!(one.date_updated, None);
        assert!(
            one.dedupe_key.starts_with("job:j42:sha256="),
            "{}",
            one.dedupe_key
        );
        assert_eq!(one.dedupe_key, same.dedupe_key);
        assert_ne!(one.dedupe_key, other.dedupe_key);
    }

    #[test]
    fn dates_sent_as_strings_or_floats_count_and_unusable_ones_do_not() {
        let cases = [
            (r#""1767312000""#, Some(1_767_312_000)),
            ("1767312000.75", Some(1_767_312_000)),
            ("0", None),
            ("-5", None),
            (r#""yesterday""#, None),
            ("null", None),
            ("true", None),
        ];
        for (date, expected) in cases {
            let body = format!(r#"{{"jnid":"j1","type":"job","date_updated":{date}}}"#);
            assert_eq!(fixture(&body).date_updated, expected, "{date}");
        }
    }

    #[test]
    fn the_same_change_delivered_twice_has_one_key_and_a_later_change_another() {
        let first =
            fixture(r#"{"jnid":"j1","type":"job","date_updated":100,"status_name":"Lead"}"#);
        let again =
            fixture(r#"{"date_updated":100,"type":"job","jnid":"j1","status_name":"Lead"}"#);
        let later =
            fixture(r#"{"jnid":"j1","type":"job","date_updated":101,"status_name":"Sold"}"#);
        let contact = fixture(r#"{"jnid":"j1","type":"contact","date_updated":100}"#);

        assert_eq!(first.dedupe_key, again.dedupe_key);
        assert_ne!(first.dedupe_key, later.dedupe_key);
        assert_ne!(first.dedupe_key, contact.dedupe_key);
    }

    #[test]
    fn bodies_that_are_not_a_record_with_a_jnid_are_refused_with_the_reason() {
        let too_large = format!(
            r#"{{"jnid":"j1","pad":"{}"}}"#,
            "x".repeat(MAX_PAYLOAD_BYTES)
        );
        let cases: [(&str, PayloadError); 9] = [
            ("", PayloadError::NotJson(String::new())),
            ("{\"jnid\":", PayloadError::NotJson(String::new())),
            ("[1,2]", PayloadError::NotAnObject),
            ("\"job\"", PayloadError::NotAnObject),
            ("{}", PayloadError::MissingJnid),
            (r#"{"jnid":"   "}"#, PayloadError::MissingJnid),
            (r#"{"jnid":42}"#, PayloadError::MissingJnid),
            (r#"{"jnid":"../jobs"}"#, PayloadError::InvalidJnid),
            (r#"{"jnid":"j1","type":["job"]}"#, PayloadError::InvalidType),
        ];
        for (body, expected) in cases {
            let error = parse(body.as_bytes()).unwrap_err();
            match expected {
                // serde's message varies; the variant is what matters.
                PayloadError::NotJson(_) => {
                    assert!(matches!(error, PayloadError::NotJson(_)), "{body}: {error}")
                }
                expected => assert_eq!(error, expected, "{body}"),
            }
        }
        assert_eq!(
            parse(too_large.as_bytes()).unwrap_err(),
            PayloadError::TooLarge
        );
        assert_eq!(
            parse(r#"{"jnid":"j1","type":"job; drop table"}"#.as_bytes()).unwrap_err(),
            PayloadError::InvalidType
        );
    }

    #[test]
    fn action_names_round_trip() {
        for action in [
            InboxAction::RefetchJob,
            InboxAction::RefetchContact,
            InboxAction::RefetchJobOrContact,
            InboxAction::RefreshFileJobs,
            InboxAction::Ignore,
        ] {
            assert_eq!(InboxAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(InboxAction::parse("refetch_everything"), None);
    }
}
