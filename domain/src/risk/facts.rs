use chrono::{DateTime, Utc};

use crate::qc::QcStatus;

/// What the risk rules read of a job. The application gathers it from the read models;
/// nothing here is fetched by the rules.
#[derive(Debug, Clone, Default)]
pub struct JobRiskFacts<'a> {
    /// Status name within the job's workflow.
    pub status: Option<&'a str>,
    /// Workflow (JobNimbus record type) name.
    pub workflow: Option<&'a str>,
    /// The workflow's statuses in pipeline order; empty when unknown, in which case a
    /// document requirement only applies at its own status.
    pub workflow_statuses: &'a [String],
    /// False when the CRM soft-deleted the job or a complete scan no longer lists it.
    pub is_active: bool,
    /// When the CRM last changed the status (JobNimbus `date_status_change`).
    pub status_changed_at: Option<DateTime<Utc>>,
    /// When the CRM last changed anything on the job.
    pub updated_at: Option<DateTime<Utc>>,
    /// The job's latest QC check, if it was ever checked.
    pub latest_qc: Option<LatestQc>,
    /// The job's documents (non-photo files).
    pub documents: &'a [DocumentFacts<'a>],
}

/// The latest QC check of a job, as far as risk cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestQc {
    pub status: QcStatus,
    /// The categories that lacked photos, for the reason's sentence.
    pub missing: Vec<MissingPhotos>,
}

/// Photos a QC category lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPhotos {
    /// `BEFORE`, `DURING` or `AFTER`.
    pub category: String,
    pub missing: u32,
}

/// A document attached to the job.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentFacts<'a> {
    /// The CRM's file type name ("Contract", "Invoice", "Document"…).
    pub type_name: Option<&'a str>,
    pub filename: &'a str,
    pub description: Option<&'a str>,
}

impl DocumentFacts<'_> {
    /// Whether this document is of `document_type`: its file type says so, or — since most
    /// accounts file everything as "Document" — its filename or description names it.
    pub fn is_of_type(&self, document_type: &str) -> bool {
        let wanted = document_type.trim().to_lowercase();
        if wanted.is_empty() {
            return false;
        }
        let names = |text: &str| text.to_lowercase().contains(&wanted);
        self.type_name
            .is_some_and(|name| name.trim().eq_ignore_ascii_case(&wanted))
            || names(self.filename)
            || self.description.is_some_and(names)
    }
}
