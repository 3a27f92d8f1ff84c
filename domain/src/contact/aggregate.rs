use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{ContactCommand, ContactError, ContactEvent, ContactSnapshot};

/// A contact mirrored from a CRM.
///
/// Invariant: pulling a record identical to what we hold emits no event, so the event
/// history of a contact is exactly the list of changes its CRM showed us; and a contact
/// vanishes at most once until it is listed again.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// `None` until the first snapshot is recorded.
    snapshot: Option<ContactSnapshot>,
    active: bool,
    /// The last complete scan of the CRM did not list the contact.
    vanished: bool,
}

impl Contact {
    pub fn snapshot(&self) -> Option<&ContactSnapshot> {
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
        snapshot: ContactSnapshot,
        is_active: bool,
        observed_at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) -> Result<(), ContactError> {
        if snapshot.display_name.trim().is_empty() {
            return Err(ContactError::EmptyDisplayName);
        }
        // First, so that read models see the record back before they see what changed.
        if self.vanished {
            sink.write(ContactEvent::ContactReappeared { observed_at }, self)
                .await;
        }
        match &self.snapshot {
            None => {
                let event = ContactEvent::ContactSnapshotRecorded {
                    snapshot,
                    observed_at,
                };
                sink.write(event, self).await;
            }
            Some(current) => {
                let changed = current.changed_fields(&snapshot);
                if !changed.is_empty() {
                    let event = ContactEvent::ContactSnapshotChanged {
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
                sink.write(ContactEvent::ContactDeactivated { observed_at }, self)
                    .await
            }
            (false, true) => {
                sink.write(ContactEvent::ContactReactivated { observed_at }, self)
                    .await
            }
            _ => {}
        }
        Ok(())
    }
}

impl Aggregate for Contact {
    const TYPE: &'static str = "Contact";
    type Command = ContactCommand;
    type Event = ContactEvent;
    type Error = ContactError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ContactCommand::RecordPulledSnapshot {
                snapshot,
                is_active,
                observed_at,
            } => {
                self.record_pulled(snapshot, is_active, observed_at, sink)
                    .await
            }
            ContactCommand::RecordVanished { observed_at } => {
                if self.snapshot.is_none() {
                    return Err(ContactError::NeverRecorded);
                }
                if !self.vanished {
                    sink.write(ContactEvent::ContactVanished { observed_at }, self)
                        .await;
                }
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ContactEvent::ContactSnapshotRecorded { snapshot, .. } => {
                self.snapshot = Some(snapshot);
                // A newly recorded contact is active until the CRM says otherwise.
                self.active = true;
            }
            ContactEvent::ContactSnapshotChanged { snapshot, .. } => self.snapshot = Some(snapshot),
            ContactEvent::ContactDeactivated { .. } => self.active = false,
            ContactEvent::ContactReactivated { .. } => self.active = true,
            ContactEvent::ContactVanished { .. } => self.vanished = true,
            ContactEvent::ContactReappeared { .. } => self.vanished = false,
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::contact::ContactField;

    type ContactTest = TestFramework<Contact>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn snapshot(status: &str) -> ContactSnapshot {
        ContactSnapshot {
            number: Some("2215".into()),
            first_name: Some("Maria".into()),
            last_name: Some("Hernandez".into()),
            display_name: "Maria Hernandez".into(),
            email: Some("maria.hernandez@example.com".into()),
            status: Some(status.into()),
            workflow: Some("Customer".into()),
            ..ContactSnapshot::default()
        }
    }

    fn pulled(snapshot: ContactSnapshot, is_active: bool, observed: i64) -> ContactCommand {
        ContactCommand::RecordPulledSnapshot {
            snapshot,
            is_active,
            observed_at: at(observed),
        }
    }

    fn vanish(observed: i64) -> ContactCommand {
        ContactCommand::RecordVanished {
            observed_at: at(observed),
        }
    }

    fn recorded(snapshot: ContactSnapshot) -> ContactEvent {
        ContactEvent::ContactSnapshotRecorded {
            snapshot,
            observed_at: at(0),
        }
    }

    fn vanished(observed: i64) -> ContactEvent {
        ContactEvent::ContactVanished {
            observed_at: at(observed),
        }
    }

    fn reappeared(observed: i64) -> ContactEvent {
        ContactEvent::ContactReappeared {
            observed_at: at(observed),
        }
    }

    #[test]
    fn first_pull_records_the_snapshot() {
        ContactTest::with(())
            .given_no_previous_events()
            .when(pulled(snapshot("Lead"), true, 0))
            .then_expect_events(vec![recorded(snapshot("Lead"))]);
    }

    #[test]
    fn first_pull_of_an_inactive_record_records_then_deactivates() {
        ContactTest::with(())
            .given_no_previous_events()
            .when(pulled(snapshot("Lead"), false, 0))
            .then_expect_events(vec![
                recorded(snapshot("Lead")),
                ContactEvent::ContactDeactivated { observed_at: at(0) },
            ]);
    }

    #[test]
    fn an_identical_pull_appends_nothing() {
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(snapshot("Lead"), true, 60))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_changed_pull_names_exactly_the_changed_fields() {
        let mut newer = snapshot("Active");
        newer.mobile_phone = Some("(303) 555-0147".into());
        newer.address.city = Some("Denver".into());
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(newer.clone(), true, 60))
            .then_expect_events(vec![ContactEvent::ContactSnapshotChanged {
                snapshot: newer,
                changed: vec![
                    ContactField::MobilePhone,
                    ContactField::Address,
                    ContactField::Status,
                ],
                observed_at: at(60),
            }]);
    }

    #[test]
    fn a_soft_delete_in_the_crm_deactivates_once() {
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(pulled(snapshot("Lead"), false, 60))
            .then_expect_events(vec![ContactEvent::ContactDeactivated {
                observed_at: at(60),
            }]);
        ContactTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                ContactEvent::ContactDeactivated {
                    observed_at: at(60),
                },
            ])
            .when(pulled(snapshot("Lead"), false, 120))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_undeleted_record_is_reactivated() {
        ContactTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                ContactEvent::ContactDeactivated {
                    observed_at: at(60),
                },
            ])
            .when(pulled(snapshot("Lead"), true, 120))
            .then_expect_events(vec![ContactEvent::ContactReactivated {
                observed_at: at(120),
            }]);
    }

    #[test]
    fn a_snapshot_without_a_display_name_is_refused() {
        let mut nameless = snapshot("Lead");
        nameless.display_name = " ".into();
        ContactTest::with(())
            .given_no_previous_events()
            .when(pulled(nameless.clone(), true, 0))
            .then_expect_error(ContactError::EmptyDisplayName);
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead")), vanished(60)])
            .when(pulled(nameless, true, 120))
            .then_expect_error(ContactError::EmptyDisplayName);
    }

    #[test]
    fn a_recorded_contact_missing_from_a_complete_scan_vanishes_once() {
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead"))])
            .when(vanish(60))
            .then_expect_events(vec![vanished(60)]);
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead")), vanished(60)])
            .when(vanish(120))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_contact_never_recorded_cannot_vanish() {
        ContactTest::with(())
            .given_no_previous_events()
            .when(vanish(0))
            .then_expect_error(ContactError::NeverRecorded);
    }

    #[test]
    fn a_vanished_contact_listed_again_reappears_before_its_changes() {
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead")), vanished(60)])
            .when(pulled(snapshot("Active"), false, 120))
            .then_expect_events(vec![
                reappeared(120),
                ContactEvent::ContactSnapshotChanged {
                    snapshot: snapshot("Active"),
                    changed: vec![ContactField::Status],
                    observed_at: at(120),
                },
                ContactEvent::ContactDeactivated {
                    observed_at: at(120),
                },
            ]);
    }

    #[test]
    fn a_vanished_contact_listed_again_unchanged_only_reappears() {
        ContactTest::with(())
            .given(vec![recorded(snapshot("Lead")), vanished(60)])
            .when(pulled(snapshot("Lead"), true, 120))
            .then_expect_events(vec![reappeared(120)]);
    }

    #[test]
    fn a_contact_that_reappeared_can_vanish_again() {
        ContactTest::with(())
            .given(vec![
                recorded(snapshot("Lead")),
                vanished(60),
                reappeared(120),
            ])
            .when(vanish(180))
            .then_expect_events(vec![vanished(180)]);
    }
}
