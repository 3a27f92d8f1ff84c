//! Turns inbox rows into mirror updates: one step, `process_once(now)`, that the server's
//! background task calls when woken or polled, and tests call directly.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Contact, ContactCommand, Job, JobCommand, JobError, JobId};
use rand::Rng;
use tracing::Instrument;
use uuid::Uuid;

use super::inbox::{ClaimedRow, Finish, WebhookInbox};
use super::payload::InboxAction;
use crate::jobnimbus::{ClientError, JobNimbusClient, PulledContact, PulledJob};
use crate::store::{
    AppendSignal, BatchCommand, BatchExecutor, CommandOutcome, Db, LogPosition, StoreError,
};
use crate::sync::{JobFilesError, PhotoSync, PhotoSyncCaller};

/// How the processor works through the inbox.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Records claimed per step (each is one GET to JobNimbus).
    pub batch_size: u32,
    /// How long a claim is ours. Longer than a step can take (the client paces and retries
    /// each GET), so a slow step is not taken over; after a crash, how long its rows wait.
    pub lease: Duration,
    /// Attempts before a record's rows are dead.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles per attempt up to `backoff_cap`, with
    /// jitter so a JobNimbus outage does not end in every row retrying in the same second.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for ProcessorSettings {
    /// 50 records a step, 5-minute leases, 8 attempts from 10 s apart up to 30 min apart
    /// (about 1.5 h in all: an outage shorter than that loses nothing, and the scheduled
    /// sync covers longer ones).
    fn default() -> Self {
        Self {
            batch_size: 50,
            lease: Duration::from_secs(300),
            max_attempts: 8,
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(1_800),
        }
    }
}

impl ProcessorSettings {
    /// Wait before the attempt after `attempts` failed ones: half the exponential delay
    /// fixed, half random ("equal jitter"), so a retry never comes sooner than half of it.
    fn backoff(&self, attempts: u32, unit: f64) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_cap);
        full / 2 + full.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessReport {
    /// Inbox rows claimed (several rows of one record count once in `records`).
    pub rows: usize,
    /// Records refetched.
    pub records: usize,
    /// Records whose refetch appended events (new to the mirror, or changed).
    pub changed: usize,
    /// Records equal to the mirror: nothing appended.
    pub unchanged: usize,
    /// Records JobNimbus no longer has.
    pub not_found: usize,
    /// Records whose attempt failed and that will be retried.
    pub retrying: usize,
    /// Records whose rows ended dead.
    pub dead: usize,
    /// Position of the last event appended, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
}

/// The rows of one record in a claim.
struct Claimed {
    kind: String,
    jnid: String,
    action: Option<InboxAction>,
    /// Oldest row first.
    ids: Vec<i64>,
    attempts: u32,
}

/// What a refetch found.
enum Fetched {
    Job(PulledJob),
    Contact(PulledContact),
    NotFound,
}

/// Works through the inbox for one JobNimbus account. Cheap to clone; clones share the
/// lease owner id.
#[derive(Clone)]
pub struct WebhookProcessor {
    inbox: WebhookInbox,
    client: JobNimbusClient,
    jobs: std::sync::Arc<BatchExecutor<Job>>,
    contacts: std::sync::Arc<BatchExecutor<Contact>>,
    /// Resyncs the file listings of the jobs a changed file is linked to.
    files: PhotoSync,
    settings: ProcessorSettings,
    /// Names this processor's leases.
    owner: String,
}

/// Metadata source and actor of what webhooks record.
const ACTOR: &str = "jobnimbus_webhook";

impl WebhookProcessor {
    pub fn new(
        inbox: WebhookInbox,
        db: &Db,
        signal: &AppendSignal,
        client: JobNimbusClient,
        settings: ProcessorSettings,
    ) -> Self {
        Self {
            inbox,
            jobs: std::sync::Arc::new(BatchExecutor::new(db, signal)),
            contacts: std::sync::Arc::new(BatchExecutor::new(db, signal)),
            // One job at a time: a file is linked to one job, seldom a few.
            files: PhotoSync::new(db, signal, client.clone(), 1),
            settings,
            owner: Uuid::new_v4().to_string(),
            client,
        }
    }

    pub fn inbox(&self) -> &WebhookInbox {
        &self.inbox
    }

    /// One step: claims the records due at `now`, refetches each once, records what it
    /// found on its aggregate, and settles their rows. A store failure ends the step with
    /// an error; the rows it held come back when their lease runs out.
    pub async fn process_once(&self, now: DateTime<Utc>) -> Result<ProcessReport, StoreError> {
        let lease_until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        let rows = self
            .inbox
            .claim(
                &self.owner,
                now,
                lease_until,
                i64::from(self.settings.batch_size.max(1)),
            )
            .await?;
        let mut report = ProcessReport {
            rows: rows.len(),
            ..ProcessReport::default()
        };
        if rows.is_empty() {
            return Ok(report);
        }
        let span = tracing::info_span!("jobnimbus_webhook_step", rows = rows.len());
        async {
            let claimed = group(rows);
            report.records = claimed.len();
            let (files, records): (Vec<_>, Vec<_>) = claimed
                .into_iter()
                .partition(|record| record.action == Some(InboxAction::RefreshFileJobs));
            let mut fetched = Vec::with_capacity(records.len());
            for record in records {
                let result = self.refetch(&record).await;
                fetched.push((record, result));
            }
            self.record(fetched, now, &mut report).await?;
            for record in files {
                let result = self.refresh_file_jobs(&record, &mut report).await?;
                self.settle(&record, result, now, &mut report).await?;
            }
            tracing::info!(
                records = report.records,
                changed = report.changed,
                unchanged = report.unchanged,
                not_found = report.not_found,
                retrying = report.retrying,
                dead = report.dead,
                "webhook inbox step"
            );
            Ok(report)
        }
        .instrument(span)
        .await
    }

    async fn refetch(&self, record: &Claimed) -> Result<Fetched, ClientError> {
        let jnid = record.jnid.as_str();
        let job = || async {
            Ok(match self.client.fetch_job_by_id(jnid).await? {
                Some(job) => Fetched::Job(job),
                None => Fetched::NotFound,
            })
        };
        let contact = || async {
            Ok(match self.client.fetch_contact_by_id(jnid).await? {
                Some(contact) => Fetched::Contact(contact),
                None => Fetched::NotFound,
            })
        };
        match record.action {
            Some(InboxAction::RefetchJob) => job().await,
            Some(InboxAction::RefetchContact) => contact().await,
            Some(InboxAction::RefetchJobOrContact) => match job().await? {
                Fetched::NotFound => contact().await,
                found => Ok(found),
            },
            // File records are refreshed by `refresh_file_jobs`; ignored rows are stored
            // finished; one pending here was written by a version that knew an action this
            // one does not.
            Some(InboxAction::RefreshFileJobs | InboxAction::Ignore) | None => {
                Err(ClientError::InvalidRequest(format!(
                    "no refetch for a row with action of kind {}",
                    record.kind
                )))
            }
        }
    }

    /// Records every refetched record through its aggregate (one batch per aggregate
    /// type), then settles each record's rows.
    async fn record(
        &self,
        fetched: Vec<(Claimed, Result<Fetched, ClientError>)>,
        now: DateTime<Utc>,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let mut job_commands = Vec::new();
        let mut contact_commands = Vec::new();
        // Index into `fetched` of each command, per batch.
        let mut job_of = Vec::new();
        let mut contact_of = Vec::new();
        for (index, (record, result)) in fetched.iter().enumerate() {
            let metadata = metadata(record);
            match result {
                Ok(Fetched::Job(job)) => {
                    job_of.push(index);
                    job_commands.push(BatchCommand {
                        aggregate_id: job.id.to_string(),
                        command: JobCommand::RecordPulledSnapshot {
                            snapshot: job.snapshot.clone(),
                            is_active: job.is_active,
                            observed_at: now,
                        },
                        metadata,
                    });
                }
                Ok(Fetched::Contact(contact)) => {
                    contact_of.push(index);
                    contact_commands.push(BatchCommand {
                        aggregate_id: contact.id.to_string(),
                        command: ContactCommand::RecordPulledSnapshot {
                            snapshot: contact.snapshot.clone(),
                            is_active: contact.is_active,
                            observed_at: now,
                        },
                        metadata,
                    });
                }
                Ok(Fetched::NotFound) | Err(_) => {}
            }
        }
        // What each record's command did: Ok(appended anything) or the refusal.
        let mut applied: HashMap<usize, Result<bool, String>> = HashMap::new();
        if !job_commands.is_empty() {
            let batch = self.jobs.execute(job_commands).await?;
            report.last_position = batch.last_position.or(report.last_position);
            for (index, outcome) in job_of.into_iter().zip(batch.outcomes) {
                applied.insert(index, outcome_of(outcome));
            }
        }
        if !contact_commands.is_empty() {
            let batch = self.contacts.execute(contact_commands).await?;
            report.last_position = batch.last_position.or(report.last_position);
            for (index, outcome) in contact_of.into_iter().zip(batch.outcomes) {
                applied.insert(index, outcome_of(outcome));
            }
        }

        for (index, (record, result)) in fetched.into_iter().enumerate() {
            let result = match (result, applied.remove(&index)) {
                (Ok(Fetched::NotFound), _) => RecordResult::NotFound(
                    "not found in JobNimbus; deletions are recorded by the reconcile sync",
                ),
                (Ok(_), Some(Ok(true))) => RecordResult::Changed,
                (Ok(_), Some(Ok(false))) => RecordResult::Unchanged,
                (Ok(_), Some(Err(refusal))) => RecordResult::Refused(refusal),
                // Every command has an outcome; were one missing, the lease runs out and the
                // rows are claimed again.
                (Ok(_), None) => continue,
                (Err(failure), _) => RecordResult::Failed(failure),
            };
            self.settle(&record, result, now, report).await?;
        }
        Ok(())
    }

    /// Looks the file up and resyncs the complete file listing of every mirrored job it is
    /// linked to. A job we do not mirror is skipped (the job sync brings it, with its files).
    async fn refresh_file_jobs(
        &self,
        record: &Claimed,
        report: &mut ProcessReport,
    ) -> Result<RecordResult, StoreError> {
        let file = match self.client.fetch_file_by_id(&record.jnid).await {
            Ok(Some(file)) => file,
            // Its jobs are not known any more: the removal is recorded by their next
            // photo sync, which lists what each job still has.
            Ok(None) => return Ok(RecordResult::NotFound(
                "file not found in JobNimbus; its removal is recorded at its job's next photo sync",
            )),
            Err(failure) => return Ok(RecordResult::Failed(failure)),
        };
        let caller = PhotoSyncCaller {
            actor: ACTOR.to_string(),
            request_id: format!("webhook_inbox:{}", record.ids[0]),
        };
        let mut changed = false;
        for job_jnid in &file.related_job_ids {
            let Ok(job_id) = JobId::jobnimbus(job_jnid) else {
                continue;
            };
            match self.files.sync_job(&job_id, &caller).await {
                Ok(synced) => {
                    changed |= synced.events > 0;
                    report.last_position = report.last_position.max(synced.last_position);
                }
                Err(JobFilesError::Refused(JobError::FilesOfUnrecordedJob)) => {}
                Err(JobFilesError::Refused(refusal)) => {
                    return Ok(RecordResult::Refused(refusal.to_string()))
                }
                Err(JobFilesError::Crm(failure)) => return Ok(RecordResult::Failed(failure)),
                Err(JobFilesError::Store(failure)) => return Err(failure),
                Err(failure @ JobFilesError::NotJobNimbus(_)) => {
                    return Ok(RecordResult::Refused(failure.to_string()))
                }
            }
        }
        Ok(if changed {
            RecordResult::Changed
        } else {
            RecordResult::Unchanged
        })
    }

    /// Settles a record's rows by what became of it: done, retried later with backoff, or
    /// dead; and counts it. One path, so the report, the metric, the log and the rows agree.
    async fn settle(
        &self,
        record: &Claimed,
        result: RecordResult,
        now: DateTime<Utc>,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let key = (record.kind.as_str(), record.jnid.as_str());
        // Holds the error text a `Finish` borrows.
        let error: String;
        let (finish, outcome) = match result {
            RecordResult::NotFound(note) => (Finish::Done { note }, Outcome::NotFound),
            RecordResult::Changed => (
                Finish::Done {
                    note: "mirror updated",
                },
                Outcome::Changed,
            ),
            RecordResult::Unchanged => (
                Finish::Done {
                    note: "unchanged: the mirror already held this record",
                },
                Outcome::Unchanged,
            ),
            RecordResult::Refused(refusal) => {
                error = format!("refused by the aggregate: {refusal}");
                (Finish::Dead { error: &error }, Outcome::Dead)
            }
            RecordResult::Failed(failure) => {
                error = failure.to_string();
                // A bad jnid or a record we cannot map fails the same way every time.
                let permanent = matches!(
                    failure,
                    ClientError::InvalidRequest(_) | ClientError::Decode { .. }
                );
                if permanent || record.attempts >= self.settings.max_attempts {
                    (Finish::Dead { error: &error }, Outcome::Dead)
                } else {
                    let wait = self
                        .settings
                        .backoff(record.attempts, rand::thread_rng().gen::<f64>());
                    tracing::warn!(
                        kind = key.0,
                        jnid = key.1,
                        attempts = record.attempts,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "webhook refetch failed; will retry"
                    );
                    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    (Finish::Retry { error: &error, at }, Outcome::Retrying)
                }
            }
        };
        if let Finish::Dead { error } = finish {
            tracing::error!(
                kind = key.0,
                jnid = key.1,
                attempts = record.attempts,
                error,
                "webhook record failed for good; its inbox rows are dead"
            );
        }
        outcome.count(report);
        self.inbox.finish(key, &self.owner, finish, now).await
    }
}

/// What became of one record.
enum RecordResult {
    Changed,
    Unchanged,
    /// JobNimbus does not have it; the note says what covers that.
    NotFound(&'static str),
    /// The aggregate refused what was fetched.
    Refused(String),
    Failed(ClientError),
}

/// Who recorded it and which rows asked for it: the oldest row, and all of them when
/// several deliveries were coalesced into this one refetch.
fn metadata(record: &Claimed) -> HashMap<String, String> {
    let ids: Vec<String> = record.ids.iter().map(i64::to_string).collect();
    HashMap::from([
        ("source".to_string(), ACTOR.to_string()),
        ("actor".to_string(), ACTOR.to_string()),
        ("webhook_inbox_id".to_string(), ids[0].clone()),
        ("webhook_inbox_ids".to_string(), ids.join(",")),
    ])
}

/// Whether a command appended anything, or why it was refused.
fn outcome_of<A: cqrs_es::Aggregate>(outcome: CommandOutcome<A>) -> Result<bool, String> {
    match outcome {
        CommandOutcome::Applied(events) => Ok(!events.is_empty()),
        CommandOutcome::Refused(error) => Err(error.to_string()),
    }
}

/// How a record's processing ended, for the report and the metric.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Changed,
    Unchanged,
    NotFound,
    Retrying,
    Dead,
}

impl Outcome {
    fn count(self, report: &mut ProcessReport) {
        let (tally, label) = match self {
            Outcome::Changed => (&mut report.changed, "changed"),
            Outcome::Unchanged => (&mut report.unchanged, "unchanged"),
            Outcome::NotFound => (&mut report.not_found, "not_found"),
            Outcome::Retrying => (&mut report.retrying, "retrying"),
            Outcome::Dead => (&mut report.dead, "dead"),
        };
        *tally += 1;
        metrics::counter!("jobnimbus_webhook_records_total", "outcome" => label).increment(1);
    }
}

/// Rows of a claim by record, in the order of each record's oldest row.
fn group(rows: Vec<ClaimedRow>) -> Vec<Claimed> {
    let mut records: Vec<Claimed> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for row in rows {
        let key = (row.kind.clone(), row.jnid.clone());
        let attempts = u32::try_from(row.attempts).unwrap_or(0);
        match index.get(&key) {
            Some(&i) => {
                let record = &mut records[i];
                record.ids.push(row.id);
                record.attempts = record.attempts.max(attempts);
            }
            None => {
                index.insert(key, records.len());
                records.push(Claimed {
                    kind: row.kind,
                    jnid: row.jnid,
                    action: InboxAction::parse(&row.action),
                    ids: vec![row.id],
                    attempts,
                });
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_at_most_half_jitter() {
        let settings = ProcessorSettings {
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(60),
            ..ProcessorSettings::default()
        };
        let cases = [(1, 10), (2, 20), (3, 40), (4, 60), (40, 60)];
        for (attempts, full) in cases {
            let full = Duration::from_secs(full);
            assert_eq!(settings.backoff(attempts, 0.0), full / 2, "{attempts}");
            assert_eq!(settings.backoff(attempts, 1.0), full, "{attempts}");
            let mid = settings.backoff(attempts, 0.5);
            assert!(mid > full / 2 && mid < full, "{attempts}: {mid:?}");
        }
    }

    #[test]
    fn rows_of_one_record_are_grouped_under_its_oldest_row() {
        let row = |id, kind: &str, jnid: &str, attempts| ClaimedRow {
            id,
            kind: kind.into(),
            jnid: jnid.into(),
            action: "refetch_job".into(),
            attempts,
        };
        let grouped = group(vec![
            row(3, "job", "a", 1),
            row(4, "job", "b", 1),
            row(7, "job", "a", 2),
            row(9, "contact", "a", 1),
        ]);

        let summary: Vec<(&str, &str, Vec<i64>, u32)> = grouped
            .iter()
            .map(|r| (r.kind.as_str(), r.jnid.as_str(), r.ids.clone(), r.attempts))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("job", "a", vec![3, 7], 2),
                ("job", "b", vec![4], 1),
                ("contact", "a", vec![9], 1),
            ]
        );
    }
}
