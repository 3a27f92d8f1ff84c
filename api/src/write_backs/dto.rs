//! The write-back bodies: what callers send, and a write-back as the API shows it.

use chrono::{DateTime, Utc};
use domain::{WriteBackPayload, WriteBackState};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Enum, Multipart, Object};
use projections::write_backs::query::WriteBackRow;

/// The seed's `createNote(jobId, { text, contactId? })`.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct NoteRequest {
    /// The note's text (1 to 10,000 characters). A marker `[ucrm:<id>]` is added on a line of
    /// its own, so a note whose answer was lost can be found again.
    pub text: String,
    /// A contact the note is also linked to: `jobnimbus:<jnid>` or its bare jnid.
    pub contact_id: Option<String>,
}

/// The seed's `createTask(jobId, { title, description?, dueDate? })`.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct TaskRequest {
    /// 1 to 500 characters.
    pub title: String,
    /// Up to 10,000 characters; the marker is added to it.
    pub description: Option<String>,
    pub due_date: Option<DateTime<Utc>>,
    /// The JobNimbus task type; `JOBNIMBUS_TASK_TYPE` when absent.
    pub task_type: Option<String>,
}

/// The seed's `updateJobStatus(jobId, status)`.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct StatusRequest {
    /// A status of the job's workflow, by name as JobNimbus shows it.
    pub status: String,
}

/// The seed's `uploadAttachment(jobId, { fileName, fileBuffer, fileType })`, as a multipart
/// form.
#[derive(Multipart)]
#[oai(rename_all = "camelCase")]
pub struct AttachmentForm {
    /// The file (at most 20 MiB). Its part's filename and content type are kept.
    pub file: Upload,
    /// Up to 10,000 characters; the marker is added to it.
    pub description: Option<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "WriteBackState", rename_all = "lowercase")]
pub enum WriteBackStateDto {
    /// Not settled: an attempt is running, or one is scheduled (`nextAttemptAt`).
    Pending,
    /// JobNimbus holds it (`remoteId`).
    Succeeded,
    /// Given up (`lastError`): JobNimbus refused it, or every attempt failed and none applied.
    Failed,
}

impl From<WriteBackState> for WriteBackStateDto {
    fn from(state: WriteBackState) -> Self {
        match state {
            WriteBackState::Pending => WriteBackStateDto::Pending,
            WriteBackState::Succeeded => WriteBackStateDto::Succeeded,
            WriteBackState::Failed => WriteBackStateDto::Failed,
        }
    }
}

/// One write to JobNimbus and where it stands.
#[derive(Object, Debug)]
#[oai(rename = "WriteBack", rename_all = "camelCase")]
pub struct WriteBackDto {
    pub id: String,
    pub job_id: String,
    /// note | task | status | attachment
    pub kind: String,
    pub state: WriteBackStateDto,
    /// The JobNimbus id of what was written (the job's for a status change).
    pub remote_id: Option<String>,
    /// The token written with the record (`[ucrm:<marker>]`).
    pub marker: String,
    /// Attempts that started so far.
    pub attempts: i64,
    pub last_error: Option<String>,
    /// For a failed write: whether it failed for a reason that might pass (attempts ran out)
    /// rather than a refusal.
    pub retryable: Option<bool>,
    /// Pending writes: when the next attempt is due (or the running one's lease ends).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The answer was lost and the write was found by reading the job back.
    pub confirmed_by_read_back: bool,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    /// Who asked (`x-caller`, else the actor).
    pub requested_by: Option<String>,
    /// Notes.
    pub text: Option<String>,
    pub contact_id: Option<String>,
    /// Tasks.
    pub title: Option<String>,
    pub description: Option<String>,
    pub due_date: Option<DateTime<Utc>>,
    pub task_type: Option<String>,
    /// Status changes.
    pub status: Option<String>,
    /// Attachments.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
}

/// What was written to one job, of one kind, oldest first.
#[derive(Object, Debug)]
#[oai(rename = "WriteBackList", rename_all = "camelCase")]
pub struct WriteBackListDto {
    pub job_id: String,
    pub items: Vec<WriteBackDto>,
}

impl From<WriteBackRow> for WriteBackDto {
    fn from(row: WriteBackRow) -> Self {
        let mut dto = WriteBackDto {
            id: row.write_back_id,
            job_id: row.job_id,
            kind: row.kind.as_str().to_string(),
            state: row.state.into(),
            remote_id: row.remote_id,
            marker: row.marker,
            attempts: row.attempts,
            last_error: row.last_error,
            retryable: row.retryable,
            next_attempt_at: row.next_attempt_at,
            confirmed_by_read_back: row.confirmed_by_read_back,
            requested_at: row.requested_at,
            settled_at: row.settled_at,
            requested_by: row.requested_by,
            text: None,
            contact_id: None,
            title: None,
            description: None,
            due_date: None,
            task_type: None,
            status: None,
            filename: None,
            content_type: None,
            size_bytes: None,
            sha256: None,
        };
        match row.payload {
            WriteBackPayload::Note { text, contact_id } => {
                dto.text = Some(text);
                dto.contact_id = contact_id;
            }
            WriteBackPayload::Task {
                title,
                description,
                due,
                task_type,
            } => {
                dto.title = Some(title);
                dto.description = description;
                dto.due_date = due;
                dto.task_type = Some(task_type);
            }
            WriteBackPayload::Status { status_name } => dto.status = Some(status_name),
            WriteBackPayload::Attachment {
                filename,
                content_type,
                size_bytes,
                sha256,
                description,
            } => {
                dto.filename = Some(filename);
                dto.content_type = Some(content_type);
                dto.size_bytes = Some(size_bytes);
                dto.sha256 = Some(sha256);
                dto.description = description;
            }
        }
        dto
    }
}
