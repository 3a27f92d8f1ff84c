//! Batched command execution: same decisions as one-by-one, one append per page, and a
//! safe fallback when another writer gets in between.

use std::collections::HashMap;

use adapters::store::{BatchExecutor, CommandBus, CommandOutcome, EventLog};
use domain::{Job, JobCommand, JobEvent};

use crate::support::fixtures::{at, job_id, pulled, snapshot};
use crate::support::{Backend, TestDb};

on_both_backends!(
    a_page_appends_each_decision_once_and_an_identical_page_appends_nothing,
    only_changes_and_soft_deletes_append_events,
    a_refused_command_does_not_stop_the_rest_of_the_page,
    a_concurrent_append_sends_the_page_through_the_one_by_one_path,
    a_second_command_for_the_same_aggregate_sees_the_first,
    pipelined_pages_sharing_jobs_decide_as_if_run_one_after_another,
);

/// Pipelining decides page n+1 while page n is appended, so a job in both pages is decided
/// on a state that misses page n. The append must notice and redo it, leaving exactly what
/// running the pages one after another leaves.
async fn pipelined_pages_sharing_jobs_decide_as_if_run_one_after_another(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    // Jobs 0-9 are created on page 1 and change status on page 2; 10-19 only on page 2.
    let pages = vec![
        (0..10).map(|i| pulled(i, "Lead", true, 0)).collect(),
        (0..20).map(|i| pulled(i, "Sold", true, 60)).collect(),
        (0..20).map(|i| pulled(i, "Sold", true, 120)).collect(),
    ];

    let reports = executor.execute_pipelined(pages).await.unwrap();

    let appended: Vec<usize> = reports.iter().map(|r| r.events_appended).collect();
    assert_eq!(
        appended,
        [10, 20, 0],
        "create 10; change 10 + create 10; nothing"
    );
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for event in crate::projections::all_events(&t.db).await {
        *kinds.entry(event.event_type).or_default() += 1;
    }
    assert_eq!(kinds.get("JobSnapshotRecorded"), Some(&20));
    assert_eq!(kinds.get("JobSnapshotChanged"), Some(&10));
    assert_eq!(kinds.len(), 2, "{kinds:?}");
}

async fn a_page_appends_each_decision_once_and_an_identical_page_appends_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    let page = || (0..50).map(|i| pulled(i, "Lead", true, 0)).collect();

    let first = executor.execute(page()).await.unwrap();
    let second = executor.execute(page()).await.unwrap();

    assert_eq!(first.events_appended, 50);
    assert!(!first.fell_back);
    assert_eq!(second.events_appended, 0);
    assert!(second
        .outcomes
        .iter()
        .all(|o| matches!(o, CommandOutcome::Applied(events) if events.is_empty())));
    assert_eq!(EventLog::new(t.db.clone()).count().await.unwrap(), 50);
}

async fn only_changes_and_soft_deletes_append_events(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    executor
        .execute((0..20).map(|i| pulled(i, "Lead", true, 0)).collect())
        .await
        .unwrap();

    // Jobs 0-4 change status, 5-7 are soft-deleted in the CRM, the rest are unchanged.
    let page = (0..20)
        .map(|i| match i {
            0..=4 => pulled(i, "Sold", true, 60),
            5..=7 => pulled(i, "Lead", false, 60),
            _ => pulled(i, "Lead", true, 60),
        })
        .collect();
    let report = executor.execute(page).await.unwrap();

    assert_eq!(report.events_appended, 8);
    let kinds: Vec<&str> = report
        .outcomes
        .iter()
        .flat_map(|o| match o {
            CommandOutcome::Applied(events) => events.iter().map(kind).collect::<Vec<_>>(),
            CommandOutcome::Refused(e) => panic!("refused: {e}"),
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "changed").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "deactivated").count(), 3);
}

async fn a_refused_command_does_not_stop_the_rest_of_the_page(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    let mut page: Vec<_> = (0..3).map(|i| pulled(i, "Lead", true, 0)).collect();
    let JobCommand::RecordPulledSnapshot { snapshot, .. } = &mut page[1].command else {
        unreachable!("fixtures are pulled snapshots")
    };
    snapshot.name = String::new();

    let report = executor.execute(page).await.unwrap();

    assert!(matches!(report.outcomes[1], CommandOutcome::Refused(_)));
    assert_eq!(report.events_appended, 2);
}

async fn a_concurrent_append_sends_the_page_through_the_one_by_one_path(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    executor
        .execute(vec![pulled(3, "Lead", true, 0)])
        .await
        .unwrap();

    // The page decides against job 3 at version 1 ...
    let page = executor
        .prepare((0..10).map(|i| pulled(i, "Sold", true, 60)).collect())
        .await
        .unwrap();
    // ... then another writer changes job 3 before the page is appended.
    let bus = CommandBus::<Job>::new(&t.db, &t.signal);
    bus.execute(
        &job_id(3),
        JobCommand::RecordPulledSnapshot {
            snapshot: snapshot(3, "Estimating"),
            is_active: true,
            observed_at: at(30),
        },
        HashMap::new(),
    )
    .await
    .unwrap();
    let report = executor.commit(page).await.unwrap();

    assert!(report.fell_back, "the conflict must be detected");
    // Job 3: recorded, changed by the other writer, changed again by the page: no event
    // lost, none doubled, sequences contiguous.
    let sequences = sequences_of(&t, &job_id(3)).await;
    assert_eq!(sequences, vec![1, 2, 3]);
    for i in [0, 1, 2, 4, 9] {
        assert_eq!(sequences_of(&t, &job_id(i)).await, vec![1], "job {i}");
    }
    assert_eq!(report.events_appended, 10);
}

async fn a_second_command_for_the_same_aggregate_sees_the_first(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);

    let report = executor
        .execute(vec![
            pulled(1, "Lead", true, 0),
            pulled(1, "Lead", true, 10),
            pulled(1, "Sold", true, 20),
        ])
        .await
        .unwrap();

    assert_eq!(report.events_appended, 2, "recorded, unchanged, changed");
    assert_eq!(sequences_of(&t, &job_id(1)).await, vec![1, 2]);
}

fn kind(event: &JobEvent) -> &'static str {
    match event {
        JobEvent::JobSnapshotRecorded { .. } => "recorded",
        JobEvent::JobSnapshotChanged { .. } => "changed",
        JobEvent::JobDeactivated { .. } => "deactivated",
        JobEvent::JobReactivated { .. } => "reactivated",
        JobEvent::JobVanished { .. } => "vanished",
        JobEvent::JobReappeared { .. } => "reappeared",
        JobEvent::JobFileAttached { .. } => "file attached",
        JobEvent::JobFileChanged { .. } => "file changed",
        JobEvent::JobFileRemoved { .. } => "file removed",
        JobEvent::JobPhotoReclassified { .. } => "photo reclassified",
    }
}

async fn sequences_of(t: &TestDb, aggregate_id: &str) -> Vec<i64> {
    crate::projections::all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == aggregate_id)
        .map(|e| e.sequence)
        .collect()
}
