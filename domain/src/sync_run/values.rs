use serde::{Deserialize, Serialize};

use crate::CrmSource;

/// Which kind of CRM record a run pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResource {
    Jobs,
    Contacts,
}

impl SyncResource {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncResource::Jobs => "jobs",
            SyncResource::Contacts => "contacts",
        }
    }

    /// The id of the `SyncCursor` that tracks this resource of `source`.
    pub fn cursor_id(self, source: CrmSource) -> String {
        format!("{}:{}", source.as_str(), self.as_str())
    }
}

/// How much of the CRM a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every record, from the beginning.
    Full,
    /// Records updated since the persisted cursor (minus an overlap window).
    Incremental,
    /// Every record, and afterwards records we hold that the CRM no longer lists are
    /// marked vanished.
    Reconcile,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Incremental => "incremental",
            SyncMode::Reconcile => "reconcile",
        }
    }
}

/// Who or what asked for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    /// `POST /api/v1/sync/…`.
    Manual,
    Scheduled,
    /// `unified-crm import` (and the demo's first import).
    Import,
}

impl SyncTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncTrigger::Manual => "manual",
            SyncTrigger::Scheduled => "scheduled",
            SyncTrigger::Import => "import",
        }
    }
}

/// A record of a page that the run could not take, and why. The run goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    /// The record's id in its CRM, when it had a usable one.
    pub external_id: Option<String>,
    pub reason: String,
}

/// Tallies of a run so far, or of the whole run once it ended.
///
/// Invariant: `fetched == created + updated + unchanged + failed` (records seen twice in one
/// run, e.g. edited while paging, count each time they were seen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOutcome {
    pub fetched: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Records a reconcile pass found missing from the CRM and marked vanished.
    pub vanished: u64,
}

impl SyncOutcome {
    pub fn add(&mut self, page: &SyncOutcome) {
        self.fetched += page.fetched;
        self.created += page.created;
        self.updated += page.updated;
        self.unchanged += page.unchanged;
        self.failed += page.failed;
        self.vanished += page.vanished;
    }

    /// Records whose events changed the mirror (the seed's `recordsAffected`).
    pub fn records_affected(&self) -> u64 {
        self.created + self.updated + self.vanished
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncStatus {
    /// Not started yet (an aggregate with no events).
    #[default]
    Pending,
    Running,
    /// Completed and every record was taken.
    Success,
    /// Completed, but some records failed.
    Partial,
    /// Stopped early: the CRM or the store failed; what was committed before stays.
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Pending => "PENDING",
            SyncStatus::Running => "RUNNING",
            SyncStatus::Success => "SUCCESS",
            SyncStatus::Partial => "PARTIAL",
            SyncStatus::Failed => "FAILED",
        }
    }
}
