use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{WriteBackCommand, WriteBackError, WriteBackEvent, WriteBackPayload};
use crate::JobId;

/// Where a write-back stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteBackState {
    /// Requested, not yet settled: an attempt is running or one is scheduled.
    #[default]
    Pending,
    Succeeded,
    Failed,
}

impl WriteBackState {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteBackState::Pending => "pending",
            WriteBackState::Succeeded => "succeeded",
            WriteBackState::Failed => "failed",
        }
    }
}

/// The intent as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Intent {
    job_id: JobId,
    payload: WriteBackPayload,
    marker: String,
    idempotency_key_hash: Option<String>,
}

/// One write to a CRM.
///
/// Invariants: at most one attempt holds the write at a time (a lease, taken by appending
/// `WriteBackAttemptStarted` at the stream's next sequence, so two takers cannot both win);
/// once any attempt may have applied the write, no attempt sends it again before a read-back
/// found nothing; and a write that may have been applied never ends `failed` — when attempts
/// run out, only read-backs are left until one settles it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteBack {
    intent: Option<Intent>,
    state: WriteBackState,
    attempts: u32,
    /// The lease of the attempt that started and has not recorded an outcome yet.
    in_flight: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    may_have_been_applied: bool,
    read_back_only: bool,
    remote_id: Option<String>,
}

impl WriteBack {
    pub fn state(&self) -> WriteBackState {
        self.state
    }

    pub fn job_id(&self) -> Option<&JobId> {
        self.intent.as_ref().map(|i| &i.job_id)
    }

    pub fn payload(&self) -> Option<&WriteBackPayload> {
        self.intent.as_ref().map(|i| &i.payload)
    }

    pub fn marker(&self) -> Option<&str> {
        self.intent.as_ref().map(|i| i.marker.as_str())
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn remote_id(&self) -> Option<&str> {
        self.remote_id.as_deref()
    }

    pub fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.next_attempt_at
    }

    /// Whether the attempt in flight must look for the marker before sending anything.
    pub fn must_read_back_first(&self) -> bool {
        self.may_have_been_applied
    }

    /// Whether the attempt in flight may only read back (attempts are used up).
    pub fn read_back_only(&self) -> bool {
        self.read_back_only
    }

    /// Whether the write may be attempted at `now` (pending, due, not held by an attempt).
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.intent.is_some()
            && self.state == WriteBackState::Pending
            && self.in_flight.is_none_or(|lease| lease <= now)
            && self.next_attempt_at.is_none_or(|at| at <= now)
    }

    fn settled(&self) -> Result<(), WriteBackError> {
        match self.state {
            WriteBackState::Pending => Ok(()),
            WriteBackState::Succeeded => Err(WriteBackError::Settled("succeeded")),
            WriteBackState::Failed => Err(WriteBackError::Settled("failed")),
        }
    }
}

impl Aggregate for WriteBack {
    const TYPE: &'static str = "WriteBack";
    type Command = WriteBackCommand;
    type Event = WriteBackEvent;
    type Error = WriteBackError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            WriteBackCommand::Request {
                job_id,
                payload,
                marker,
                idempotency_key_hash,
                requested_at,
            } => {
                let intent = Intent {
                    job_id,
                    payload,
                    marker,
                    idempotency_key_hash,
                };
                match &self.intent {
                    Some(held) if *held == intent => {}
                    Some(_) => return Err(WriteBackError::AlreadyRequested),
                    None => {
                        let event = WriteBackEvent::WriteBackRequested {
                            job_id: intent.job_id,
                            payload: intent.payload,
                            marker: intent.marker,
                            idempotency_key_hash: intent.idempotency_key_hash,
                            requested_at,
                        };
                        sink.write(event, self).await;
                    }
                }
            }
            WriteBackCommand::StartAttempt { now, lease_until } => {
                if self.intent.is_none() {
                    return Err(WriteBackError::NotRequested);
                }
                self.settled()?;
                if let Some(lease) = self.in_flight.filter(|lease| *lease > now) {
                    return Err(WriteBackError::InFlight(lease));
                }
                if let Some(at) = self.next_attempt_at.filter(|at| *at > now) {
                    return Err(WriteBackError::NotDue(at));
                }
                // An attempt whose lease ran out without an outcome may have sent the write.
                let read_back_first = self.may_have_been_applied || self.in_flight.is_some();
                let event = WriteBackEvent::WriteBackAttemptStarted {
                    attempt: self.attempts + 1,
                    read_back_first,
                    read_back_only: self.read_back_only,
                    lease_until,
                    started_at: now,
                };
                sink.write(event, self).await;
            }
            WriteBackCommand::RecordNotFoundOnReadBack { at } => {
                self.settled()?;
                if self.in_flight.is_none() {
                    return Err(WriteBackError::NoAttemptInFlight);
                }
                sink.write(WriteBackEvent::WriteBackNotFoundOnReadBack { at }, self)
                    .await;
            }
            WriteBackCommand::RecordSuccess {
                remote_id,
                confirmed_by_read_back,
                at,
            } => {
                if remote_id.trim().is_empty() {
                    return Err(WriteBackError::BlankRemoteId);
                }
                match (&self.state, &self.remote_id) {
                    (WriteBackState::Succeeded, Some(held)) if *held == remote_id => {}
                    (WriteBackState::Succeeded, Some(held)) => {
                        return Err(WriteBackError::SucceededAs(held.clone()))
                    }
                    _ => {
                        if self.intent.is_none() {
                            return Err(WriteBackError::NotRequested);
                        }
                        self.settled()?;
                        let event = WriteBackEvent::WriteBackSucceeded {
                            remote_id,
                            confirmed_by_read_back,
                            succeeded_at: at,
                        };
                        sink.write(event, self).await;
                    }
                }
            }
            WriteBackCommand::RecordFailure {
                reason,
                transient,
                may_have_been_applied,
                at,
                next_attempt_at,
                max_attempts,
            } => {
                self.settled()?;
                if self.in_flight.is_none() {
                    return Err(WriteBackError::NoAttemptInFlight);
                }
                let may = self.may_have_been_applied || may_have_been_applied;
                let retry = |read_back_only| WriteBackEvent::WriteBackRetryScheduled {
                    attempt: self.attempts,
                    reason: reason.clone(),
                    may_have_been_applied: may,
                    read_back_only,
                    next_attempt_at,
                    at,
                };
                let event = if !transient && !may {
                    WriteBackEvent::WriteBackFailed {
                        reason,
                        retryable: false,
                        failed_at: at,
                    }
                } else if self.attempts < max_attempts {
                    retry(false)
                } else if may {
                    // Out of attempts, but the CRM may hold it: only a read-back may settle it.
                    retry(true)
                } else {
                    WriteBackEvent::WriteBackFailed {
                        reason,
                        retryable: transient,
                        failed_at: at,
                    }
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            WriteBackEvent::WriteBackRequested {
                job_id,
                payload,
                marker,
                idempotency_key_hash,
                ..
            } => {
                self.intent = Some(Intent {
                    job_id,
                    payload,
                    marker,
                    idempotency_key_hash,
                });
                self.state = WriteBackState::Pending;
            }
            WriteBackEvent::WriteBackAttemptStarted {
                attempt,
                read_back_first,
                lease_until,
                ..
            } => {
                self.attempts = attempt;
                self.may_have_been_applied = read_back_first;
                self.in_flight = Some(lease_until);
                self.next_attempt_at = None;
            }
            WriteBackEvent::WriteBackNotFoundOnReadBack { .. } => {
                self.may_have_been_applied = false;
            }
            WriteBackEvent::WriteBackSucceeded { remote_id, .. } => {
                self.state = WriteBackState::Succeeded;
                self.remote_id = Some(remote_id);
                self.in_flight = None;
                self.next_attempt_at = None;
                self.may_have_been_applied = false;
            }
            WriteBackEvent::WriteBackRetryScheduled {
                may_have_been_applied,
                read_back_only,
                next_attempt_at,
                ..
            } => {
                self.in_flight = None;
                self.may_have_been_applied = may_have_been_applied;
                self.read_back_only = read_back_only;
                self.next_attempt_at = Some(next_attempt_at);
            }
            WriteBackEvent::WriteBackFailed { .. } => {
                self.state = WriteBackState::Failed;
                self.in_flight = None;
                self.next_attempt_at = None;
            }
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{TimeDelta, TimeZone};
    use cqrs_es::test::TestFramework;

    use super::*;

    type WriteBackTest = TestFramework<WriteBack>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
    }

    fn job() -> JobId {
        JobId::jobnimbus("job1").unwrap()
    }

    fn note() -> WriteBackPayload {
        WriteBackPayload::Note {
            text: "QC passed".into(),
            contact_id: None,
        }
    }

    fn request() -> WriteBackCommand {
        WriteBackCommand::Request {
            job_id: job(),
            payload: note(),
            marker: "m0000001".into(),
            idempotency_key_hash: Some("k".into()),
            requested_at: at(0),
        }
    }

    fn requested() -> WriteBackEvent {
        WriteBackEvent::WriteBackRequested {
            job_id: job(),
            payload: note(),
            marker: "m0000001".into(),
            idempotency_key_hash: Some("k".into()),
            requested_at: at(0),
        }
    }

    fn start(now: i64) -> WriteBackCommand {
        WriteBackCommand::StartAttempt {
            now: at(now),
            lease_until: at(now) + TimeDelta::seconds(60),
        }
    }

    fn started(attempt: u32, now: i64, read_back_first: bool) -> WriteBackEvent {
        started_only(attempt, now, read_back_first, false)
    }

    fn started_only(
        attempt: u32,
        now: i64,
        read_back_first: bool,
        read_back_only: bool,
    ) -> WriteBackEvent {
        WriteBackEvent::WriteBackAttemptStarted {
            attempt,
            read_back_first,
            read_back_only,
            lease_until: at(now) + TimeDelta::seconds(60),
            started_at: at(now),
        }
    }

    fn failure(transient: bool, may: bool, now: i64, max: u32) -> WriteBackCommand {
        WriteBackCommand::RecordFailure {
            reason: "boom".into(),
            transient,
            may_have_been_applied: may,
            at: at(now),
            next_attempt_at: at(now + 10),
            max_attempts: max,
        }
    }

    fn retry(attempt: u32, may: bool, only: bool, now: i64) -> WriteBackEvent {
        WriteBackEvent::WriteBackRetryScheduled {
            attempt,
            reason: "boom".into(),
            may_have_been_applied: may,
            read_back_only: only,
            next_attempt_at: at(now + 10),
            at: at(now),
        }
    }

    #[test]
    fn the_intent_is_recorded_once_and_a_repeated_request_appends_nothing() {
        WriteBackTest::with(())
            .given_no_previous_events()
            .when(request())
            .then_expect_events(vec![requested()]);
        WriteBackTest::with(())
            .given(vec![requested()])
            .when(request())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_request_with_other_content_on_the_same_stream_is_refused() {
        let mut other = request();
        if let WriteBackCommand::Request { marker, .. } = &mut other {
            *marker = "m0000002".into();
        }
        WriteBackTest::with(())
            .given(vec![requested()])
            .when(other)
            .then_expect_error(WriteBackError::AlreadyRequested);
    }

    #[test]
    fn an_attempt_in_flight_keeps_a_second_one_out_until_its_lease_ends() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(start(30))
            .then_expect_error(WriteBackError::InFlight(at(60)));
    }

    #[test]
    fn an_attempt_whose_lease_ran_out_without_an_outcome_makes_the_next_one_read_back_first() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(start(61))
            .then_expect_events(vec![started(2, 61, true)]);
    }

    #[test]
    fn an_answer_settles_the_write_as_succeeded() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(WriteBackCommand::RecordSuccess {
                remote_id: "a1".into(),
                confirmed_by_read_back: false,
                at: at(1),
            })
            .then_expect_events(vec![WriteBackEvent::WriteBackSucceeded {
                remote_id: "a1".into(),
                confirmed_by_read_back: false,
                succeeded_at: at(1),
            }]);
    }

    #[test]
    fn a_settled_write_is_never_attempted_again() {
        let succeeded = WriteBackEvent::WriteBackSucceeded {
            remote_id: "a1".into(),
            confirmed_by_read_back: false,
            succeeded_at: at(1),
        };
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false), succeeded])
            .when(start(100))
            .then_expect_error(WriteBackError::Settled("succeeded"));
    }

    #[test]
    fn an_ambiguous_failure_schedules_a_retry_that_reads_back_before_sending() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(failure(true, true, 1, 5))
            .then_expect_events(vec![retry(1, true, false, 1)]);
        WriteBackTest::with(())
            .given(vec![
                requested(),
                started(1, 0, false),
                retry(1, true, false, 1),
            ])
            .when(start(11))
            .then_expect_events(vec![started(2, 11, true)]);
    }

    #[test]
    fn a_retry_is_not_started_before_it_is_due() {
        WriteBackTest::with(())
            .given(vec![
                requested(),
                started(1, 0, false),
                retry(1, false, false, 1),
            ])
            .when(start(5))
            .then_expect_error(WriteBackError::NotDue(at(11)));
    }

    #[test]
    fn a_read_back_that_finds_nothing_lets_the_attempt_send_again() {
        let mut write_back = WriteBack::default();
        for event in [
            requested(),
            started(1, 0, false),
            retry(1, true, false, 1),
            started(2, 11, true),
        ] {
            write_back.apply(event);
        }
        assert!(write_back.must_read_back_first());
        write_back.apply(WriteBackEvent::WriteBackNotFoundOnReadBack { at: at(12) });
        assert!(!write_back.must_read_back_first());
    }

    #[test]
    fn a_refusal_that_was_not_applied_fails_at_once_without_retry() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(failure(false, false, 1, 5))
            .then_expect_events(vec![WriteBackEvent::WriteBackFailed {
                reason: "boom".into(),
                retryable: false,
                failed_at: at(1),
            }]);
    }

    #[test]
    fn transient_failures_that_did_not_apply_give_up_after_the_last_attempt() {
        WriteBackTest::with(())
            .given(vec![
                requested(),
                started(1, 0, false),
                retry(1, false, false, 1),
                started(2, 11, false),
            ])
            .when(failure(true, false, 12, 2))
            .then_expect_events(vec![WriteBackEvent::WriteBackFailed {
                reason: "boom".into(),
                retryable: true,
                failed_at: at(12),
            }]);
    }

    #[test]
    fn a_write_that_may_have_applied_is_never_failed_when_attempts_run_out_only_read_back() {
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false)])
            .when(failure(true, true, 1, 1))
            .then_expect_events(vec![retry(1, true, true, 1)]);
        WriteBackTest::with(())
            .given(vec![
                requested(),
                started(1, 0, false),
                retry(1, true, true, 1),
            ])
            .when(start(11))
            .then_expect_events(vec![started_only(2, 11, true, true)]);
    }

    #[test]
    fn a_second_success_with_another_remote_id_is_refused() {
        let succeeded = WriteBackEvent::WriteBackSucceeded {
            remote_id: "a1".into(),
            confirmed_by_read_back: false,
            succeeded_at: at(1),
        };
        WriteBackTest::with(())
            .given(vec![requested(), started(1, 0, false), succeeded])
            .when(WriteBackCommand::RecordSuccess {
                remote_id: "a2".into(),
                confirmed_by_read_back: true,
                at: at(2),
            })
            .then_expect_error(WriteBackError::SucceededAs("a1".into()));
    }
}
