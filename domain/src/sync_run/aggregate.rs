use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{SyncOutcome, SyncRunCommand, SyncRunError, SyncRunEvent, SyncStatus};

/// One sync execution.
///
/// Invariants: events come in the order started → pages, failures and vanished counts →
/// completed or failed, and nothing follows the end; the outcome of the end event is the sum
/// of the page tallies before it, so the log cannot disagree with the pages it lists.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    status: SyncStatus,
    pages: u32,
    outcome: SyncOutcome,
}

impl SyncRun {
    pub fn status(&self) -> SyncStatus {
        self.status
    }

    /// Tallies so far (the whole run once it ended).
    pub fn outcome(&self) -> SyncOutcome {
        self.outcome
    }

    fn ensure_running(&self) -> Result<(), SyncRunError> {
        if self.status == SyncStatus::Running {
            Ok(())
        } else {
            Err(SyncRunError::NotRunning)
        }
    }
}

impl Aggregate for SyncRun {
    const TYPE: &'static str = "SyncRun";
    type Command = SyncRunCommand;
    type Event = SyncRunEvent;
    type Error = SyncRunError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            SyncRunCommand::Start {
                source,
                resource,
                mode,
                trigger,
                updated_since,
                started_at,
            } => {
                if self.status != SyncStatus::Pending {
                    return Err(SyncRunError::AlreadyStarted);
                }
                let event = SyncRunEvent::SyncRunStarted {
                    source,
                    resource,
                    mode,
                    trigger,
                    updated_since,
                    started_at,
                };
                sink.write(event, self).await;
            }
            SyncRunCommand::RecordPage {
                tally,
                failures,
                recorded_at,
            } => {
                self.ensure_running()?;
                let page = self.pages + 1;
                let event = SyncRunEvent::SyncPageProcessed {
                    page,
                    tally,
                    recorded_at,
                };
                sink.write(event, self).await;
                for failure in failures {
                    let event = SyncRunEvent::SyncRecordFailed {
                        external_id: failure.external_id,
                        reason: failure.reason,
                        recorded_at,
                    };
                    sink.write(event, self).await;
                }
            }
            SyncRunCommand::RecordVanished { count, recorded_at } => {
                self.ensure_running()?;
                if count > 0 {
                    let event = SyncRunEvent::SyncVanishedRecorded { count, recorded_at };
                    sink.write(event, self).await;
                }
            }
            SyncRunCommand::Complete {
                resume_from,
                finished_at,
            } => {
                self.ensure_running()?;
                let event = SyncRunEvent::SyncRunCompleted {
                    outcome: self.outcome,
                    resume_from,
                    finished_at,
                };
                sink.write(event, self).await;
            }
            SyncRunCommand::Fail { error, finished_at } => {
                self.ensure_running()?;
                let event = SyncRunEvent::SyncRunFailed {
                    outcome: self.outcome,
                    error,
                    finished_at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SyncRunEvent::SyncRunStarted { .. } => self.status = SyncStatus::Running,
            SyncRunEvent::SyncPageProcessed { page, tally, .. } => {
                self.pages = page;
                self.outcome.add(&tally);
            }
            // Already counted in its page's tally.
            SyncRunEvent::SyncRecordFailed { .. } => {}
            SyncRunEvent::SyncVanishedRecorded { count, .. } => self.outcome.vanished += count,
            SyncRunEvent::SyncRunCompleted { outcome, .. } => {
                self.outcome = outcome;
                self.status = if outcome.failed > 0 {
                    SyncStatus::Partial
                } else {
                    SyncStatus::Success
                };
            }
            SyncRunEvent::SyncRunFailed { outcome, .. } => {
                self.outcome = outcome;
                self.status = SyncStatus::Failed;
            }
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::sync_run::{RecordFailure, SyncMode, SyncResource, SyncTrigger};
    use crate::CrmSource;

    type SyncRunTest = TestFramework<SyncRun>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn started() -> SyncRunEvent {
        SyncRunEvent::SyncRunStarted {
            source: CrmSource::JobNimbus,
            resource: SyncResource::Jobs,
            mode: SyncMode::Incremental,
            trigger: SyncTrigger::Scheduled,
            updated_since: Some(at(-900)),
            started_at: at(0),
        }
    }

    fn tally(created: u64, updated: u64, unchanged: u64, failed: u64) -> SyncOutcome {
        SyncOutcome {
            fetched: created + updated + unchanged + failed,
            created,
            updated,
            unchanged,
            failed,
            vanished: 0,
        }
    }

    fn page(n: u32, tally: SyncOutcome) -> SyncRunEvent {
        SyncRunEvent::SyncPageProcessed {
            page: n,
            tally,
            recorded_at: at(n.into()),
        }
    }

    #[test]
    fn a_page_with_failures_records_each_failure_after_the_page() {
        SyncRunTest::with(())
            .given(vec![started()])
            .when(SyncRunCommand::RecordPage {
                tally: tally(1, 0, 0, 1),
                failures: vec![RecordFailure {
                    external_id: Some("3pg".into()),
                    reason: "a job snapshot needs a non-empty name".into(),
                }],
                recorded_at: at(1),
            })
            .then_expect_events(vec![
                page(1, tally(1, 0, 0, 1)),
                SyncRunEvent::SyncRecordFailed {
                    external_id: Some("3pg".into()),
                    reason: "a job snapshot needs a non-empty name".into(),
                    recorded_at: at(1),
                },
            ]);
    }

    #[test]
    fn completion_sums_every_page_and_the_vanished_count() {
        let mut expected = tally(3, 2, 10, 1);
        expected.vanished = 4;
        SyncRunTest::with(())
            .given(vec![
                started(),
                page(1, tally(1, 2, 5, 0)),
                page(2, tally(2, 0, 5, 1)),
                SyncRunEvent::SyncVanishedRecorded {
                    count: 4,
                    recorded_at: at(3),
                },
            ])
            .when(SyncRunCommand::Complete {
                resume_from: Some(at(-5)),
                finished_at: at(4),
            })
            .then_expect_events(vec![SyncRunEvent::SyncRunCompleted {
                outcome: expected,
                resume_from: Some(at(-5)),
                finished_at: at(4),
            }]);
    }

    #[test]
    fn a_failed_run_keeps_what_was_tallied_before_it_stopped() {
        SyncRunTest::with(())
            .given(vec![started(), page(1, tally(5, 0, 0, 0))])
            .when(SyncRunCommand::Fail {
                error: "JobNimbus answered 503 five times".into(),
                finished_at: at(9),
            })
            .then_expect_events(vec![SyncRunEvent::SyncRunFailed {
                outcome: tally(5, 0, 0, 0),
                error: "JobNimbus answered 503 five times".into(),
                finished_at: at(9),
            }]);
    }

    #[test]
    fn nothing_is_recorded_before_the_start_or_after_the_end() {
        SyncRunTest::with(())
            .given_no_previous_events()
            .when(SyncRunCommand::RecordPage {
                tally: tally(1, 0, 0, 0),
                failures: vec![],
                recorded_at: at(1),
            })
            .then_expect_error(SyncRunError::NotRunning);
        SyncRunTest::with(())
            .given(vec![
                started(),
                SyncRunEvent::SyncRunCompleted {
                    outcome: SyncOutcome::default(),
                    resume_from: None,
                    finished_at: at(1),
                },
            ])
            .when(SyncRunCommand::Fail {
                error: "late".into(),
                finished_at: at(2),
            })
            .then_expect_error(SyncRunError::NotRunning);
    }

    #[test]
    fn a_run_starts_once() {
        SyncRunTest::with(())
            .given(vec![started()])
            .when(SyncRunCommand::Start {
                source: CrmSource::JobNimbus,
                resource: SyncResource::Jobs,
                mode: SyncMode::Full,
                trigger: SyncTrigger::Manual,
                updated_since: None,
                started_at: at(5),
            })
            .then_expect_error(SyncRunError::AlreadyStarted);
    }
}
