use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{JobCommand, JobError, JobEvent, JobFile, JobSnapshot};
use crate::qc::QcCategory;

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
    /// The files the CRM last listed on the job, by file id.
    #[serde(default)]
    files: BTreeMap<String, HeldFile>,
}

/// A file as last listed, with the QC category last recorded for it (photos only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldFile {
    pub file: JobFile,
    pub qc_category: Option<QcCategory>,
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

    /// The files the CRM last listed on the job, by file id.
    pub fn files(&self) -> &BTreeMap<String, HeldFile> {
        &self.files
    }

    /// Records the CRM's complete listing of the job's files: new ones are attached, changed
    /// ones changed, missing ones removed, and unchanged photos whose category no longer
    /// matches the job's dates reclassified. An identical listing appends nothing.
    async fn record_files(
        &mut self,
        files: Vec<JobFile>,
        observed_at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) -> Result<(), JobError> {
        let Some(snapshot) = &self.snapshot else {
            return Err(JobError::FilesOfUnrecordedJob);
        };
        let dates = snapshot.dates();
        let mut listed = HashSet::with_capacity(files.len());
        for file in &files {
            if file.file_id.trim().is_empty() {
                return Err(JobError::FileWithoutId);
            }
            if file.filename.trim().is_empty() {
                return Err(JobError::FileWithoutName(file.file_id.clone()));
            }
            // A listing naming a file twice is a broken listing, not two versions of it:
            // which one to believe cannot be decided here.
            if !listed.insert(file.file_id.clone()) {
                return Err(JobError::FileListedTwice(file.file_id.clone()));
            }
        }
        let mut events = Vec::new();
        for file in files {
            let qc_category = file.qc_category(dates);
            match self.files.get(&file.file_id) {
                None => events.push(JobEvent::JobFileAttached {
                    file,
                    qc_category,
                    observed_at,
                }),
                Some(held) => {
                    let changed = held.file.changed_fields(&file);
                    if !changed.is_empty() {
                        events.push(JobEvent::JobFileChanged {
                            file,
                            changed,
                            qc_category,
                            observed_at,
                        });
                    } else if let Some(event) = reclassified(held, dates, observed_at) {
                        events.push(event);
                    }
                }
            }
        }
        for (file_id, held) in &self.files {
            if !listed.contains(file_id) {
                events.push(JobEvent::JobFileRemoved {
                    file: held.file.clone(),
                    observed_at,
                });
            }
        }
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    /// After the job's dates changed: every held photo whose category they change.
    fn reclassify_photos(&self, observed_at: DateTime<Utc>) -> Vec<JobEvent> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let dates = snapshot.dates();
        self.files
            .values()
            .filter_map(|held| reclassified(held, dates, observed_at))
            .collect()
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
                    // Photos are placed against the job's dates: when those move, the held
                    // photos' categories are decided again now, not at the next files pull.
                    for event in self.reclassify_photos(observed_at) {
                        sink.write(event, self).await;
                    }
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
            JobCommand::RecordPulledFiles { files, observed_at } => {
                self.record_files(files, observed_at, sink).await
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
            JobEvent::JobFileAttached {
                file, qc_category, ..
            }
            | JobEvent::JobFileChanged {
                file, qc_category, ..
            } => {
                self.files
                    .insert(file.file_id.clone(), HeldFile { file, qc_category });
            }
            JobEvent::JobFileRemoved { file, .. } => {
                self.files.remove(&file.file_id);
            }
            JobEvent::JobPhotoReclassified { file_id, to, .. } => {
                if let Some(held) = self.files.get_mut(&file_id) {
                    held.qc_category = Some(to);
                }
            }
        }
    }
}

/// The reclassification of an unchanged held photo, if `dates` give it another category.
fn reclassified(
    held: &HeldFile,
    dates: crate::qc::JobDates,
    observed_at: DateTime<Utc>,
) -> Option<JobEvent> {
    let from = held.qc_category?;
    let to = held.file.qc_category(dates)?;
    (from != to).then(|| JobEvent::JobPhotoReclassified {
        file_id: held.file.file_id.clone(),
        from,
        to,
        observed_at,
    })
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::job::{FileKind, JobField, JobFileField};

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

    // ----- files -----

    const START: i64 = 1_000;
    const END: i64 = 5_000;

    fn dated_snapshot(start: Option<i64>, end: Option<i64>) -> JobSnapshot {
        JobSnapshot {
            started_at: start.map(at),
            completed_at: end.map(at),
            is_archived: false,
            ..snapshot("Sold")
        }
    }

    fn photo(id: &str, description: Option<&str>, captured: i64) -> JobFile {
        JobFile {
            file_id: id.into(),
            kind: FileKind::Photo,
            filename: format!("IMG_{id}.jpg"),
            content_type: Some("image/jpeg".into()),
            size_bytes: Some(2_000_000),
            description: description.map(str::to_owned),
            tags: Vec::new(),
            file_type: Some("Photo".into()),
            is_private: false,
            created_at: Some(at(captured + 600)),
            captured_at: Some(at(captured)),
        }
    }

    fn document(id: &str) -> JobFile {
        JobFile {
            file_id: id.into(),
            kind: FileKind::Document,
            filename: "Signed contract.pdf".into(),
            content_type: Some("application/pdf".into()),
            size_bytes: Some(180_000),
            description: None,
            tags: Vec::new(),
            file_type: Some("Document".into()),
            is_private: true,
            created_at: Some(at(10)),
            captured_at: None,
        }
    }

    fn files(files: Vec<JobFile>, observed: i64) -> JobCommand {
        JobCommand::RecordPulledFiles {
            files,
            observed_at: at(observed),
        }
    }

    fn attached(file: JobFile, qc_category: Option<QcCategory>) -> JobEvent {
        JobEvent::JobFileAttached {
            file,
            qc_category,
            observed_at: at(100),
        }
    }

    /// A job with dates START..END holding an undescribed photo taken between them and a
    /// document, both recorded at 100.
    fn job_with_files() -> Vec<JobEvent> {
        vec![
            recorded(dated_snapshot(Some(START), Some(END))),
            attached(photo("p1", None, START + 10), Some(QcCategory::During)),
            attached(document("d1"), None),
        ]
    }

    #[test]
    fn a_first_listing_attaches_every_file_with_the_photos_category() {
        JobTest::with(())
            .given(vec![recorded(dated_snapshot(Some(START), Some(END)))])
            .when(files(
                vec![
                    photo("p1", None, START + 10),
                    photo("p2", Some("Before tear-off"), START + 10),
                    photo("p3", None, END + 10),
                    document("d1"),
                ],
                100,
            ))
            .then_expect_events(vec![
                attached(photo("p1", None, START + 10), Some(QcCategory::During)),
                attached(
                    photo("p2", Some("Before tear-off"), START + 10),
                    Some(QcCategory::Before),
                ),
                attached(photo("p3", None, END + 10), Some(QcCategory::After)),
                attached(document("d1"), None),
            ]);
    }

    #[test]
    fn an_identical_listing_appends_nothing() {
        JobTest::with(())
            .given(job_with_files())
            .when(files(
                vec![document("d1"), photo("p1", None, START + 10)],
                200,
            ))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_changed_file_names_its_changed_fields_and_its_new_category() {
        let mut retitled = photo("p1", Some("Final walkthrough"), START + 10);
        retitled.size_bytes = Some(1_000);
        JobTest::with(())
            .given(job_with_files())
            .when(files(vec![retitled.clone(), document("d1")], 200))
            .then_expect_events(vec![JobEvent::JobFileChanged {
                file: retitled,
                changed: vec![JobFileField::SizeBytes, JobFileField::Description],
                qc_category: Some(QcCategory::After),
                observed_at: at(200),
            }]);
    }

    #[test]
    fn a_file_missing_from_the_listing_is_removed_and_a_new_one_attached() {
        JobTest::with(())
            .given(job_with_files())
            .when(files(vec![document("d1"), document("d2")], 200))
            .then_expect_events(vec![
                JobEvent::JobFileAttached {
                    file: document("d2"),
                    qc_category: None,
                    observed_at: at(200),
                },
                JobEvent::JobFileRemoved {
                    file: photo("p1", None, START + 10),
                    observed_at: at(200),
                },
            ]);
    }

    #[test]
    fn an_empty_listing_removes_every_held_file() {
        JobTest::with(())
            .given(job_with_files())
            .when(files(vec![], 200))
            .then_expect_events(vec![
                JobEvent::JobFileRemoved {
                    file: document("d1"),
                    observed_at: at(200),
                },
                JobEvent::JobFileRemoved {
                    file: photo("p1", None, START + 10),
                    observed_at: at(200),
                },
            ]);
    }

    #[test]
    fn moved_job_dates_reclassify_the_held_photos_with_the_snapshot_change() {
        // The work now starts after the photo was taken: it shows the job before.
        let later = dated_snapshot(Some(START + 100), Some(END));
        JobTest::with(())
            .given(job_with_files())
            .when(pulled(later.clone(), true, 300))
            .then_expect_events(vec![
                JobEvent::JobSnapshotChanged {
                    snapshot: later,
                    changed: vec![JobField::StartedAt],
                    observed_at: at(300),
                },
                JobEvent::JobPhotoReclassified {
                    file_id: "p1".into(),
                    from: QcCategory::During,
                    to: QcCategory::Before,
                    observed_at: at(300),
                },
            ]);
    }

    #[test]
    fn a_date_change_that_keeps_every_category_reclassifies_nothing() {
        let longer = dated_snapshot(Some(START), Some(END + 86_400));
        JobTest::with(())
            .given(job_with_files())
            .when(pulled(longer.clone(), true, 300))
            .then_expect_events(vec![JobEvent::JobSnapshotChanged {
                snapshot: longer,
                changed: vec![JobField::CompletedAt],
                observed_at: at(300),
            }]);
    }

    #[test]
    fn a_listing_reclassifies_an_unchanged_photo_whose_recorded_category_is_stale() {
        // Recorded as UNCLASSIFIED (say, by an older rule); the job's dates now place it.
        JobTest::with(())
            .given(vec![
                recorded(dated_snapshot(Some(START), Some(END))),
                attached(
                    photo("p1", None, START + 10),
                    Some(QcCategory::Unclassified),
                ),
            ])
            .when(files(vec![photo("p1", None, START + 10)], 200))
            .then_expect_events(vec![JobEvent::JobPhotoReclassified {
                file_id: "p1".into(),
                from: QcCategory::Unclassified,
                to: QcCategory::During,
                observed_at: at(200),
            }]);
    }

    #[test]
    fn files_of_a_job_never_recorded_are_refused() {
        JobTest::with(())
            .given_no_previous_events()
            .when(files(vec![document("d1")], 0))
            .then_expect_error(JobError::FilesOfUnrecordedJob);
    }

    #[test]
    fn a_broken_listing_is_refused_whole() {
        let mut nameless = document("d2");
        nameless.filename = "  ".into();
        let mut idless = document("d2");
        idless.file_id = "".into();
        for (listing, error) in [
            (
                vec![document("d1"), document("d1")],
                JobError::FileListedTwice("d1".into()),
            ),
            (vec![nameless], JobError::FileWithoutName("d2".into())),
            (vec![document("d1"), idless], JobError::FileWithoutId),
        ] {
            JobTest::with(())
                .given(job_with_files())
                .when(files(listing, 200))
                .then_expect_error(error);
        }
    }

    #[test]
    fn a_snapshot_stored_before_job_dates_existed_reads_without_them() {
        let mut stored = serde_json::to_value(snapshot("Lead")).unwrap();
        let object = stored.as_object_mut().unwrap();
        object.remove("started_at");
        object.remove("completed_at");
        let read: JobSnapshot = serde_json::from_value(stored).unwrap();
        assert_eq!(read, snapshot("Lead"));
    }
}
