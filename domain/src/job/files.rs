//! The files attached to a job (photos and documents) as its CRM lists them: metadata only,
//! never the bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::qc::{classify_photo, JobDates, PhotoFacts, QcCategory};

/// Photos are what QC counts; everything else is a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Photo,
    Document,
}

impl FileKind {
    /// The name stored in read models.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Photo => "photo",
            FileKind::Document => "document",
        }
    }
}

/// One file of a job as the CRM listed it.
///
/// Invariant: holds only values read from the CRM (the QC category, which we derive, travels
/// beside it in events), so two listings of an unchanged file are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFile {
    /// The file's id in its CRM (the JobNimbus jnid). Non-blank.
    pub file_id: String,
    pub kind: FileKind,
    /// Non-blank.
    pub filename: String,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The CRM's file type name ("Photo", "Document", "Invoice"…).
    pub file_type: Option<String>,
    pub is_private: bool,
    /// When it was uploaded to the CRM.
    pub created_at: Option<DateTime<Utc>>,
    /// When the device made it (a photo's capture time), when the CRM knows.
    pub captured_at: Option<DateTime<Utc>>,
}

/// A file field, named in events that record what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobFileField {
    Kind,
    Filename,
    ContentType,
    SizeBytes,
    Description,
    Tags,
    FileType,
    IsPrivate,
    CreatedAt,
    CapturedAt,
}

impl JobFile {
    /// The fields whose values differ between `self` and `newer`, in declaration order.
    pub fn changed_fields(&self, newer: &JobFile) -> Vec<JobFileField> {
        let checks = [
            (self.kind != newer.kind, JobFileField::Kind),
            (self.filename != newer.filename, JobFileField::Filename),
            (
                self.content_type != newer.content_type,
                JobFileField::ContentType,
            ),
            (self.size_bytes != newer.size_bytes, JobFileField::SizeBytes),
            (
                self.description != newer.description,
                JobFileField::Description,
            ),
            (self.tags != newer.tags, JobFileField::Tags),
            (self.file_type != newer.file_type, JobFileField::FileType),
            (self.is_private != newer.is_private, JobFileField::IsPrivate),
            (self.created_at != newer.created_at, JobFileField::CreatedAt),
            (
                self.captured_at != newer.captured_at,
                JobFileField::CapturedAt,
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(differs, field)| differs.then_some(field))
            .collect()
    }

    /// The QC category of a photo on a job with these dates; `None` for a document.
    /// A photo counts as taken when captured, else when uploaded.
    pub fn qc_category(&self, job: JobDates) -> Option<QcCategory> {
        match self.kind {
            FileKind::Document => None,
            FileKind::Photo => Some(classify_photo(
                &PhotoFacts {
                    description: self.description.as_deref(),
                    filename: &self.filename,
                    tags: &self.tags,
                    taken_at: self.captured_at.or(self.created_at),
                },
                job,
            )),
        }
    }
}
