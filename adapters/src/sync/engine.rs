use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{
    CrmSource, SyncCursor, SyncCursorCommand, SyncMode, SyncOutcome, SyncResource, SyncRun,
    SyncRunCommand, SyncStatus, SyncTrigger,
};
use tokio::sync::mpsc;
use tracing::Instrument;
use uuid::Uuid;

use super::slot::RunSlot;
use super::tally::tally_page;
use super::target::{Contacts, Jobs, SyncTarget};
use crate::jobnimbus::{ClientError, JobNimbusClient, Page};
use crate::store::{
    AppendSignal, BatchCommand, BatchExecutor, CommandOutcome, Db, EventLog, LogPosition,
    StoreError,
};

/// Tuning of a sync run.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Records per list request (the API's maximum is 1,000).
    pub page_size: u32,
    /// Incremental runs start this far before the stored cursor: `date_updated` is only a
    /// hint (clock skew, writes landing in a second already read), and re-reading a few
    /// minutes costs nothing since unchanged records append nothing.
    pub overlap: Duration,
    /// Pages fetched ahead while earlier ones are being committed.
    pub prefetch_pages: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            page_size: 1000,
            overlap: Duration::from_secs(300),
            prefetch_pages: 2,
        }
    }
}

/// What to sync, and who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest {
    pub resource: SyncResource,
    pub mode: SyncMode,
    pub trigger: SyncTrigger,
}

/// How far a run got, for progress bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncProgress {
    pub pages: u32,
    pub fetched: u64,
    /// The CRM's count of matching records when the run started (grows if records are
    /// added meanwhile; a run may fetch a few more than this).
    pub expected: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub run_id: String,
    pub request: SyncRequest,
    /// `Success`, `Partial` (some records failed) or `Failed` (stopped early).
    pub status: SyncStatus,
    pub outcome: SyncOutcome,
    /// Why records failed, `"<jnid>: <reason>"`, the first [`MAX_REPORTED_ERRORS`].
    pub errors: Vec<String>,
    /// Why the run stopped early, for `Failed` runs.
    pub failure: Option<String>,
    /// The lower `date_updated` bound asked of the CRM (incremental runs).
    pub updated_since: Option<DateTime<Utc>>,
    /// Position of the last event the run appended, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
    pub duration: Duration,
}

/// Failure reasons kept in a report; the `SyncRun` history holds every one.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Why `sync_once` did not run, or could not record its run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("a {} sync is already running", .0.as_str())]
    AlreadyRunning(SyncResource),
    #[error("the event store failed during the sync run: {0}")]
    Store(#[from] StoreError),
}

/// Runs syncs from one JobNimbus account into the event store. Cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    db: Db,
    signal: AppendSignal,
    client: JobNimbusClient,
    settings: SyncSettings,
    running: Arc<Mutex<HashSet<SyncResource>>>,
}

type ProgressFn<'a> = &'a (dyn Fn(SyncProgress) + Send + Sync);

/// A fetched page with the pager's resume point after it.
type Fetched<P> = Result<(Page<P>, Option<DateTime<Utc>>), ClientError>;

impl SyncEngine {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        client: JobNimbusClient,
        settings: SyncSettings,
    ) -> Self {
        Self {
            db: db.clone(),
            signal: signal.clone(),
            client,
            settings,
            running: Arc::default(),
        }
    }

    pub fn client(&self) -> &JobNimbusClient {
        &self.client
    }

    /// Where `resource` stands: its resume point and its last complete scan.
    pub async fn cursor(&self, resource: SyncResource) -> Result<SyncCursor, StoreError> {
        BatchExecutor::<SyncCursor>::new(&self.db, &self.signal)
            .load_one(&resource.cursor_id(CrmSource::JobNimbus))
            .await
    }

    /// One sync run. Fails with `AlreadyRunning` if a run of the same resource is in progress
    /// in this process or in another instance on the same PostgreSQL. A CRM failure mid-run
    /// is not an error: the run is recorded as failed and the report says why.
    pub async fn sync_once(&self, request: SyncRequest) -> Result<SyncReport, SyncError> {
        self.sync_once_with_progress(request, &|_| {}).await
    }

    /// [`SyncEngine::sync_once`], calling `progress` after every page.
    pub async fn sync_once_with_progress(
        &self,
        request: SyncRequest,
        progress: ProgressFn<'_>,
    ) -> Result<SyncReport, SyncError> {
        let cursor_id = request.resource.cursor_id(CrmSource::JobNimbus);
        let slot = RunSlot::try_claim(&self.db, &self.running, &cursor_id, request.resource)
            .await?
            .ok_or(SyncError::AlreadyRunning(request.resource))?;
        let run_id = Uuid::new_v4().to_string();
        let span = tracing::info_span!(
            "sync_run",
            run_id = %run_id,
            resource = request.resource.as_str(),
            mode = request.mode.as_str(),
            trigger = request.trigger.as_str(),
        );
        let result = async {
            match request.resource {
                SyncResource::Jobs => self.run::<Jobs>(request, run_id, progress).await,
                SyncResource::Contacts => self.run::<Contacts>(request, run_id, progress).await,
            }
        }
        .instrument(span)
        .await;
        slot.release().await;
        if let Ok(report) = &result {
            record_metrics(report);
        }
        result
    }

    async fn run<T: SyncTarget>(
        &self,
        request: SyncRequest,
        run_id: String,
        progress: ProgressFn<'_>,
    ) -> Result<SyncReport, SyncError>
    where
        <T::Aggregate as Aggregate>::Command: Clone + Send,
    {
        let started = Instant::now();
        let mut run = Run::<T>::new(self, &run_id, request);
        let cursor = run.cursors.load_one(&run.cursor_id).await?;
        let updated_since = match request.mode {
            SyncMode::Incremental => cursor.position().map(|p| p - self.overlap()),
            SyncMode::Full | SyncMode::Reconcile => None,
        };
        run.record(SyncRunCommand::Start {
            source: CrmSource::JobNimbus,
            resource: request.resource,
            mode: request.mode,
            trigger: request.trigger,
            updated_since,
            started_at: Utc::now(),
        })
        .await?;
        tracing::info!(updated_since = ?updated_since, "sync run started");
        // Past this point the run is on record as started; it must not stay RUNNING if
        // the store fails under it. Recording the failure may fail too (the store is what
        // broke), but a passing fault (a lost connection, a timeout) leaves an honest log.
        let result: Result<SyncReport, SyncError> = async {
            let mut pages = self.fetch_pages::<T>(updated_since);
            let mut resume_from = None;
            let mut scan_failure = None;
            let mut expected = None;
            while let Some(fetched) = pages.recv().await {
                match fetched {
                    Ok((page, resume)) => {
                        expected.get_or_insert(page.total);
                        run.process_page(page).await?;
                        if let Some(to) = resume {
                            resume_from = Some(to);
                            run.checkpoint_cursor(to, false).await?;
                        }
                        progress(SyncProgress {
                            pages: run.pages,
                            fetched: run.outcome.fetched,
                            expected,
                        });
                    }
                    Err(error) => {
                        scan_failure = Some(error);
                        break;
                    }
                }
            }

            if let Some(to) = resume_from {
                // Every page read so far is committed: the next run may start after them, even
                // if this one failed on a later page.
                run.checkpoint_cursor(to, true).await?;
            }
            if let Some(error) = scan_failure {
                // Whatever was committed stays; nothing is concluded from a partial scan.
                tracing::warn!(error = %error, "sync run failed");
                run.record(SyncRunCommand::Fail {
                    error: error.to_string(),
                    finished_at: Utc::now(),
                })
                .await?;
                return Ok(run.report(
                    SyncStatus::Failed,
                    Some(error.to_string()),
                    updated_since,
                    started,
                ));
            }
            if updated_since.is_none() {
                // Every record was read without error: only now may absence mean anything.
                if request.mode == SyncMode::Reconcile {
                    run.mark_vanished(Utc::now()).await?;
                }
                run.cursor(SyncCursorCommand::RecordCompleteScan {
                    run_id: run_id.clone(),
                    scanned_at: Utc::now(),
                })
                .await?;
            }
            run.record(SyncRunCommand::Complete {
                resume_from,
                finished_at: Utc::now(),
            })
            .await?;
            let status = if run.outcome.failed > 0 {
                SyncStatus::Partial
            } else {
                SyncStatus::Success
            };
            tracing::info!(
                fetched = run.outcome.fetched,
                created = run.outcome.created,
                updated = run.outcome.updated,
                unchanged = run.outcome.unchanged,
                failed = run.outcome.failed,
                vanished = run.outcome.vanished,
                "sync run completed"
            );
            Ok(run.report(status, None, updated_since, started))
        }
        .await;
        if let Err(SyncError::Store(error)) = &result {
            let failed = run
                .record(SyncRunCommand::Fail {
                    error: format!("event store failed: {error}"),
                    finished_at: Utc::now(),
                })
                .await;
            if let Err(also) = failed {
                tracing::error!(error = %also, "could not record the sync run's failure");
            }
        }
        result
    }

    fn overlap(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.overlap).unwrap_or(chrono::Duration::zero())
    }

    /// Pages the CRM on its own task, `prefetch_pages` ahead of the consumer, so fetching
    /// the next page overlaps committing this one. Stops at the first error or when the
    /// consumer goes away.
    fn fetch_pages<T: SyncTarget>(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> mpsc::Receiver<Fetched<T::Pulled>> {
        let (tx, rx) = mpsc::channel(self.settings.prefetch_pages.max(1));
        let pager = T::pager(&self.client, since, self.settings.page_size);
        tokio::spawn(
            async move {
                let mut pager = match pager {
                    Ok(pager) => pager,
                    Err(error) => {
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                loop {
                    let item = match pager.next_page().await {
                        Ok(Some(page)) => Ok((page, pager.resume_from())),
                        Ok(None) => return,
                        Err(error) => Err(error),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        return;
                    }
                }
            }
            .in_current_span(),
        );
        rx
    }
}

/// The state of one run in progress.
struct Run<T: SyncTarget> {
    run_id: String,
    request: SyncRequest,
    cursor_id: String,
    log: EventLog,
    records: BatchExecutor<T::Aggregate>,
    runs: BatchExecutor<SyncRun>,
    cursors: BatchExecutor<SyncCursor>,
    metadata: HashMap<String, String>,
    pages: u32,
    outcome: SyncOutcome,
    errors: Vec<String>,
    last_position: Option<LogPosition>,
    /// Aggregate ids listed by the CRM during this run (reconcile runs only).
    seen: HashSet<String>,
    /// When this run last moved the cursor, and to where.
    cursor_written: Option<Instant>,
    cursor_at: Option<DateTime<Utc>>,
}

/// Longest stretch of committed pages an interrupted run may have to re-read.
const CURSOR_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

impl<T: SyncTarget> Run<T>
where
    <T::Aggregate as Aggregate>::Command: Clone + Send,
{
    fn new(engine: &SyncEngine, run_id: &str, request: SyncRequest) -> Self {
        let metadata = HashMap::from([
            ("sync_run_id".to_string(), run_id.to_string()),
            (
                "actor".to_string(),
                format!("sync:{}", request.trigger.as_str()),
            ),
        ]);
        Self {
            run_id: run_id.to_string(),
            request,
            cursor_id: request.resource.cursor_id(CrmSource::JobNimbus),
            log: EventLog::new(engine.db.clone()),
            records: BatchExecutor::new(&engine.db, &engine.signal),
            runs: BatchExecutor::new(&engine.db, &engine.signal),
            cursors: BatchExecutor::new(&engine.db, &engine.signal),
            metadata,
            pages: 0,
            outcome: SyncOutcome::default(),
            errors: Vec::new(),
            last_position: None,
            seen: HashSet::new(),
            cursor_written: None,
            cursor_at: None,
        }
    }

    /// Commands every record of the page in one batch and records the page on the run.
    async fn process_page(&mut self, page: Page<T::Pulled>) -> Result<(), SyncError> {
        let observed_at = Utc::now();
        // The pager never repeats a record whose date stays put; one edited mid-run can come
        // back on a later page, but within a page the last copy is the latest.
        let mut latest: HashMap<String, usize> = HashMap::with_capacity(page.items.len());
        for (index, item) in page.items.iter().enumerate() {
            latest.insert(T::jnid(item).to_string(), index);
        }
        let mut jnids = Vec::with_capacity(latest.len());
        let mut commands = Vec::with_capacity(latest.len());
        for (index, item) in page.items.into_iter().enumerate() {
            if latest.get(T::jnid(&item)) != Some(&index) {
                continue;
            }
            let aggregate_id = T::aggregate_id(&item);
            if self.request.mode == SyncMode::Reconcile {
                self.seen.insert(aggregate_id.clone());
            }
            jnids.push(T::jnid(&item).to_string());
            commands.push(BatchCommand {
                aggregate_id,
                command: T::record_command(item, observed_at),
                metadata: self.metadata.clone(),
            });
        }
        let report = self.records.execute(commands).await?;
        self.last_position = report.last_position.or(self.last_position);
        let (tally, failures) = tally_page::<T>(&jnids, &report.outcomes, &page.rejected);
        for failure in &failures {
            tracing::warn!(jnid = ?failure.external_id, reason = %failure.reason, "record not synced");
            if self.errors.len() < MAX_REPORTED_ERRORS {
                let id = failure.external_id.as_deref().unwrap_or("<no jnid>");
                self.errors.push(format!("{id}: {}", failure.reason));
            }
        }
        self.pages += 1;
        self.outcome.add(&tally);
        self.record(SyncRunCommand::RecordPage {
            tally,
            failures,
            recorded_at: observed_at,
        })
        .await
    }

    /// After a complete scan: every aggregate we hold that the CRM did not list is marked
    /// vanished (the aggregate ignores ones already vanished).
    async fn mark_vanished(&mut self, observed_at: DateTime<Utc>) -> Result<(), SyncError> {
        let known = self.log.aggregate_ids(T::Aggregate::TYPE).await?;
        let missing: Vec<String> = known
            .into_iter()
            .filter(|id| !self.seen.contains(id))
            .collect();
        let mut vanished = 0;
        for chunk in missing.chunks(1000) {
            let commands = chunk
                .iter()
                .map(|id| BatchCommand {
                    aggregate_id: id.clone(),
                    command: T::vanish_command(observed_at),
                    metadata: self.metadata.clone(),
                })
                .collect();
            let report = self.records.execute(commands).await?;
            self.last_position = report.last_position.or(self.last_position);
            vanished += report
                .outcomes
                .iter()
                .filter(|o| matches!(o, CommandOutcome::Applied(events) if events.iter().any(T::is_vanishing)))
                .count() as u64;
        }
        if vanished > 0 {
            tracing::info!(vanished, "records no longer listed by the CRM");
        }
        self.outcome.vanished += vanished;
        self.record(SyncRunCommand::RecordVanished {
            count: vanished,
            recorded_at: observed_at,
        })
        .await
    }

    /// Moves the resume point to `to` (all pages before it are committed) on the first page,
    /// then at most every [`CURSOR_CHECKPOINT_INTERVAL`], and at the end (`last`). An
    /// interrupted run thus loses at most that interval of work, while a run appends one or
    /// two cursor events rather than one per page — the cursor is loaded from its whole
    /// history at the start of every run.
    async fn checkpoint_cursor(&mut self, to: DateTime<Utc>, last: bool) -> Result<(), SyncError> {
        let due = self
            .cursor_written
            .is_none_or(|at| at.elapsed() >= CURSOR_CHECKPOINT_INTERVAL);
        if !(due || last) || self.cursor_at == Some(to) {
            return Ok(());
        }
        let run_id = self.run_id.clone();
        self.cursor(SyncCursorCommand::Advance { to, run_id })
            .await?;
        self.cursor_written = Some(Instant::now());
        self.cursor_at = Some(to);
        Ok(())
    }

    async fn cursor(&mut self, command: SyncCursorCommand) -> Result<(), SyncError> {
        let command = BatchCommand {
            aggregate_id: self.cursor_id.clone(),
            command,
            metadata: self.metadata.clone(),
        };
        let report = self.cursors.execute(vec![command]).await?;
        self.last_position = report.last_position.or(self.last_position);
        Ok(())
    }

    async fn record(&mut self, command: SyncRunCommand) -> Result<(), SyncError> {
        let command = BatchCommand {
            aggregate_id: self.run_id.clone(),
            command,
            metadata: self.metadata.clone(),
        };
        let report = self.runs.execute(vec![command]).await?;
        self.last_position = report.last_position.or(self.last_position);
        // The engine sends a run's commands in order, so a refusal is a bug in the engine;
        // log it loudly rather than abandon the records already committed.
        if let Some(CommandOutcome::Refused(refusal)) = report.outcomes.first() {
            tracing::error!(error = %refusal, "sync run refused a command");
        }
        Ok(())
    }

    fn report(
        &self,
        status: SyncStatus,
        failure: Option<String>,
        updated_since: Option<DateTime<Utc>>,
        started: Instant,
    ) -> SyncReport {
        SyncReport {
            run_id: self.run_id.clone(),
            request: self.request,
            status,
            outcome: self.outcome,
            errors: self.errors.clone(),
            failure,
            updated_since,
            last_position: self.last_position,
            duration: started.elapsed(),
        }
    }
}

fn record_metrics(report: &SyncReport) {
    let resource = report.request.resource.as_str();
    let outcome = &report.outcome;
    for (kind, count) in [
        ("created", outcome.created),
        ("updated", outcome.updated),
        ("unchanged", outcome.unchanged),
        ("failed", outcome.failed),
        ("vanished", outcome.vanished),
    ] {
        metrics::counter!("sync_records_total", "resource" => resource, "outcome" => kind)
            .increment(count);
    }
    metrics::counter!("sync_runs_total", "resource" => resource, "status" => report.status.as_str())
        .increment(1);
    metrics::histogram!("sync_run_duration_seconds", "resource" => resource)
        .record(report.duration.as_secs_f64());
}
