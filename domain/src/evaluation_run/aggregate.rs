use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{EvaluationRunCommand, EvaluationRunError, EvaluationRunEvent};

/// One evaluation pass.
///
/// Invariant: a run holds exactly one `EvaluationRunCompleted`, whose finish is not before
/// its start.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRun {
    recorded: bool,
}

impl Aggregate for EvaluationRun {
    const TYPE: &'static str = "EvaluationRun";
    type Command = EvaluationRunCommand;
    type Event = EvaluationRunEvent;
    type Error = EvaluationRunError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let EvaluationRunCommand::RecordCompleted {
            trigger,
            scope,
            evaluated_at,
            started_at,
            finished_at,
            jobs_checked,
            outcomes_changed,
            failed,
        } = command;
        if self.recorded {
            return Err(EvaluationRunError::AlreadyRecorded);
        }
        if finished_at < started_at {
            return Err(EvaluationRunError::FinishedBeforeStart {
                started_at,
                finished_at,
            });
        }
        let event = EvaluationRunEvent::EvaluationRunCompleted {
            trigger,
            scope,
            evaluated_at,
            started_at,
            finished_at,
            jobs_checked,
            outcomes_changed,
            failed,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            EvaluationRunEvent::EvaluationRunCompleted { .. } => self.recorded = true,
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::evaluation_run::{EvaluationScope, EvaluationTrigger};

    type RunTest = TestFramework<EvaluationRun>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
    }

    fn completed(started: i64, finished: i64) -> EvaluationRunCommand {
        EvaluationRunCommand::RecordCompleted {
            trigger: EvaluationTrigger::Scheduled,
            scope: EvaluationScope::AllJobs,
            evaluated_at: at(started),
            started_at: at(started),
            finished_at: at(finished),
            jobs_checked: 3,
            outcomes_changed: 1,
            failed: 0,
        }
    }

    fn recorded(started: i64, finished: i64) -> EvaluationRunEvent {
        EvaluationRunEvent::EvaluationRunCompleted {
            trigger: EvaluationTrigger::Scheduled,
            scope: EvaluationScope::AllJobs,
            evaluated_at: at(started),
            started_at: at(started),
            finished_at: at(finished),
            jobs_checked: 3,
            outcomes_changed: 1,
            failed: 0,
        }
    }

    #[test]
    fn a_completed_run_is_recorded_with_its_tallies() {
        RunTest::with(())
            .given_no_previous_events()
            .when(completed(0, 2))
            .then_expect_events(vec![recorded(0, 2)]);
    }

    #[test]
    fn a_run_is_recorded_only_once() {
        RunTest::with(())
            .given(vec![recorded(0, 2)])
            .when(completed(0, 2))
            .then_expect_error(EvaluationRunError::AlreadyRecorded);
    }

    #[test]
    fn a_run_that_finishes_before_it_starts_is_refused() {
        RunTest::with(())
            .given_no_previous_events()
            .when(completed(5, 4))
            .then_expect_error(EvaluationRunError::FinishedBeforeStart {
                started_at: at(5),
                finished_at: at(4),
            });
    }
}
