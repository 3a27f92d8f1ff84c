use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{JobField, JobFile, JobFileField, JobSnapshot};
use crate::qc::QcCategory;

/// Facts about a mirrored job. Type names and versions are frozen once on main:
/// stored history is read back by them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvent {
    /// First time we saw this job in its CRM.
    JobSnapshotRecorded {
        snapshot: JobSnapshot,
        observed_at: DateTime<Utc>,
    },
    /// The CRM showed different values; `snapshot` is the whole new state so read models
    /// need no prior row, `changed` names what differs from the previous one.
    JobSnapshotChanged {
        snapshot: JobSnapshot,
        changed: Vec<JobField>,
        observed_at: DateTime<Utc>,
    },
    /// The CRM soft-deleted the job (`is_active: false`).
    JobDeactivated { observed_at: DateTime<Utc> },
    /// A soft-deleted job became active again in the CRM.
    JobReactivated { observed_at: DateTime<Utc> },
    /// A complete scan of the CRM no longer listed the job.
    JobVanished { observed_at: DateTime<Utc> },
    /// A vanished job was listed by the CRM again.
    JobReappeared { observed_at: DateTime<Utc> },
    /// The CRM listed a file on the job that we did not hold. `qc_category` is the photo's
    /// category as derived when recorded; `None` for documents.
    JobFileAttached {
        file: JobFile,
        qc_category: Option<QcCategory>,
        observed_at: DateTime<Utc>,
    },
    /// A held file's metadata changed; `file` is its whole new state, `changed` what differs,
    /// `qc_category` the category derived from the new state.
    JobFileChanged {
        file: JobFile,
        changed: Vec<JobFileField>,
        qc_category: Option<QcCategory>,
        observed_at: DateTime<Utc>,
    },
    /// A held file is no longer listed on the job; `file` is how it was last listed.
    JobFileRemoved {
        file: JobFile,
        observed_at: DateTime<Utc>,
    },
    /// A photo's QC category changed without the photo changing: the job's start or
    /// completion date moved.
    JobPhotoReclassified {
        file_id: String,
        from: QcCategory,
        to: QcCategory,
        observed_at: DateTime<Utc>,
    },
}

impl DomainEvent for JobEvent {
    fn event_type(&self) -> String {
        match self {
            JobEvent::JobSnapshotRecorded { .. } => "JobSnapshotRecorded",
            JobEvent::JobSnapshotChanged { .. } => "JobSnapshotChanged",
            JobEvent::JobDeactivated { .. } => "JobDeactivated",
            JobEvent::JobReactivated { .. } => "JobReactivated",
            JobEvent::JobVanished { .. } => "JobVanished",
            JobEvent::JobReappeared { .. } => "JobReappeared",
            JobEvent::JobFileAttached { .. } => "JobFileAttached",
            JobEvent::JobFileChanged { .. } => "JobFileChanged",
            JobEvent::JobFileRemoved { .. } => "JobFileRemoved",
            JobEvent::JobPhotoReclassified { .. } => "JobPhotoReclassified",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
