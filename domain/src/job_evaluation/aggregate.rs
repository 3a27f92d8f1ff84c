use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{JobEvaluationCommand, JobEvaluationError, JobEvaluationEvent};
use crate::qc::QcCheck;
use crate::risk::RiskAssessment;

/// The latest QC check and risk assessment of a job.
///
/// Invariant: an event is appended only when an outcome differs from the one held, so
/// re-evaluating an unchanged job appends nothing, and the stream is the list of changes.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvaluation {
    qc: Option<(QcCheck, DateTime<Utc>)>,
    risk: Option<(RiskAssessment, DateTime<Utc>)>,
}

impl JobEvaluation {
    pub fn qc(&self) -> Option<&QcCheck> {
        self.qc.as_ref().map(|(check, _)| check)
    }

    pub fn risk(&self) -> Option<&RiskAssessment> {
        self.risk.as_ref().map(|(assessment, _)| assessment)
    }

    /// The latest QC check and the evaluation that recorded it.
    pub fn qc_evaluated(&self) -> Option<(&QcCheck, DateTime<Utc>)> {
        self.qc.as_ref().map(|(check, at)| (check, *at))
    }

    /// The latest risk assessment and the evaluation that recorded it.
    pub fn risk_evaluated(&self) -> Option<(&RiskAssessment, DateTime<Utc>)> {
        self.risk.as_ref().map(|(assessment, at)| (assessment, *at))
    }
}

/// Whether `outcome` at `at` changes what is held; refuses an evaluation older than it.
fn changes<T: PartialEq>(
    held: &Option<(T, DateTime<Utc>)>,
    outcome: &T,
    at: DateTime<Utc>,
) -> Result<bool, JobEvaluationError> {
    match held {
        None => Ok(true),
        Some((_, recorded)) if at < *recorded => Err(JobEvaluationError::Stale {
            offered: at,
            recorded: *recorded,
        }),
        Some((current, _)) => Ok(current != outcome),
    }
}

impl Aggregate for JobEvaluation {
    const TYPE: &'static str = "JobEvaluation";
    type Command = JobEvaluationCommand;
    type Event = JobEvaluationEvent;
    type Error = JobEvaluationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            JobEvaluationCommand::RecordQcCheck {
                check,
                evaluated_at,
            } => {
                if changes(&self.qc, &check, evaluated_at)? {
                    let event = JobEvaluationEvent::QcCheckChanged {
                        check,
                        evaluated_at,
                    };
                    sink.write(event, self).await;
                }
            }
            JobEvaluationCommand::RecordRiskAssessment {
                assessment,
                evaluated_at,
            } => {
                if changes(&self.risk, &assessment, evaluated_at)? {
                    let event = JobEvaluationEvent::RiskAssessmentChanged {
                        assessment,
                        evaluated_at,
                    };
                    sink.write(event, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            JobEvaluationEvent::QcCheckChanged {
                check,
                evaluated_at,
            } => self.qc = Some((check, evaluated_at)),
            JobEvaluationEvent::RiskAssessmentChanged {
                assessment,
                evaluated_at,
            } => self.risk = Some((assessment, evaluated_at)),
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::qc::{MissingCategory, PhotoCounts, QcCategory, QcStatus};
    use crate::risk::{RiskLevel, RiskReason, RiskRule};

    type EvaluationTest = TestFramework<JobEvaluation>;

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + hours * 3_600, 0).unwrap()
    }

    fn passing() -> QcCheck {
        QcCheck {
            status: QcStatus::Pass,
            photos: PhotoCounts {
                before: 2,
                ..PhotoCounts::default()
            },
            missing: Vec::new(),
        }
    }

    fn failing() -> QcCheck {
        QcCheck {
            status: QcStatus::Fail,
            photos: PhotoCounts::default(),
            missing: vec![MissingCategory {
                category: QcCategory::Before,
                required: 2,
                current: 0,
                missing: 2,
            }],
        }
    }

    fn stuck() -> RiskAssessment {
        RiskAssessment {
            level: RiskLevel::Medium,
            reasons: vec![RiskReason {
                rule: RiskRule::StuckInStatus,
                severity: RiskLevel::Medium,
                message: "In status \"Sold\" since 2026-11-10.".into(),
            }],
        }
    }

    fn qc(check: QcCheck, hours: i64) -> JobEvaluationCommand {
        JobEvaluationCommand::RecordQcCheck {
            check,
            evaluated_at: at(hours),
        }
    }

    fn qc_changed(check: QcCheck, hours: i64) -> JobEvaluationEvent {
        JobEvaluationEvent::QcCheckChanged {
            check,
            evaluated_at: at(hours),
        }
    }

    fn risk(assessment: RiskAssessment, hours: i64) -> JobEvaluationCommand {
        JobEvaluationCommand::RecordRiskAssessment {
            assessment,
            evaluated_at: at(hours),
        }
    }

    fn risk_changed(assessment: RiskAssessment, hours: i64) -> JobEvaluationEvent {
        JobEvaluationEvent::RiskAssessmentChanged {
            assessment,
            evaluated_at: at(hours),
        }
    }

    #[test]
    fn the_first_evaluation_is_recorded() {
        EvaluationTest::with(())
            .given_no_previous_events()
            .when(qc(failing(), 0))
            .then_expect_events(vec![qc_changed(failing(), 0)]);
        EvaluationTest::with(())
            .given_no_previous_events()
            .when(risk(RiskAssessment::none(), 0))
            .then_expect_events(vec![risk_changed(RiskAssessment::none(), 0)]);
    }

    #[test]
    fn the_same_outcome_later_appends_nothing() {
        EvaluationTest::with(())
            .given(vec![qc_changed(failing(), 0), risk_changed(stuck(), 0)])
            .when(qc(failing(), 24))
            .then_expect_events(vec![]);
        EvaluationTest::with(())
            .given(vec![qc_changed(failing(), 0), risk_changed(stuck(), 0)])
            .when(risk(stuck(), 24))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_different_outcome_is_recorded_with_its_time() {
        EvaluationTest::with(())
            .given(vec![qc_changed(failing(), 0)])
            .when(qc(passing(), 5))
            .then_expect_events(vec![qc_changed(passing(), 5)]);
        EvaluationTest::with(())
            .given(vec![risk_changed(stuck(), 0)])
            .when(risk(RiskAssessment::none(), 5))
            .then_expect_events(vec![risk_changed(RiskAssessment::none(), 5)]);
    }

    #[test]
    fn qc_and_risk_outcomes_are_held_apart() {
        EvaluationTest::with(())
            .given(vec![qc_changed(failing(), 0)])
            .when(risk(stuck(), 1))
            .then_expect_events(vec![risk_changed(stuck(), 1)]);
    }

    #[test]
    fn an_evaluation_older_than_the_recorded_one_is_refused() {
        EvaluationTest::with(())
            .given(vec![qc_changed(failing(), 10)])
            .when(qc(passing(), 9))
            .then_expect_error(JobEvaluationError::Stale {
                offered: at(9),
                recorded: at(10),
            });
    }
}
