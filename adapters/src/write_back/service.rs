//! Requesting a write-back and running one attempt of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::AggregateError;
use domain::{
    Job, JobCommand, JobId, WriteBack, WriteBackCommand, WriteBackError, WriteBackPayload,
};
use rand::Rng;
use tracing::Instrument;

use super::idempotency::{Claim, IdempotencyKeys};
use super::{crm, sha256_hex, stream, uploads};
use crate::jobnimbus::{JobNimbusClient, PulledJob, WriteMarker};
use crate::store::{AppendSignal, CommandBus, Db, LogPosition, StoreError};

/// How write-backs are retried and how long keys are kept.
#[derive(Debug, Clone)]
pub struct WriteBackSettings {
    /// Attempts that may send the write; after them only read-backs are left for a write
    /// that may have been applied, and a write that certainly was not is failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt, doubling per attempt up to `backoff_cap`, with
    /// equal jitter. Longer than the CRM's index delay (about a second on JobNimbus), so the
    /// read-back of a lost answer sees the record if it was written.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long an attempt holds a write. Longer than an attempt can take (the client's
    /// timeout times its retries); after a crash, how long the write waits.
    pub lease: Duration,
    /// How long an `Idempotency-Key` keeps naming its write (at least 24 h).
    pub idempotency_ttl: Duration,
    /// JobNimbus task type (`record_type_name`) of created tasks: per-account free text.
    pub task_type: String,
    /// How often the worker looks for write-backs due for a retry.
    pub poll_interval: Duration,
    /// Write-backs the worker attempts per step, and at once.
    pub worker_batch: u32,
    pub worker_concurrency: usize,
}

impl Default for WriteBackSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(1_800),
            lease: Duration::from_secs(300),
            idempotency_ttl: Duration::from_secs(24 * 3_600),
            task_type: "Follow Up".to_string(),
            poll_interval: Duration::from_secs(5),
            worker_batch: 50,
            worker_concurrency: 4,
        }
    }
}

impl WriteBackSettings {
    /// Wait before the attempt after `attempts` failed ones: half fixed, half random.
    fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_cap);
        full / 2 + full.mul_f64(rand::thread_rng().gen_range(0.0..=0.5))
    }
}

/// A write to request.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub job_id: JobId,
    pub payload: WriteBackPayload,
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// An attachment's bytes (their hash is in the payload).
    pub upload: Option<Vec<u8>>,
    /// Who asked (actor, caller, request id), stored beside every event this request appends.
    pub metadata: HashMap<String, String>,
}

/// A write-back as the request left it.
#[derive(Debug, Clone)]
pub struct Requested {
    pub write_back_id: String,
    /// The key named a write-back an earlier request started.
    pub replayed: bool,
    pub write_back: WriteBack,
    /// The last event this request appended, for read-your-writes.
    pub position: Option<LogPosition>,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the Idempotency-Key was already used for another request")]
    KeyReused,
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    #[error("the write-back refused the command: {0}")]
    Refused(WriteBackError),
    #[error("the write-back {0} has no events")]
    Missing(String),
    #[error("the event store failed: {0}")]
    EventStore(String),
}

/// Share of the lease an attempt may use; the rest covers recording its outcome.
const LEASE_SHARE_OF_ATTEMPT: f64 = 0.8;

/// The hash that decides whether two requests under one key are the same request.
pub fn request_hash(job_id: &JobId, payload: &WriteBackPayload) -> String {
    // serde writes struct fields in declaration order: the text is stable.
    let text = serde_json::json!({ "job": job_id.as_str(), "payload": payload }).to_string();
    sha256_hex(text.as_bytes())
}

/// The write-back use cases. Cheap to clone.
#[derive(Clone)]
pub struct WriteBacks {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    bus: CommandBus<WriteBack>,
    /// Records the job JobNimbus answered a status change with, so the mirror shows it now
    /// rather than at the next sync.
    jobs: CommandBus<Job>,
    client: JobNimbusClient,
    keys: IdempotencyKeys,
    settings: WriteBackSettings,
}

/// How one attempt ended.
enum Outcome {
    Written {
        remote_id: String,
        confirmed_by_read_back: bool,
        /// A status change: the job as JobNimbus answered or was read back with it.
        job: Option<Box<PulledJob>>,
    },
    Failed {
        reason: String,
        transient: bool,
        may_have_been_applied: bool,
    },
}

impl WriteBacks {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        client: JobNimbusClient,
        settings: WriteBackSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: db.clone(),
                bus: CommandBus::new(db, signal),
                jobs: CommandBus::new(db, signal),
                client,
                keys: IdempotencyKeys::new(db),
                settings,
            }),
        }
    }

    pub fn client(&self) -> &JobNimbusClient {
        &self.inner.client
    }

    pub fn settings(&self) -> &WriteBackSettings {
        &self.inner.settings
    }

    pub fn keys(&self) -> &IdempotencyKeys {
        &self.inner.keys
    }

    pub(super) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Records the intent (once per key) and, when the write is due and no attempt holds it,
    /// runs an attempt. A repeated request under the same key runs no attempt while another
    /// holds the write: it answers the write's state.
    pub async fn request(
        &self,
        request: WriteRequest,
        now: DateTime<Utc>,
    ) -> Result<Requested, RequestError> {
        let inner = &self.inner;
        let candidate = uuid::Uuid::new_v4();
        let hash = request_hash(&request.job_id, &request.payload);
        let key_hash = request
            .idempotency_key
            .as_deref()
            .map(|k| sha256_hex(k.as_bytes()));
        let (id, replayed) = match &key_hash {
            None => (candidate.simple().to_string(), false),
            Some(key_hash) => {
                let id = candidate.simple().to_string();
                match inner
                    .keys
                    .claim(key_hash, &hash, &id, now, inner.settings.idempotency_ttl)
                    .await?
                {
                    Claim::New => (id, false),
                    Claim::Existing { write_back_id } => (write_back_id, true),
                    Claim::Reused => return Err(RequestError::KeyReused),
                }
            }
        };
        if let Some(bytes) = &request.upload {
            // Kept until the write settles; a replay of a settled upload must not bring the
            // bytes back, as nothing would delete them again.
            let settled = replayed
                && stream::load_write_back(&inner.db, &id)
                    .await?
                    .is_some_and(|w| w.state() != domain::WriteBackState::Pending);
            if !settled {
                uploads::keep(&inner.db, &id, bytes, now).await?;
            }
        }
        // Also on a replay: the first request may have died between its key and its intent.
        // The same content makes this a no-op on a stream that has it.
        let command = WriteBackCommand::Request {
            job_id: request.job_id.clone(),
            payload: request.payload.clone(),
            marker: id.clone(),
            idempotency_key_hash: key_hash,
            requested_at: now,
        };
        let mut position = self
            .execute(&id, command, request.metadata.clone())
            .await
            .or_else(|error| match error {
                // Two replays racing on a stream the first request left empty: one wrote it.
                AttemptError::Conflict => Ok(None),
                AttemptError::Refused(refusal) => Err(RequestError::Refused(refusal)),
                AttemptError::Store(error) => Err(error),
            })?;
        let (write_back, attempted) = self.attempt(&id, request.metadata).await?;
        position = attempted.or(position);
        Ok(Requested {
            write_back_id: id,
            replayed,
            write_back,
            position,
        })
    }

    /// Runs one attempt of `id` if it is due and no other attempt holds it; answers the state
    /// after it and the position of the last event appended (none when nothing was due).
    pub async fn attempt(
        &self,
        id: &str,
        metadata: HashMap<String, String>,
    ) -> Result<(WriteBack, Option<LogPosition>), RequestError> {
        let settings = &self.inner.settings;
        let now = Utc::now();
        let lease_until = now + to_delta(settings.lease);
        let start = WriteBackCommand::StartAttempt { now, lease_until };
        match self.execute(id, start, metadata.clone()).await {
            Ok(_) => {}
            // Settled, held by another attempt, not yet due, or another taker won.
            Err(AttemptError::Refused(_) | AttemptError::Conflict) => {
                let write_back = self.load(id).await?;
                return Ok((write_back, None));
            }
            Err(AttemptError::Store(error)) => return Err(error),
        }
        let write_back = self.load(id).await?;
        let span = tracing::info_span!(
            "write_back_attempt",
            write_back_id = %id,
            attempt = write_back.attempts(),
            kind = write_back.payload().map(|p| p.kind().as_str()).unwrap_or("?"),
        );
        // An attempt never outlives its lease: past it another attempt may start, and two
        // must never talk to JobNimbus for one write at once. Cut short, the request may
        // still have been applied, so the next attempt reads back first.
        let bounded = settings.lease.mul_f64(LEASE_SHARE_OF_ATTEMPT);
        let (outcome, mut position) = match tokio::time::timeout(
            bounded,
            self.run(id, &write_back, &metadata).instrument(span),
        )
        .await
        {
            Ok(ran) => ran?,
            Err(_) => (
                Outcome::Failed {
                    reason: format!("the attempt ran longer than {} s", bounded.as_secs()),
                    transient: true,
                    may_have_been_applied: true,
                },
                None,
            ),
        };
        let at = Utc::now();
        let mut saved_job = None;
        let command = match outcome {
            Outcome::Written {
                remote_id,
                confirmed_by_read_back,
                job,
            } => {
                metrics::counter!("write_back_attempts_total", "outcome" => "succeeded")
                    .increment(1);
                saved_job = job;
                WriteBackCommand::RecordSuccess {
                    remote_id,
                    confirmed_by_read_back,
                    at,
                }
            }
            Outcome::Failed {
                reason,
                transient,
                may_have_been_applied,
            } => {
                tracing::warn!(write_back_id = %id, %reason, transient, may_have_been_applied, "write-back attempt failed");
                let outcome = if may_have_been_applied {
                    "ambiguous"
                } else if transient {
                    "transient"
                } else {
                    "refused"
                };
                metrics::counter!("write_back_attempts_total", "outcome" => outcome).increment(1);
                WriteBackCommand::RecordFailure {
                    reason,
                    transient,
                    may_have_been_applied,
                    at,
                    next_attempt_at: at + to_delta(settings.backoff(write_back.attempts())),
                    max_attempts: settings.max_attempts,
                }
            }
        };
        let metadata_for_job = metadata.clone();
        match self.execute(id, command, metadata).await {
            Ok(appended) => position = appended.or(position),
            // The lease ran out and another attempt took over: its outcome stands.
            Err(AttemptError::Refused(refusal)) => {
                tracing::warn!(write_back_id = %id, %refusal, "an attempt's outcome came too late");
            }
            Err(AttemptError::Conflict) => {}
            Err(AttemptError::Store(error)) => return Err(error),
        }
        if let Some(job) = saved_job {
            position = self
                .record_job(id, *job, metadata_for_job)
                .await
                .or(position);
        }
        let write_back = self.load(id).await?;
        if write_back.state() != domain::WriteBackState::Pending {
            uploads::forget(&self.inner.db, id).await?;
        }
        Ok((write_back, position))
    }

    /// The attempt itself: a read-back first when an earlier attempt may have applied the
    /// write, then (unless only read-backs are left) the write.
    async fn run(
        &self,
        id: &str,
        write_back: &WriteBack,
        metadata: &HashMap<String, String>,
    ) -> Result<(Outcome, Option<LogPosition>), RequestError> {
        let (Some(job_id), Some(payload), Some(marker)) = (
            write_back.job_id(),
            write_back.payload(),
            write_back.marker(),
        ) else {
            return Err(RequestError::Missing(id.to_string()));
        };
        let job = job_id.external_id();
        let marker = match WriteMarker::new(marker) {
            Ok(marker) => marker,
            Err(invalid) => {
                let reason = invalid.to_string();
                return Ok((
                    Outcome::Failed {
                        reason,
                        transient: false,
                        may_have_been_applied: false,
                    },
                    None,
                ));
            }
        };
        let mut position = None;
        if write_back.must_read_back_first() {
            match crm::read_back(&self.inner.client, job, payload, &marker).await {
                Ok(Some((remote_id, job))) => {
                    tracing::info!(write_back_id = %id, %remote_id, "read-back found the write");
                    return Ok((
                        Outcome::Written {
                            remote_id,
                            confirmed_by_read_back: true,
                            job: job.map(Box::new),
                        },
                        None,
                    ));
                }
                Ok(None) => {
                    let found_nothing =
                        WriteBackCommand::RecordNotFoundOnReadBack { at: Utc::now() };
                    match self.execute(id, found_nothing, metadata.clone()).await {
                        Ok(appended) => position = appended,
                        Err(AttemptError::Store(error)) => return Err(error),
                        // Our lease is gone: stop, the other attempt decides.
                        Err(AttemptError::Refused(_) | AttemptError::Conflict) => {
                            return Ok((
                                Outcome::Failed {
                                    reason: "another attempt took over".into(),
                                    transient: true,
                                    may_have_been_applied: false,
                                },
                                None,
                            ))
                        }
                    }
                    if write_back.read_back_only() {
                        return Ok((
                            Outcome::Failed {
                                reason: "no attempt applied the write, and none is left".into(),
                                transient: true,
                                may_have_been_applied: false,
                            },
                            position,
                        ));
                    }
                }
                Err(error) => {
                    return Ok((
                        Outcome::Failed {
                            reason: format!("read-back failed: {error}"),
                            transient: true,
                            may_have_been_applied: false,
                        },
                        None,
                    ))
                }
            }
        }
        let outcome = match crm::send(
            &self.inner.client,
            &self.inner.db,
            id,
            job,
            payload,
            &marker,
        )
        .await
        {
            Ok((remote_id, job)) => Outcome::Written {
                remote_id,
                confirmed_by_read_back: false,
                job: job.map(Box::new),
            },
            Err(error) => Outcome::Failed {
                reason: error.to_string(),
                transient: crm::is_transient(&error),
                may_have_been_applied: error.may_have_been_applied(),
            },
        };
        Ok((outcome, position))
    }

    /// Records the job as JobNimbus showed it after a status change, as a sync would, so the
    /// mirror shows the new status now. Best effort: a concurrent sync or webhook that wins the
    /// job's stream records the same CRM state, and the next sync would anyway.
    async fn record_job(
        &self,
        write_back_id: &str,
        job: PulledJob,
        mut metadata: HashMap<String, String>,
    ) -> Option<LogPosition> {
        metadata.insert("write_back_id".to_string(), write_back_id.to_string());
        let command = JobCommand::RecordPulledSnapshot {
            snapshot: job.snapshot,
            is_active: job.is_active,
            observed_at: Utc::now(),
        };
        match self
            .inner
            .jobs
            .execute(job.id.as_str(), command, metadata)
            .await
        {
            Ok(position) => position,
            Err(error) => {
                tracing::warn!(write_back_id, %error, "the job's new status waits for the next sync");
                None
            }
        }
    }

    async fn load(&self, id: &str) -> Result<WriteBack, RequestError> {
        stream::load_write_back(&self.inner.db, id)
            .await?
            .ok_or_else(|| RequestError::Missing(id.to_string()))
    }

    async fn execute(
        &self,
        id: &str,
        command: WriteBackCommand,
        metadata: HashMap<String, String>,
    ) -> Result<Option<LogPosition>, AttemptError> {
        self.inner
            .bus
            .execute(id, command, metadata)
            .await
            .map_err(|error| match error {
                AggregateError::UserError(refusal) => AttemptError::Refused(refusal),
                AggregateError::AggregateConflict => AttemptError::Conflict,
                other => AttemptError::Store(RequestError::EventStore(format!(
                    "write-back {id}: {other}"
                ))),
            })
    }
}

enum AttemptError {
    Refused(WriteBackError),
    Conflict,
    Store(RequestError),
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::days(1))
}
