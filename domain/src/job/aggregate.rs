use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{JobCommand, JobError, JobEvent, JobSnapshot};

/// A job mirrored from a CRM.
///
/// Invariant: pulling a record identical to what we hold emits no event, so the event
/// history of a job is exactly the list of changes its CRM showed us.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `None` until the first snapshot is recorded.
    snapshot: Option<JobSnapshot>,
    active: bool,
    /// The last complete scan of the CRM did not list the job.
    vanished: bool,
}

impl Job {
    pub fn snapshot(&self) -> Option<&JobSnapshot> {
        self.snapshot.as_ref()
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn is_vanished(&self) -> bool {
        self.vanished
    }

    async fn record_pulled(
        &mut self,
        snapshot: JobSnapshot,
        is_active: bool,
        observed_at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) -> Result<(), JobError> {
        if snapshot.name.trim().is_empty() {
            return Err(JobError::EmptyName);
        }
        if self.vanished {
            sink.write(JobEvent::JobReappeared { observed_at }, self)
                .await;
        }
        match &self.snapshot {
            None => {
                let event = JobEvent::JobSnapshotRecorded {
                    snapshot,
                    observed_at,
                };
                sink.write(event, self).await;
            }
            Some(current) => {
                let changed = current.changed_fields(&snapshot);
                if !changed.is_empty() {
                    let event = JobEvent::JobSnapshotChanged {
                        snapshot,
                        changed,
                        observed_at,
                    };
                    sink.write(event, self).await;
                }
            }
        }
        match (self.active, is_active) {
            (true, false) => {
                sink.write(JobEvent::JobDeactivated { observed_at }, self)
                    .await
            }
            (false, true) => {
                sink.write(JobEvent::JobReactivated { observed_at }, self)
                    .await
            }
            _ => {}
        }
        Ok(())
    }
}

impl Aggregate for Job {
    const TYPE: &'static str = "Job";
    type Command = JobCommand;
    type Event = JobEvent;
    type Error = JobError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            JobCommand::RecordPulledSnapshot {
                snapshot,
                is_active,
                observed_at,
            } => {
                self.record_pulled(snapshot, is_active, observed_at, sink)
                    .await
            }
            JobCommand::RecordVanished { observed_at } => {
                if self.snapshot.is_none() {
                    return Err(JobError::NeverRecorded);
                }
                if !self.vanished {
                    sink.write(JobEvent::JobVanished { observed_at }, self)
                        .await;
                }
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            JobEvent::JobSnapshotRecorded { snapshot, .. } => {
                self.snapshot = Some(snapshot);
                // A newly recorded job is active until the CRM says otherwise.
                self.active = true;
            }
            JobEvent::JobSnapshotChanged { snapshot, .. } => self.snapshot = Some(snapshot),
            JobEvent::JobDeactivated { .. } => self.active = false,
            JobEvent::JobReactivated { .. } => self.active = true,
            JobEvent::JobVanished { .. } => self.vanished = true,
            JobEvent::JobReappeared { .. } => self.vanished = false,
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::job::JobField;

    type JobTest = TestFramework<Job>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn snapshot(status: &str) -> JobSnapshot {
        JobSnapshot {
            number: Some("1001".into()),
            name: "Roof replacement – Smith".into(),
            status: Some(status.into()),
            workflow: Some("Residential".into()),
            ..JobSnapshot::default()
        }
    }

    fn pulled(snapshot: JobSnapshot, is_active: bool, observed: i64) -> JobCommand {
        JobCommand::RecordPulledSnapshot {
            snapshot,
            is_active,
            observed_at: at(observed),
        }
    }

    fn recorded(snapshot: JobSnapshot) -> JobEvent {
        JobEvent::JobSnapshotRecorded {
            snapshot,
            observed_at: at(0),
        }
    }

    #[test]
    fn first_pull_records_the_snapshot() {
        JobTest::with(())
            .given_no_previous_events()
            .when(pulled(snapshot("Lead"), true, 0))
            .then_expect_events(vec![recorded(snapshot("Lead"))]);
    }

    #[test]
    fn first_pull_of_an_inactive_record_records_then_deactivates() {
        JobTest::with(())
            .given_no_previous_events()
            .when(pulled(snapshot("Lead"), false, 0))
            .then_expect_events(vec![
                recorded(snapshot("Lead")),
                JobEvent::JobDeactivated { observed_at: at(0) },
            ]);
    }

    #[test]
    fn an_identical_pull_appends_nothing() {
        JobTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(snapshot("Lead"), true, 60))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_changed_pull_names_exactly_the_changed_fields() {
        let mut newer = snapshot("Sold");
        newer.address.city = Some("Denver".into());
        JobTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(newer.clone(), true, 60))
            .then_expect_events(vec![JobEvent::JobSnapshotChanged {
                snapshot: newer,
                changed: vec![JobField::Status, JobField::Address],
                observed_at: at(60),
            }]);
    }

    #[test]
    fn a_soft_delete_in_the_crm_deactivates_once() {
        JobTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(snapshot("Lead"), false, 60))
            .then_expect_events(vec![JobEvent::JobDeactivated {
                observed_at: at(60),
            }]);
        JobTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                JobEvent::JobDeactivated {
                    observed_at: at(60),
                },
            ])
            .when(pulled(snapshot("Lead"), false, 120))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_undeleted_record_is_reactivated() {
        JobTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                JobEvent::JobDeactivated {
                    observed_at: at(60),
                },
            ])
            .when(pulled(snapshot("Lead"), true, 120))
            .then_expect_events(vec![JobEvent::JobReactivated {
                observed_at: at(120),
            }]);
    }

    #[test]
    fn a_snapshot_without_a_name_is_refused() {
        let mut nameless = snapshot("Lead");
        nameless.name = " ".into();
        JobTest::with(())
            .given_no_previous_events()
            .when(pulled(nameless, true, 0))
            .then_expect_error(JobError::EmptyName);
    }

    #[test]
    fn a_recorded_job_missing_from_a_complete_scan_vanishes_once() {
        JobTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(JobCommand::RecordVanished {
                observed_at: at(60),
            })
            .then_expect_events(vec![JobEvent::JobVanished {
                observed_at: at(60),
            }]);
        JobTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                JobEvent::JobVanished {
                    observed_at: at(60),
                },
            ])
            .when(JobCommand::RecordVanished {
                observed_at: at(120),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_job_never_recorded_cannot_vanish() {
        JobTest::with(())
            .given_no_previous_events()
            .when(JobCommand::RecordVanished { observed_at: at(0) })
            .then_expect_error(JobError::NeverRecorded);
    }

    #[test]
    fn a_vanished_job_listed_again_reappears_before_its_changes() {
        JobTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                JobEvent::JobVanished {
                    observed_at: at(60),
                },
            ])
            .when(pulled(snapshot("Sold"), true, 120))
            .then_expect_events(vec![
                JobEvent::JobReappeared {
                    observed_at: at(120),
                },
                JobEvent::JobSnapshotChanged {
                    snapshot: snapshot("Sold"),
                    changed: vec![JobField::Status],
                    observed_at: at(120),
                },
            ]);
    }
}
