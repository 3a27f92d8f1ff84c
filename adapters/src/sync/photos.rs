//! Photo sync (the seed's "Trigger Photo Sync"): for each job asked for, fetch the complete
//! listing of its files from JobNimbus and hand it to the job's aggregate, which records what
//! was attached, changed or removed and each photo's QC category.
//!
//! Jobs are synced a few at a time; a job that fails (JobNimbus error, refusal) is reported
//! with its reason and the run goes on with the others.

use std::collections::HashMap;

use chrono::Utc;
use domain::{CrmSource, Job, JobCommand, JobError, JobId};
use futures::stream::{self, StreamExt};
use tracing::Instrument;

use crate::jobnimbus::{ClientError, JobNimbusClient, PulledFile};
use crate::store::{
    AppendSignal, BatchCommand, BatchExecutor, CommandOutcome, Db, LogPosition, StoreError,
};

/// Jobs whose files are fetched at once: enough to overlap JobNimbus's latency, few enough
/// not to hammer an API with no documented rate limit.
pub const DEFAULT_PHOTO_SYNC_CONCURRENCY: usize = 4;

/// Who asked for a photo sync, stored in the metadata of every event it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoSyncCaller {
    /// e.g. `api:internal` or `sync:manual`.
    pub actor: String,
    /// The request's id, shared by every event of the run.
    pub request_id: String,
}

impl PhotoSyncCaller {
    /// `actor` with a fresh request id.
    pub fn with_new_request_id(actor: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Why one job's files could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum JobFilesError {
    #[error("{0} is not a JobNimbus job")]
    NotJobNimbus(JobId),
    #[error("JobNimbus failed: {0}")]
    Crm(#[from] ClientError),
    #[error("the job refused the listing: {0}")]
    Refused(JobError),
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
}

/// What syncing one job's files did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobFilesSynced {
    pub photos: u64,
    pub documents: u64,
    /// Events appended (0 when JobNimbus listed exactly what we held).
    pub events: u64,
    /// Position of the last of them, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
}

/// One job of a run that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoSyncFailure {
    pub job_id: JobId,
    pub error: String,
}

/// The outcome of a photo sync over several jobs (the seed's response, plus our counts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhotoSyncReport {
    /// Jobs attempted.
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// One per failed job, in the order the jobs were given.
    pub errors: Vec<PhotoSyncFailure>,
    /// Photos JobNimbus listed on the jobs that succeeded (changed or not).
    pub photos: u64,
    /// Documents JobNimbus listed on the jobs that succeeded.
    pub documents: u64,
    pub events_appended: u64,
    /// Position of the last event appended, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
}

/// Syncs jobs' files from one JobNimbus account into their `Job` aggregates. Cheap to clone.
#[derive(Clone)]
pub struct PhotoSync {
    client: JobNimbusClient,
    jobs: std::sync::Arc<BatchExecutor<Job>>,
    concurrency: usize,
}

impl PhotoSync {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        client: JobNimbusClient,
        concurrency: usize,
    ) -> Self {
        Self {
            client,
            jobs: std::sync::Arc::new(BatchExecutor::new(db, signal)),
            concurrency: concurrency.max(1),
        }
    }

    /// Whether we hold `job_id` (a recorded job: one whose files may be synced).
    pub async fn is_recorded(&self, job_id: &JobId) -> Result<bool, StoreError> {
        Ok(self
            .jobs
            .load_one(job_id.as_str())
            .await?
            .snapshot()
            .is_some())
    }

    /// Syncs the files of every job in `job_ids`, at most `concurrency` at a time. A job
    /// that fails is reported in `errors`; the others go on.
    pub async fn sync_jobs(
        &self,
        job_ids: Vec<JobId>,
        caller: &PhotoSyncCaller,
    ) -> PhotoSyncReport {
        let span = tracing::info_span!(
            "photo_sync",
            request_id = %caller.request_id,
            jobs = job_ids.len()
        );
        async {
            let mut results: Vec<(usize, JobId, Result<JobFilesSynced, JobFilesError>)> =
                stream::iter(job_ids.into_iter().enumerate())
                    .map(|(index, job_id)| async move {
                        let result = self.sync_job(&job_id, caller).await;
                        (index, job_id, result)
                    })
                    .buffer_unordered(self.concurrency)
                    .collect()
                    .await;
            results.sort_by_key(|(index, ..)| *index);
            let mut report = PhotoSyncReport::default();
            for (_, job_id, result) in results {
                report.total += 1;
                match result {
                    Ok(synced) => {
                        report.last_position = report.last_position.max(synced.last_position);
                        report.succeeded += 1;
                        report.photos += synced.photos;
                        report.documents += synced.documents;
                        report.events_appended += synced.events;
                    }
                    Err(error) => {
                        tracing::warn!(job_id = %job_id, error = %error, "job files not synced");
                        report.failed += 1;
                        report.errors.push(PhotoSyncFailure {
                            job_id,
                            error: error.to_string(),
                        });
                    }
                }
            }
            tracing::info!(
                total = report.total,
                failed = report.failed,
                photos = report.photos,
                events = report.events_appended,
                "photo sync completed"
            );
            report
        }
        .instrument(span)
        .await
    }

    /// Fetches the job's complete file listing and records it on the job.
    pub async fn sync_job(
        &self,
        job_id: &JobId,
        caller: &PhotoSyncCaller,
    ) -> Result<JobFilesSynced, JobFilesError> {
        if job_id.source() != CrmSource::JobNimbus {
            return Err(JobFilesError::NotJobNimbus(job_id.clone()));
        }
        let pulled = self.client.fetch_attachments(job_id.external_id()).await?;
        let observed_at = Utc::now();
        let files = listing(&pulled);
        let photos = files
            .iter()
            .filter(|f| f.kind == domain::FileKind::Photo)
            .count() as u64;
        let documents = files.len() as u64 - photos;
        let command = BatchCommand {
            aggregate_id: job_id.to_string(),
            command: JobCommand::RecordPulledFiles { files, observed_at },
            metadata: HashMap::from([
                (
                    "source".to_string(),
                    CrmSource::JobNimbus.as_str().to_string(),
                ),
                ("actor".to_string(), caller.actor.clone()),
                ("request_id".to_string(), caller.request_id.clone()),
            ]),
        };
        let report = self.jobs.execute(vec![command]).await?;
        if let Some(CommandOutcome::Refused(refusal)) = report.outcomes.first() {
            return Err(JobFilesError::Refused(refusal.clone()));
        }
        Ok(JobFilesSynced {
            photos,
            documents,
            events: report.events_appended as u64,
            last_position: report.last_position,
        })
    }
}

/// The job's files as its aggregate records them, each once. The client pages the listing;
/// should a page boundary shift under it and repeat a file, the copy read last is the latest,
/// and it keeps the place of its first appearance so the order stays the listing's.
fn listing(pulled: &[PulledFile]) -> Vec<domain::JobFile> {
    let mut latest: HashMap<&str, &PulledFile> = HashMap::with_capacity(pulled.len());
    for file in pulled {
        latest.insert(file.jnid.as_str(), file);
    }
    let mut files = Vec::with_capacity(latest.len());
    for file in pulled {
        if let Some(last) = latest.remove(file.jnid.as_str()) {
            files.push(last.to_job_file());
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulled(jnid: &str, description: &str) -> PulledFile {
        PulledFile {
            jnid: jnid.into(),
            filename: format!("{jnid}.jpg"),
            content_type: Some("image/jpeg".into()),
            size_bytes: Some(10),
            description: Some(description.into()),
            record_type: Some(2),
            record_type_name: Some("Photo".into()),
            is_private: false,
            created_at: None,
            captured_at: None,
            tags: Vec::new(),
            related_job_ids: vec!["j1".into()],
        }
    }

    #[test]
    fn a_file_repeated_by_shifting_pages_is_recorded_once_as_last_read() {
        let files = listing(&[
            pulled("f1", "old"),
            pulled("f2", "second"),
            pulled("f1", "new"),
            pulled("f3", "third"),
        ]);

        let seen: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|f| (f.file_id.as_str(), f.description.as_deref()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("f1", Some("new")),
                ("f2", Some("second")),
                ("f3", Some("third"))
            ]
        );
    }
}
