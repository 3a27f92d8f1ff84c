//! Writing back to JobNimbus (the seed's `createNote`, `createTask`, `updateJobStatus`,
//! `uploadAttachment`) and the read-backs that reconcile a write whose answer was lost.
//!
//! Built to the real contract, not the sandbox's convenience:
//! - every write carries `skip=automation,notification`, so our own writes do not come back
//!   to us as automation webhooks;
//! - a note or a task is a create: it is repeated only when the failure proves it was not
//!   applied (429, no connection); any other failure after sending is
//!   [`ClientError::Ambiguous`], and the caller looks for the [`WriteMarker`] it wrote with
//!   [`JobNimbusClient::find_note_by_marker`] / [`JobNimbusClient::find_task_by_marker`]
//!   before writing again;
//! - a status change is a `PUT` of one field, idempotent, so it is retried like a read;
//! - an upload is the three-step presigned flow on the files service (host configurable, see
//!   [`super::ClientConfig::files_base_url`]). Asking for a URL is repeatable (an unused
//!   upload slot is invisible and expires), the `PUT` of the bytes is, and so is completing,
//!   which is keyed by the file's jnid; a completion that still fails is settled by looking
//!   for the file before reporting.

mod marker;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::client::{
    check_jnid, decode, links_to, list_params, Answer, Call, JobNimbusClient, ListSort, Payload,
    Replay, MAX_PAGE_SIZE, RESULT_WINDOW,
};
use super::dto::AnyEnvelope;
use super::error::ClientError;
use super::mapping::{
    job_from_value, job_workflows_from_str, upload_complete_from_str, upload_url_from_str,
    written_from_str, written_from_value, JobWorkflow, PulledFile, PulledJob, UploadedFile,
    WrittenRecord,
};

pub use marker::{InvalidMarker, WriteMarker};

/// The query every write of ours carries (reference §1.5).
const SKIP_AUTOMATION: (&str, &str) = ("skip", "automation,notification");

/// A note to add to a job (the seed's `createNote(jobId, { text, contactId? })`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNote {
    pub text: String,
    pub marker: WriteMarker,
    /// A contact the note is also linked to.
    pub contact_jnid: Option<String>,
}

/// A task to create on a job (the seed's `createTask(jobId, { title, description?, dueDate? })`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    /// Becomes `date_end`; the task starts when it is created.
    pub due: Option<DateTime<Utc>>,
    /// The task type (`record_type_name`), which JobNimbus requires: per-account free text
    /// ("Follow Up", "Inspection"…), so the integrator configures it.
    pub task_type: String,
    pub marker: WriteMarker,
}

/// A file to attach to a job (the seed's `uploadAttachment(jobId, { fileName, fileBuffer,
/// fileType })`).
#[derive(Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: String,
    /// The file's MIME type. JobNimbus reads the stored type from the filename; this picks
    /// the file type when `file_type` is not given (`image/*` → Photo, else Document).
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub description: Option<String>,
    /// JobNimbus file type id (1 Document, 2 Photo, … or an account's own).
    pub file_type: Option<i64>,
    pub is_private: bool,
    pub marker: WriteMarker,
}

impl fmt::Debug for NewAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAttachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("description", &self.description)
            .field("file_type", &self.file_type)
            .field("is_private", &self.is_private)
            .field("marker", &self.marker)
            .finish()
    }
}

/// JobNimbus file type ids (reference §1.6).
const DOCUMENT_TYPE: i64 = 1;
const PHOTO_TYPE: i64 = 2;

impl JobNimbusClient {
    /// Adds a note to the job (`POST /activities`), its text ending with the marker. Never
    /// repeated after an ambiguous failure: see [`ClientError::Ambiguous`].
    pub async fn create_note(
        &self,
        job_jnid: &str,
        note: &NewNote,
    ) -> Result<WrittenRecord, ClientError> {
        check_jnid(job_jnid)?;
        require("note text", &note.text)?;
        let mut related = vec![json!({ "id": job_jnid, "type": "job" })];
        if let Some(contact) = &note.contact_jnid {
            check_jnid(contact)?;
            related.push(json!({ "id": contact, "type": "contact" }));
        }
        let body = json!({
            "record_type_name": "Note",
            "note": note.marker.appended_to(&note.text),
            "primary": { "id": job_jnid, "type": "job" },
            "related": related,
            "is_status_change": false,
        });
        self.create("activities", &body).await
    }

    /// Creates a task on the job (`POST /tasks`), its description ending with the marker.
    /// Never repeated after an ambiguous failure: see [`ClientError::Ambiguous`].
    pub async fn create_task(
        &self,
        job_jnid: &str,
        task: &NewTask,
    ) -> Result<WrittenRecord, ClientError> {
        check_jnid(job_jnid)?;
        require("task title", &task.title)?;
        require("task type", &task.task_type)?;
        let mut body = json!({
            "title": task.title,
            "description": task.marker.appended_to(task.description.as_deref().unwrap_or("")),
            "record_type_name": task.task_type,
            "date_start": Utc::now().timestamp(),
            "related": [{ "id": job_jnid, "type": "job" }],
        });
        if let Some(due) = task.due {
            body["date_end"] = json!(due.timestamp());
        }
        self.create("tasks", &body).await
    }

    /// Moves the job to `status_name` (`PUT /jobs/{jnid}`), which must be a status of the
    /// job's workflow ([`JobNimbusClient::fetch_job_workflows`] lists them); answers the job
    /// as saved. Idempotent, so retried on transient failures. An unknown job is a
    /// [`ClientError::Rejected`] 404, an unknown status a 400 naming it.
    pub async fn update_job_status(
        &self,
        job_jnid: &str,
        status_name: &str,
    ) -> Result<PulledJob, ClientError> {
        check_jnid(job_jnid)?;
        require("status name", status_name)?;
        let payload = json_payload(&json!({ "status_name": status_name }))?;
        let params = [skip_automation()];
        let call = Call {
            method: Method::PUT,
            payload: Some(&payload),
            ..Call::get(self.url(&["jobs", job_jnid])?, &params)
        };
        let body = body_of(self.send(&call).await?);
        let raw: Value = serde_json::from_str(&body).map_err(|e| decode_error(&call, e))?;
        job_from_value(raw).map_err(|rejected| decode_error(&call, rejected.reason))
    }

    /// Uploads a file and attaches it to the job: asks the files service for a presigned URL,
    /// `PUT`s the bytes there without our key, then completes the upload (with a thumbnail),
    /// after which the file is listed. The description ends with the marker.
    pub async fn upload_attachment(
        &self,
        job_jnid: &str,
        upload: &NewAttachment,
    ) -> Result<UploadedFile, ClientError> {
        check_jnid(job_jnid)?;
        require("filename", &upload.filename)?;
        let file_type = upload.file_type.unwrap_or(
            if upload
                .content_type
                .to_ascii_lowercase()
                .starts_with("image/")
            {
                PHOTO_TYPE
            } else {
                DOCUMENT_TYPE
            },
        );
        let description = upload
            .marker
            .appended_to(upload.description.as_deref().unwrap_or(""));
        let request = json_payload(&json!({
            "related": [job_jnid],
            "type": file_type,
            "filename": upload.filename,
            "description": description,
            "isPrivate": upload.is_private,
        }))?;
        let params = [skip_automation()];
        // Idempotent in effect: a slot whose URL we never use stays invisible and expires.
        let ask = Call {
            method: Method::POST,
            payload: Some(&request),
            ..Call::get(self.files_url(&["uploads", "url"])?, &params)
        };
        let answer = body_of(self.send(&ask).await?);
        let (url, file_jnid) = upload_url_from_str(&answer).map_err(|e| decode_error(&ask, e))?;
        check_jnid(&file_jnid).map_err(|e| decode_error(&ask, e))?;
        // The URL is a credential for 15 minutes: parse errors must not quote it.
        let url = Url::parse(&url)
            .map_err(|e| decode_error(&ask, format!("the upload URL does not parse: {e}")))?;

        let bytes = Payload::Bytes(upload.bytes.clone());
        let put = Call {
            method: Method::PUT,
            payload: Some(&bytes),
            authenticated: false,
            ..Call::get(url, &[])
        };
        self.send(&put).await?;

        let params = [("generateThumbnail", "true".to_owned()), skip_automation()];
        // Keyed by the file's jnid: completing twice cannot make two files.
        let complete = Call {
            method: Method::POST,
            ..Call::get(
                self.files_url(&["uploads", &file_jnid, "complete"])?,
                &params,
            )
        };
        match self.send(&complete).await {
            Ok(answer) => Ok(match upload_complete_from_str(&body_of(answer)) {
                Ok(file) => file,
                // Completed all the same; the id is the one we were given.
                Err(detail) => {
                    tracing::warn!(%detail, "upload completed with an unreadable answer");
                    UploadedFile {
                        jnid: file_jnid,
                        thumbnail_url: None,
                    }
                }
            }),
            Err(error @ ClientError::Unauthorized { .. }) => Err(error),
            Err(error) => self.settle_completion(job_jnid, file_jnid, error).await,
        }
    }

    /// A completion that failed (perhaps after an attempt that worked, on a server that
    /// refuses a second one): the file being listed settles it.
    async fn settle_completion(
        &self,
        job_jnid: &str,
        file_jnid: String,
        error: ClientError,
    ) -> Result<UploadedFile, ClientError> {
        let listed = match self.fetch_attachments(job_jnid).await {
            Ok(files) => files.iter().any(|f| f.jnid == file_jnid),
            Err(read_error) => {
                tracing::warn!(%read_error, "cannot read the job's files back");
                false
            }
        };
        if listed {
            return Ok(UploadedFile {
                jnid: file_jnid,
                thumbnail_url: None,
            });
        }
        if error.may_have_been_applied() {
            return Err(ClientError::Ambiguous {
                method: "POST".into(),
                path: format!("/files/v1/uploads/{file_jnid}/complete"),
                reason: error.to_string(),
            });
        }
        Err(error)
    }

    /// The note on the job carrying `marker`, if there is one (the oldest if, against
    /// everything, there are several).
    pub async fn find_note_by_marker(
        &self,
        job_jnid: &str,
        marker: &WriteMarker,
    ) -> Result<Option<WrittenRecord>, ClientError> {
        self.find_by_marker("activities", "note", job_jnid, marker)
            .await
    }

    /// The task on the job carrying `marker` in its description, if there is one.
    pub async fn find_task_by_marker(
        &self,
        job_jnid: &str,
        marker: &WriteMarker,
    ) -> Result<Option<WrittenRecord>, ClientError> {
        self.find_by_marker("tasks", "description", job_jnid, marker)
            .await
    }

    /// The file attached to the job carrying `marker` in its description, if there is one
    /// (only completed uploads are listed).
    pub async fn find_attachment_by_marker(
        &self,
        job_jnid: &str,
        marker: &WriteMarker,
    ) -> Result<Option<PulledFile>, ClientError> {
        let files = self.fetch_attachments(job_jnid).await?;
        Ok(files
            .into_iter()
            .filter(|f| f.description.as_deref().is_some_and(|d| marker.is_in(d)))
            .min_by(|a, b| (a.created_at, &a.jnid).cmp(&(b.created_at, &b.jnid))))
    }

    /// The account's active job workflows and their statuses (`GET /account/settings`).
    pub async fn fetch_job_workflows(&self) -> Result<Vec<JobWorkflow>, ClientError> {
        let body = self.get_body(&["account", "settings"], &[]).await?;
        job_workflows_from_str(&body).map_err(|detail| ClientError::Decode {
            method: "GET".into(),
            path: "/account/settings".into(),
            detail,
        })
    }

    // ----- helpers -----

    /// `POST /{resource}` of a new record: repeated only if certainly not applied.
    async fn create(&self, resource: &str, body: &Value) -> Result<WrittenRecord, ClientError> {
        let payload = json_payload(body)?;
        let params = [skip_automation()];
        let call = Call {
            method: Method::POST,
            payload: Some(&payload),
            replay: Replay::OnlyIfNotApplied,
            ..Call::get(self.url(&[resource])?, &params)
        };
        let answer = body_of(self.send(&call).await?);
        // A 2xx was applied; without its id the caller must find it by its marker.
        written_from_str(&answer).map_err(|detail| ClientError::Ambiguous {
            method: call.method.to_string(),
            path: call.url.path().to_owned(),
            reason: format!("answered 2xx, but {detail}"),
        })
    }

    /// Every record of `resource` linked to the job whose `field` carries the marker,
    /// newest pages first; the oldest match.
    async fn find_by_marker(
        &self,
        resource: &'static str,
        field: &str,
        job_jnid: &str,
        marker: &WriteMarker,
    ) -> Result<Option<WrittenRecord>, ClientError> {
        check_jnid(job_jnid)?;
        let filter = json!({ "must": [{ "term": { "related.id": job_jnid } }] }).to_string();
        let path = format!("/{resource}");
        let mut found: Vec<WrittenRecord> = Vec::new();
        let mut from: u32 = 0;
        loop {
            let size = MAX_PAGE_SIZE.min(RESULT_WINDOW - from);
            let params = list_params(
                ListSort::CreatedDescending,
                from,
                size,
                Some(filter.clone()),
            );
            let body = self.get_body(&[resource], &params).await?;
            let envelope: AnyEnvelope = decode(&body, &path)?;
            let received = envelope.records.len();
            for raw in envelope.records {
                let carries = raw
                    .get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|text| marker.is_in(text));
                if !carries || !links_to(&raw, job_jnid) {
                    continue;
                }
                match written_from_value(raw) {
                    Ok(record) => found.push(record),
                    Err(rejected) => tracing::warn!(
                        reason = %rejected.reason,
                        "a record carrying our marker cannot be read"
                    ),
                }
            }
            from = from.saturating_add(u32::try_from(received).unwrap_or(u32::MAX));
            if received == 0 || u64::from(from) >= envelope.count {
                break;
            }
            if from >= RESULT_WINDOW {
                // Newest first, so a recent write is in the window; an absence is not proven.
                if found.is_empty() {
                    return Err(ClientError::WindowExceeded {
                        resource,
                        what: format!("job {job_jnid}"),
                        count: envelope.count,
                    });
                }
                break;
            }
        }
        if found.len() > 1 {
            tracing::warn!(
                resource,
                copies = found.len(),
                "a marked write exists more than once"
            );
        }
        Ok(found
            .into_iter()
            .min_by(|a, b| (a.created_at, &a.jnid).cmp(&(b.created_at, &b.jnid))))
    }
}

fn skip_automation() -> (&'static str, String) {
    (SKIP_AUTOMATION.0, SKIP_AUTOMATION.1.to_owned())
}

fn json_payload(body: &Value) -> Result<Payload, ClientError> {
    serde_json::to_vec(body)
        .map(Payload::Json)
        .map_err(|e| ClientError::InvalidRequest(format!("body does not serialise: {e}")))
}

fn require(what: &str, text: &str) -> Result<(), ClientError> {
    if text.trim().is_empty() {
        Err(ClientError::InvalidRequest(format!("the {what} is blank")))
    } else {
        Ok(())
    }
}

/// A `send` that may not answer `NotFound` (only asked-for 404s do) yields its body.
fn body_of(answer: Answer) -> String {
    match answer {
        Answer::Body(body) => body,
        Answer::NotFound => String::new(),
    }
}

fn decode_error(call: &Call<'_>, detail: impl fmt::Display) -> ClientError {
    ClientError::Decode {
        method: call.method.to_string(),
        path: call.url.path().to_owned(),
        detail: detail.to_string(),
    }
}
