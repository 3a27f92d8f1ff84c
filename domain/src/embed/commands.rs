use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PanelType;
use crate::JobId;

/// What an embed link stream is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EmbedLinkCommand {
    /// Record that a link to `panel` of `job_id`, valid until `expires_at`, was issued.
    Issue {
        job_id: JobId,
        panel: PanelType,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
}
