//! JobNimbus wire records → our snapshots: the anti-corruption layer. Pure functions, no I/O.
//!
//! Rules, applied the same way everywhere:
//! - unix seconds become UTC instants; `0`, negative, out-of-range or missing become `None`;
//! - text is kept as sent except that blank (empty or whitespace-only) becomes `None`;
//! - a record we cannot identify or name is rejected with a reason, never half-mapped.

use chrono::{DateTime, Utc};
use domain::{Address, ContactId, ContactSnapshot, FileKind, JobFile, JobId, JobSnapshot};
use serde_json::Value;

use super::dto::{
    self, AddressDto, ContactDto, DataEnvelope, FileDto, JobDto, SettingsDto, UploadCompleteDto,
    UploadUrlDto, WrittenDto,
};

/// A job as listed by JobNimbus, mapped to our snapshot.
///
/// Invariant: `jnid` is a valid JobNimbus id (so `id` could be built from it) and
/// `snapshot.remote_updated_at == Some(date_updated)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledJob {
    pub jnid: String,
    /// Our aggregate id for this job (`jobnimbus:<jnid>`).
    pub id: JobId,
    /// False for soft-deleted jobs (`is_active: false`); records without the flag are active.
    pub is_active: bool,
    pub date_updated: DateTime<Utc>,
    pub snapshot: JobSnapshot,
}

/// A contact as listed by JobNimbus, mapped to our snapshot.
///
/// Invariant: `jnid` is a valid JobNimbus id (so `id` could be built from it),
/// `snapshot.display_name` is non-blank, and `snapshot.remote_updated_at == Some(date_updated)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledContact {
    pub jnid: String,
    /// Our aggregate id for this contact (`jobnimbus:<jnid>`).
    pub id: ContactId,
    pub is_active: bool,
    pub date_updated: DateTime<Utc>,
    pub snapshot: ContactSnapshot,
}

/// A file attached to records (photos, documents…); metadata only, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledFile {
    pub jnid: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    pub description: Option<String>,
    /// File type id (1 Document, 2 Photo, … or a custom type), when sent.
    pub record_type: Option<i64>,
    /// File type name ("Photo", "Document", …).
    pub record_type_name: Option<String>,
    pub is_private: bool,
    /// Upload time (`date_created`, else `date_file_created`).
    pub created_at: Option<DateTime<Utc>>,
    /// Capture time as the device stamped it (`date_file_created`).
    pub captured_at: Option<DateTime<Utc>>,
    /// Tags, when the account sends any.
    pub tags: Vec<String>,
    /// jnids of the jobs this file is linked to (`primary` and `related` of type `job`).
    pub related_job_ids: Vec<String>,
}

impl PulledFile {
    /// A photo: file type 2 / "Photo", or an image content type whatever its file type.
    pub fn is_photo(&self) -> bool {
        self.record_type == Some(2)
            || self
                .record_type_name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case("photo"))
            || self
                .content_type
                .as_deref()
                .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("image/"))
    }
}

impl PulledFile {
    /// The file as the job's aggregate records it.
    pub fn to_job_file(&self) -> JobFile {
        JobFile {
            file_id: self.jnid.clone(),
            kind: if self.is_photo() {
                FileKind::Photo
            } else {
                FileKind::Document
            },
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size_bytes: self.size_bytes,
            description: self.description.clone(),
            tags: self.tags.clone(),
            file_type: self.record_type_name.clone(),
            is_private: self.is_private,
            created_at: self.created_at,
            captured_at: self.captured_at,
        }
    }
}

/// A record one of our writes created (a note, a task), as JobNimbus answered it or as it was
/// read back.
///
/// Invariant: `jnid` is non-blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRecord {
    pub jnid: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A file our upload created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    pub jnid: String,
    /// Only when a thumbnail was asked for and the file is an image.
    pub thumbnail_url: Option<String>,
}

/// A job workflow of the account and its statuses (active ones, in pipeline order): what a
/// status change may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobWorkflow {
    pub name: String,
    pub statuses: Vec<String>,
    /// The statuses of `statuses` the account marks closed (`is_closed`).
    pub closed_statuses: Vec<String>,
}

impl JobWorkflow {
    pub fn has_status(&self, name: &str) -> bool {
        self.statuses.iter().any(|s| s == name)
    }
}

/// A record of a page that could not be mapped, and why. The rest of the page is unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// The record's `jnid`, when it has one.
    pub jnid: Option<String>,
    pub reason: String,
}

impl TryFrom<JobDto> for PulledJob {
    type Error = String;

    fn try_from(mut dto: JobDto) -> Result<Self, Self::Error> {
        let address = address(dto.take_address());
        let jnid = present(dto.jnid).ok_or("missing jnid")?;
        let id = JobId::jobnimbus(&jnid).map_err(|e| format!("unusable jnid: {e}"))?;
        let date_updated = instant(dto.date_updated).ok_or("missing or zero date_updated")?;
        let number = present(dto.number);
        // JobNimbus requires a name on create, but imports and API writes leave it blank at
        // times; the display number is what its own UI shows then.
        let name = present(dto.name)
            .or_else(|| number.clone())
            .ok_or("job has neither a name nor a number")?;
        let (customer_name, contact_external_id) = match dto.primary {
            Some(link) => (present(link.name), present(link.id)),
            None => (None, None),
        };
        let snapshot = JobSnapshot {
            number,
            name,
            description: present(dto.description),
            status: present(dto.status_name),
            workflow: present(dto.record_type_name),
            customer_name,
            contact_external_id,
            address,
            sales_rep_name: present(dto.sales_rep_name),
            remote_created_at: instant(dto.date_created),
            remote_updated_at: Some(date_updated),
            status_changed_at: instant(dto.date_status_change),
            started_at: instant(dto.date_start),
            completed_at: instant(dto.date_end),
            is_archived: dto.is_archived.unwrap_or(false),
        };
        Ok(PulledJob {
            jnid,
            id,
            is_active: dto.is_active.unwrap_or(true),
            date_updated,
            snapshot,
        })
    }
}

impl TryFrom<ContactDto> for PulledContact {
    type Error = String;

    fn try_from(mut dto: ContactDto) -> Result<Self, Self::Error> {
        let address = address(dto.take_address());
        let jnid = present(dto.jnid).ok_or("missing jnid")?;
        let id = ContactId::jobnimbus(&jnid).map_err(|e| format!("unusable jnid: {e}"))?;
        let date_updated = instant(dto.date_updated).ok_or("missing or zero date_updated")?;
        let first_name = present(dto.first_name);
        let last_name = present(dto.last_name);
        let company = present(dto.company);
        // JobNimbus fills display_name itself, but only when the UI creates the contact.
        let full_name = match (&first_name, &last_name) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        };
        let display_name = present(dto.display_name)
            .or(full_name)
            .or_else(|| company.clone())
            .ok_or("contact has no display name, first or last name, or company")?;
        let snapshot = ContactSnapshot {
            number: present(dto.number),
            first_name,
            last_name,
            display_name,
            company,
            email: present(dto.email),
            home_phone: present(dto.home_phone),
            mobile_phone: present(dto.mobile_phone),
            work_phone: present(dto.work_phone),
            address,
            status: present(dto.status_name),
            workflow: present(dto.record_type_name),
            source_name: present(dto.source_name),
            sales_rep_name: present(dto.sales_rep_name),
            remote_created_at: instant(dto.date_created),
            remote_updated_at: Some(date_updated),
        };
        Ok(PulledContact {
            jnid,
            id,
            is_active: dto.is_active.unwrap_or(true),
            date_updated,
            snapshot,
        })
    }
}

impl TryFrom<FileDto> for PulledFile {
    type Error = String;

    fn try_from(dto: FileDto) -> Result<Self, Self::Error> {
        let jnid = present(dto.jnid).ok_or("missing jnid")?;
        let filename = present(dto.filename).ok_or("missing filename")?;
        let mut related_job_ids: Vec<String> = Vec::new();
        for link in dto.primary.into_iter().chain(dto.related) {
            let is_job = link
                .kind
                .as_deref()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("job"));
            if let (true, Some(id)) = (is_job, present(link.id)) {
                if !related_job_ids.contains(&id) {
                    related_job_ids.push(id);
                }
            }
        }
        Ok(PulledFile {
            jnid,
            filename,
            content_type: present(dto.content_type),
            size_bytes: dto.size,
            description: present(dto.description),
            record_type: dto.record_type,
            record_type_name: present(dto.record_type_name),
            is_private: dto.is_private.unwrap_or(false),
            created_at: instant(dto.date_created).or_else(|| instant(dto.date_file_created)),
            captured_at: instant(dto.date_file_created),
            tags: dto.tags,
            related_job_ids,
        })
    }
}

/// Maps one raw list record; a record that does not deserialise or map becomes a
/// [`RejectedRecord`] naming its jnid when it has one.
pub(crate) fn map_record<D, T>(raw: Value) -> Result<T, RejectedRecord>
where
    D: serde::de::DeserializeOwned,
    T: TryFrom<D, Error = String>,
{
    let jnid = dto::raw_jnid(&raw);
    let reject = |reason: String| RejectedRecord {
        jnid: jnid.clone(),
        reason,
    };
    let dto: D =
        serde_json::from_value(raw).map_err(|e| reject(format!("malformed record: {e}")))?;
    T::try_from(dto).map_err(reject)
}

/// One record of a list page: its `date_updated` and `jnid` as sent (the pager keys on them
/// even when the record does not map) and the record mapped, or why not.
#[derive(Debug, PartialEq)]
pub(crate) struct Listed<T> {
    pub(crate) date_updated: Option<i64>,
    pub(crate) jnid: Option<String>,
    pub(crate) mapped: Result<T, RejectedRecord>,
}

/// Reads one list record from its text. `None` when the text is not even a `Value` (a
/// number out of range…): what used to fail the whole page, and still does.
///
/// Every real record is an object without repeated keys, read straight into its DTO. Any
/// other shape fails that and is read through a `Value`, exactly as all records once were
/// (the DTO then sees the last of repeated keys, and a non-object is malformed), so the
/// outcome never depends on which way a record was read. One difference with those days: a
/// number out of range or a lone surrogate escape in a field no DTO reads, which no `Value`
/// can hold, used to fail the page and is now skipped like the rest of the field.
pub(crate) fn listed<D, T>(text: &str) -> Option<Listed<T>>
where
    D: serde::de::DeserializeOwned + dto::ListedDto,
    T: TryFrom<D, Error = String>,
{
    if let Ok(dto) = serde_json::from_str::<D>(text) {
        let date_updated = dto.date_updated();
        let jnid = dto.jnid().map(str::to_owned);
        let mapped = T::try_from(dto).map_err(|reason| RejectedRecord {
            jnid: jnid.clone(),
            reason,
        });
        return Some(Listed {
            date_updated,
            jnid,
            mapped,
        });
    }
    let raw: Value = serde_json::from_str(text).ok()?;
    Some(Listed {
        date_updated: dto::raw_date_updated(&raw),
        jnid: dto::raw_jnid(&raw),
        mapped: map_record::<D, T>(raw),
    })
}

pub(crate) fn listed_job(text: &str) -> Option<Listed<PulledJob>> {
    listed::<JobDto, PulledJob>(text)
}

pub(crate) fn listed_contact(text: &str) -> Option<Listed<PulledContact>> {
    listed::<ContactDto, PulledContact>(text)
}

pub(crate) fn job_from_value(raw: Value) -> Result<PulledJob, RejectedRecord> {
    map_record::<JobDto, PulledJob>(raw)
}

/// A single contact (`GET /contacts/{jnid}`); lists read contacts from text (`listed_contact`).
pub(crate) fn contact_from_value(raw: Value) -> Result<PulledContact, RejectedRecord> {
    map_record::<ContactDto, PulledContact>(raw)
}

pub(crate) fn file_from_value(raw: Value) -> Result<PulledFile, RejectedRecord> {
    map_record::<FileDto, PulledFile>(raw)
}

impl TryFrom<WrittenDto> for WrittenRecord {
    type Error = String;

    fn try_from(dto: WrittenDto) -> Result<Self, Self::Error> {
        Ok(WrittenRecord {
            jnid: present(dto.jnid).ok_or("missing jnid")?,
            created_at: instant(dto.date_created),
            updated_at: instant(dto.date_updated),
        })
    }
}

/// The answer to a create, read from its text. `Err` says why it cannot be used.
pub(crate) fn written_from_str(text: &str) -> Result<WrittenRecord, String> {
    let dto: WrittenDto = from_object(text).map_err(|e| format!("not a JSON record: {e}"))?;
    WrittenRecord::try_from(dto)
}

/// A JSON object read into `T`. Answers to writes are rare and small, so going through a
/// `Value` costs nothing and keeps a derived struct from reading an array field by field.
fn from_object<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    match serde_json::from_str::<Value>(text).map_err(|e| e.to_string())? {
        object @ Value::Object(_) => serde_json::from_value(object).map_err(|e| e.to_string()),
        other => Err(format!("expected an object, got {other}")),
    }
}

/// A record read back while reconciling (already a `Value`).
pub(crate) fn written_from_value(raw: Value) -> Result<WrittenRecord, RejectedRecord> {
    map_record::<WrittenDto, WrittenRecord>(raw)
}

/// `{"data": {"url", "jnid"}}` → (presigned URL, file jnid).
pub(crate) fn upload_url_from_str(text: &str) -> Result<(String, String), String> {
    let DataEnvelope { data } = from_object::<DataEnvelope<UploadUrlDto>>(text)
        .map_err(|e| format!("not the upload URL envelope: {e}"))?;
    let url = present(data.url).ok_or("no upload url")?;
    let jnid = present(data.jnid).ok_or("no file jnid")?;
    Ok((url, jnid))
}

/// `{"data": {"jnid", "thumbnailUrl"}}`.
pub(crate) fn upload_complete_from_str(text: &str) -> Result<UploadedFile, String> {
    let DataEnvelope { data } = from_object::<DataEnvelope<UploadCompleteDto>>(text)
        .map_err(|e| format!("not the completion envelope: {e}"))?;
    Ok(UploadedFile {
        jnid: present(data.jnid).ok_or("no file jnid")?,
        thumbnail_url: present(data.thumbnail_url),
    })
}

/// The account's active job workflows with their active statuses. A workflow without an
/// `object_type` is taken for a job workflow rather than hidden.
pub(crate) fn job_workflows_from_str(text: &str) -> Result<Vec<JobWorkflow>, String> {
    let settings: SettingsDto =
        from_object(text).map_err(|e| format!("not the account settings: {e}"))?;
    Ok(settings
        .workflows
        .into_iter()
        .filter(|w| w.is_active.unwrap_or(true))
        .filter(|w| {
            w.object_type
                .as_deref()
                .is_none_or(|kind| kind.eq_ignore_ascii_case("job"))
        })
        .filter_map(|w| {
            let mut statuses = Vec::new();
            let mut closed_statuses = Vec::new();
            for status in w.status.into_iter().filter(|s| s.is_active.unwrap_or(true)) {
                let closed = status.is_closed.unwrap_or(false);
                if let Some(name) = present(status.name) {
                    if closed {
                        closed_statuses.push(name.clone());
                    }
                    statuses.push(name);
                }
            }
            present(w.name).map(|name| JobWorkflow {
                name,
                statuses,
                closed_statuses,
            })
        })
        .collect())
}

/// Blank text is "not set" in JobNimbus (it sends `""` for cleared fields).
fn present(text: Option<String>) -> Option<String> {
    text.filter(|s| !s.trim().is_empty())
}

/// Unix seconds → UTC; JobNimbus writes `0` for "never", which is not 1970.
fn instant(seconds: Option<i64>) -> Option<DateTime<Utc>> {
    seconds
        .filter(|s| *s > 0)
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

fn address(dto: AddressDto) -> Address {
    Address {
        line1: present(dto.address_line1),
        line2: present(dto.address_line2),
        city: present(dto.city),
        state: present(dto.state_text),
        zip: present(dto.zip),
        country: present(dto.country_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn at(seconds: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(seconds, 0)
    }

    #[test]
    fn a_complete_job_maps_every_mirrored_field() {
        let job = job_from_value(fixture(include_str!("fixtures/job_complete.json"))).unwrap();

        assert_eq!(job.jnid, "jsy16hg9ztze7cxx");
        assert_eq!(job.id.as_str(), "jobnimbus:jsy16hg9ztze7cxx");
        assert!(job.is_active);
        assert_eq!(Some(job.date_updated), at(1_760_003_600));
        assert_eq!(
            job.snapshot,
            JobSnapshot {
                number: Some("1042".into()),
                name: "Hernandez Roof Replacement".into(),
                description: Some("Full tear-off, 32 squares, architectural shingles".into()),
                status: Some("Contract Signed".into()),
                workflow: Some("Residential".into()),
                customer_name: Some("Maria Hernandez".into()),
                contact_external_id: Some("3pg".into()),
                address: Address {
                    line1: Some("4417 Juniper Ridge Rd".into()),
                    line2: Some("Unit 12".into()),
                    city: Some("Denver".into()),
                    state: Some("CO".into()),
                    zip: Some("80219".into()),
                    country: Some("United States".into()),
                },
                sales_rep_name: Some("Dana Whitfield".into()),
                remote_created_at: at(1_758_000_000),
                remote_updated_at: at(1_760_003_600),
                status_changed_at: at(1_759_900_000),
                started_at: at(1_759_986_000),
                completed_at: at(1_760_158_800),
                is_archived: false,
            }
        );
    }

    #[test]
    fn an_odd_job_falls_back_to_its_number_and_treats_zeros_nulls_and_blanks_as_unset() {
        let job = job_from_value(fixture(include_str!("fixtures/job_odd.json"))).unwrap();

        assert!(
            !job.is_active,
            "soft-deleted jobs are still mapped, as inactive"
        );
        assert_eq!(job.snapshot.name, "1007", "blank name falls back to number");
        assert_eq!(job.snapshot.number.as_deref(), Some("1007"));
        assert_eq!(job.snapshot.description, None);
        assert_eq!(job.snapshot.status, None);
        assert_eq!(job.snapshot.workflow.as_deref(), Some("Insurance"));
        assert_eq!(job.snapshot.customer_name, None, "no primary contact");
        assert_eq!(job.snapshot.contact_external_id, None);
        assert_eq!(job.snapshot.address, Address::default());
        assert_eq!(job.snapshot.sales_rep_name, None);
        assert_eq!(job.snapshot.remote_created_at, None, "0 is never, not 1970");
        assert_eq!(job.snapshot.status_changed_at, None, "null timestamp");
        assert_eq!(job.snapshot.started_at, None, "date_start 0 is no start");
        assert_eq!(job.snapshot.completed_at, None, "date_end null is no end");
        assert_eq!(job.snapshot.remote_updated_at, at(1_760_100_000));
    }

    #[test]
    fn a_numeric_number_and_a_float_timestamp_are_read_leniently() {
        let job = job_from_value(serde_json::json!({
            "jnid": "k1", "number": 1001, "name": "", "date_updated": 1_760_000_000.7,
            "is_active": 1, "primary": ""
        }))
        .unwrap();
        assert_eq!(job.snapshot.name, "1001");
        assert_eq!(Some(job.date_updated), at(1_760_000_000));
        assert!(job.is_active);
        assert_eq!(job.snapshot.contact_external_id, None);
    }

    #[test]
    fn jobs_that_cannot_be_identified_named_or_dated_are_rejected_with_a_reason() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("fixtures/jobs_unmappable.json")).unwrap();
        let reasons: Vec<RejectedRecord> = cases
            .into_iter()
            .map(|raw| job_from_value(raw).unwrap_err())
            .collect();

        let expected = [
            (Some("nameless1"), "neither a name nor a number"),
            (None, "missing jnid"),
            (Some("undated1"), "date_updated"),
            (Some("zero1"), "date_updated"),
            (Some("bad/jnid"), "unusable jnid"),
            (None, "malformed record"),
        ];
        assert_eq!(reasons.len(), expected.len());
        for (rejected, (jnid, reason)) in reasons.iter().zip(expected) {
            assert_eq!(rejected.jnid.as_deref(), jnid, "{rejected:?}");
            assert!(rejected.reason.contains(reason), "{rejected:?}");
        }
    }

    /// What a list record read as before records stayed text: a `Value`, then the DTO.
    fn through_a_value<T>(
        text: &str,
        map: fn(Value) -> Result<T, RejectedRecord>,
    ) -> Option<Listed<T>> {
        let raw: Value = serde_json::from_str(text).ok()?;
        Some(Listed {
            date_updated: dto::raw_date_updated(&raw),
            jnid: dto::raw_jnid(&raw),
            mapped: map(raw),
        })
    }

    #[test]
    fn a_list_record_reads_the_same_from_its_text_as_through_a_value() {
        let mut jobs: Vec<String> = [
            include_str!("fixtures/job_complete.json"),
            include_str!("fixtures/job_odd.json"),
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let unmappable: Vec<Value> =
            serde_json::from_str(include_str!("fixtures/jobs_unmappable.json")).unwrap();
        jobs.extend(unmappable.iter().map(Value::to_string));
        jobs.extend(
            [
                // A repeated key: the last one counts, as in a `Value`.
                r#"{"jnid":"k1","name":"A","jnid":"k2","date_updated":1760000000}"#,
                r#"{"jnid":"k1","primary":{"id":"c1","name":"N","id":"c2"},"date_updated":1}"#,
                // Not objects: malformed, never read field by field.
                r#"["k1","1001","A name"]"#,
                "null",
                "12",
                // Loose shapes.
                r#"{"jnid":"k1","number":1001.5,"name":["x"],"date_updated":"1760000000",
                    "is_active":"TRUE","primary":{"id":5,"name":{"a":1},"x":[1e3]},
                    "city":[{"value":"Denver"}],"zip":[[{"value":"80219"}]],"date_created":1e15}"#,
                r#"{"jnid":"k1","date_updated":1760000000.9,"primary":[],"is_active":2}"#,
                r#"{"jn\u0069d":"k1","date_updated":18446744073709551615,"name":"A"}"#,
            ]
            .map(str::to_owned),
        );
        for text in &jobs {
            assert_eq!(
                listed_job(text),
                through_a_value(text, job_from_value),
                "{text}"
            );
        }
        let mut contacts = vec![include_str!("fixtures/contact_complete.json").to_string()];
        let fallbacks: Vec<Value> =
            serde_json::from_str(include_str!("fixtures/contacts_fallbacks.json")).unwrap();
        contacts.extend(fallbacks.iter().map(Value::to_string));
        contacts.push(r#"{"jnid":"c1","last_name":"A","last_name":"B","date_updated":9}"#.into());
        contacts.push(r#"["c1"]"#.into());
        for text in &contacts {
            assert_eq!(
                listed_contact(text),
                through_a_value(text, contact_from_value),
                "{text}"
            );
        }
    }

    #[test]
    fn a_list_record_that_is_not_even_a_value_is_not_read() {
        // A number out of range in a field we read: the page fails, as it always did.
        assert!(listed_job(r#"{"jnid":"k1","date_updated":1e400}"#).is_none());
        assert!(listed_job(r#"{"jnid":"k1","name":"\ud800"}"#).is_none());
    }

    #[test]
    fn a_complete_contact_maps_every_mirrored_field() {
        let contact =
            contact_from_value(fixture(include_str!("fixtures/contact_complete.json"))).unwrap();

        assert_eq!(contact.jnid, "3pg");
        assert_eq!(contact.id.as_str(), "jobnimbus:3pg");
        assert!(contact.is_active);
        assert_eq!(
            contact.snapshot,
            ContactSnapshot {
                number: Some("2215".into()),
                first_name: Some("Maria".into()),
                last_name: Some("Hernandez".into()),
                display_name: "Maria Hernandez".into(),
                company: None,
                email: Some("maria.hernandez@example.com".into()),
                home_phone: None,
                mobile_phone: Some("(303) 555-0147".into()),
                work_phone: Some("303.555.0199 x12".into()),
                address: Address {
                    line1: Some("4417 Juniper Ridge Rd".into()),
                    line2: None,
                    city: Some("Denver".into()),
                    state: Some("CO".into()),
                    zip: Some("80219".into()),
                    country: Some("United States".into()),
                },
                status: Some("Active".into()),
                workflow: Some("Customer".into()),
                source_name: Some("Door Knocking".into()),
                sales_rep_name: Some("Dana Whitfield".into()),
                remote_created_at: at(1_757_000_000),
                remote_updated_at: at(1_759_000_000),
            }
        );
    }

    #[test]
    fn contact_display_names_fall_back_to_first_and_last_then_company() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("fixtures/contacts_fallbacks.json")).unwrap();
        let mapped: Vec<Result<PulledContact, RejectedRecord>> =
            cases.into_iter().map(contact_from_value).collect();

        let names: Vec<Option<&str>> = mapped
            .iter()
            .map(|r| r.as_ref().ok().map(|c| c.snapshot.display_name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                Some("Jamal Ortiz"),
                Some("Okafor"),
                Some("Summit Property Management"),
                None
            ]
        );
        let first = mapped[0].as_ref().unwrap();
        assert!(!first.is_active);
        assert_eq!(
            first.snapshot.mobile_phone.as_deref(),
            Some("720-555-0110"),
            "a phone sent as a list of {{value, type}} reads as its first value"
        );
        assert_eq!(first.snapshot.home_phone, None, "null phone");
        let rejected = mapped[3].as_ref().unwrap_err();
        assert_eq!(rejected.jnid.as_deref(), Some("anon1"));
        assert!(rejected.reason.contains("no display name"), "{rejected:?}");
    }

    #[test]
    fn contacts_whose_jnid_cannot_be_an_id_are_rejected_with_a_reason() {
        for (jnid, reason) in [("bad/jnid", "unusable jnid"), (" ", "missing jnid")] {
            let rejected = contact_from_value(serde_json::json!({
                "jnid": jnid, "display_name": "Unreachable Contact", "date_updated": 1_759_000_500
            }))
            .unwrap_err();
            assert!(rejected.reason.contains(reason), "{jnid:?}: {rejected:?}");
        }
    }

    #[test]
    fn files_map_their_job_links_and_photos_are_recognised_by_type_or_content_type() {
        let raw: Vec<Value> = serde_json::from_str(include_str!("fixtures/files.json")).unwrap();
        let files: Vec<PulledFile> = raw
            .into_iter()
            .map(|f| file_from_value(f).unwrap())
            .collect();

        let photo = &files[0];
        assert_eq!(photo.filename, "IMG_0412.jpg");
        assert_eq!(photo.size_bytes, Some(2_483_112));
        assert_eq!(photo.record_type_name.as_deref(), Some("Photo"));
        assert_eq!(photo.created_at, at(1_759_950_000));
        assert_eq!(photo.related_job_ids, vec!["jsy16hg9ztze7cxx".to_owned()]);
        assert!(photo.is_photo());

        let document = &files[1];
        assert!(!document.is_photo());
        assert!(document.is_private);
        assert_eq!(document.description, None);
        assert_eq!(document.created_at, at(1_759_960_000), "date_file_created");
        assert_eq!(
            document.related_job_ids,
            vec!["jsy16hg9ztze7cxx".to_owned(), "k2".to_owned()],
            "contacts are not jobs; a job linked twice is listed once"
        );

        let untyped_image = &files[2];
        assert_eq!(untyped_image.record_type_name, None);
        assert!(untyped_image.is_photo(), "image/* counts as a photo");
    }

    #[test]
    fn files_become_job_files_with_their_kind_capture_time_and_tags() {
        let raw: Vec<Value> = serde_json::from_str(include_str!("fixtures/files.json")).unwrap();
        let files: Vec<JobFile> = raw
            .into_iter()
            .map(|f| file_from_value(f).unwrap().to_job_file())
            .collect();

        assert_eq!(
            files[0],
            JobFile {
                file_id: "f1".into(),
                kind: FileKind::Photo,
                filename: "IMG_0412.jpg".into(),
                content_type: Some("image/jpeg".into()),
                size_bytes: Some(2_483_112),
                description: Some("Hail damage, north slope".into()),
                tags: vec!["Before".into(), "north".into(), "7".into()],
                file_type: Some("Photo".into()),
                is_private: false,
                created_at: at(1_759_950_000),
                captured_at: at(1_759_949_100),
            }
        );
        let document = &files[1];
        assert_eq!(document.kind, FileKind::Document);
        assert_eq!(document.size_bytes, Some(184_220), "size sent as text");
        assert_eq!(document.created_at, at(1_759_960_000));
        assert_eq!(document.captured_at, at(1_759_960_000));
        assert_eq!(document.tags, vec!["signed".to_owned(), "contract".into()]);
        assert_eq!(files[2].kind, FileKind::Photo, "image/* without a type");
        assert_eq!(files[2].captured_at, None);
        assert!(
            files[2].tags.is_empty(),
            "a tags value of no known shape is no tags"
        );
    }

    // ----- write responses -----

    #[test]
    fn a_created_note_or_task_yields_its_jnid_and_stamps_read_leniently() {
        let note = written_from_str(include_str!("fixtures/note_created.json")).unwrap();
        let task = written_from_str(include_str!("fixtures/task_created.json")).unwrap();

        assert_eq!(note.jnid, "mb8k2x7q0r4t");
        assert_eq!(note.created_at, at(1_767_229_200));
        assert_eq!(note.updated_at, at(1_767_229_200));
        assert_eq!(task.jnid, "tk4n9p2w6y1z");
        assert_eq!(task.created_at, at(1_767_229_201), "a numeric string");
        assert_eq!(task.updated_at, at(1_767_229_201), "a float");
        let read_back = written_from_value(fixture(include_str!("fixtures/note_created.json")));
        assert_eq!(read_back, Ok(note));
    }

    #[test]
    fn a_write_answer_without_a_jnid_or_not_a_record_is_refused_with_a_reason() {
        for (body, reason) in [
            (r#"{"jnid": "  ", "date_created": 1}"#, "missing jnid"),
            (r#"{"date_created": 1}"#, "missing jnid"),
            ("[]", "not a JSON record"),
            ("<html>502</html>", "not a JSON record"),
        ] {
            let err = written_from_str(body).unwrap_err();
            assert!(err.contains(reason), "{body}: {err}");
        }
    }

    #[test]
    fn the_upload_url_answer_yields_the_presigned_url_and_the_file_jnid() {
        let (url, jnid) = upload_url_from_str(include_str!("fixtures/upload_url.json")).unwrap();

        assert!(
            url.starts_with("https://jn-files.s3.amazonaws.com/"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature=0f1e2d3c"));
        assert_eq!(jnid, "fl7c3v9b2n5m");
        for body in [
            r#"{"url": "https://x", "jnid": "f"}"#,
            r#"{"data": {"jnid": "f"}}"#,
            r#"{"data": {"url": "https://x", "jnid": ""}}"#,
        ] {
            assert!(upload_url_from_str(body).is_err(), "{body}");
        }
    }

    #[test]
    fn the_completion_answer_yields_the_file_and_its_thumbnail_when_there_is_one() {
        let file = upload_complete_from_str(include_str!("fixtures/upload_complete.json")).unwrap();
        let bare =
            upload_complete_from_str(r#"{"data": {"jnid": "f9", "thumbnailUrl": null}}"#).unwrap();

        assert_eq!(file.jnid, "fl7c3v9b2n5m");
        assert_eq!(
            file.thumbnail_url.as_deref(),
            Some("https://jn-files.s3.amazonaws.com/a7x3k9m2/fl7c3v9b2n5m_thumb.jpg")
        );
        assert_eq!(
            bare,
            UploadedFile {
                jnid: "f9".into(),
                thumbnail_url: None
            }
        );
        assert!(upload_complete_from_str(r#"{"data": {}}"#).is_err());
    }

    #[test]
    fn a_status_update_answer_is_the_job_with_its_new_status_and_change_time() {
        let job =
            job_from_value(fixture(include_str!("fixtures/job_status_updated.json"))).unwrap();

        assert_eq!(job.snapshot.status.as_deref(), Some("Approved"));
        assert_eq!(job.snapshot.workflow.as_deref(), Some("Insurance Claim"));
        assert_eq!(job.snapshot.status_changed_at, at(1_767_229_300));
        assert_eq!(Some(job.date_updated), at(1_767_229_300));
    }

    #[test]
    fn account_settings_yield_the_active_job_workflows_with_their_active_and_closed_statuses() {
        let workflows =
            job_workflows_from_str(include_str!("fixtures/account_settings.json")).unwrap();

        assert_eq!(
            workflows,
            vec![
                JobWorkflow {
                    name: "Residential Roofing".into(),
                    statuses: vec!["Lead".into(), "Sold".into(), "Completed".into()],
                    closed_statuses: vec!["Completed".into()],
                },
                JobWorkflow {
                    name: "Solar".into(),
                    statuses: vec!["Site Survey".into()],
                    closed_statuses: vec![],
                },
            ]
        );
        assert!(workflows[0].has_status("Sold") && !workflows[0].has_status("On Hold (old)"));
        assert!(job_workflows_from_str("[]").is_err());
    }
}
