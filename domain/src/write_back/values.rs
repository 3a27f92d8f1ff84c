use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a write-back writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteBackKind {
    Note,
    Task,
    Status,
    Attachment,
}

impl WriteBackKind {
    /// As stored in read models and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteBackKind::Note => "note",
            WriteBackKind::Task => "task",
            WriteBackKind::Status => "status",
            WriteBackKind::Attachment => "attachment",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            WriteBackKind::Note,
            WriteBackKind::Task,
            WriteBackKind::Status,
            WriteBackKind::Attachment,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// The content of a write-back, as validated at the edge. An attachment's bytes are not
/// here (events are forever and stay small): only their size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WriteBackPayload {
    /// The seed's `createNote(jobId, { text, contactId? })`.
    Note {
        text: String,
        /// CRM id of a contact the note is also linked to.
        contact_id: Option<String>,
    },
    /// The seed's `createTask(jobId, { title, description?, dueDate? })`.
    Task {
        title: String,
        description: Option<String>,
        due: Option<DateTime<Utc>>,
        /// The CRM's task type (JobNimbus requires one).
        task_type: String,
    },
    /// The seed's `updateJobStatus(jobId, status)`.
    Status { status_name: String },
    /// The seed's `uploadAttachment(jobId, { fileName, fileBuffer, fileType })`.
    Attachment {
        filename: String,
        content_type: String,
        size_bytes: u64,
        /// Hex SHA-256 of the bytes: which upload this is, without the bytes.
        sha256: String,
        description: Option<String>,
    },
}

impl WriteBackPayload {
    pub fn kind(&self) -> WriteBackKind {
        match self {
            WriteBackPayload::Note { .. } => WriteBackKind::Note,
            WriteBackPayload::Task { .. } => WriteBackKind::Task,
            WriteBackPayload::Status { .. } => WriteBackKind::Status,
            WriteBackPayload::Attachment { .. } => WriteBackKind::Attachment,
        }
    }
}
