//! Scheduled syncs: which mode a tick picks, and that a tick runs once across instances.

use std::time::Duration;

use adapters::jobnimbus::sandbox::{FaultConfig, Resource};
use domain::{SyncMode, SyncResource, SyncStatus};
use serde_json::json;
use unified_crm::scheduler::{ScheduledSync, TickOutcome};

use crate::support::crm;
use crate::support::{Backend, TestDb};

on_both_backends!(
    the_first_tick_reads_everything_and_the_next_only_what_changed,
    a_tick_reconciles_once_the_last_complete_scan_is_too_old,
    instances_ticking_together_run_the_tick_once,
);

fn scheduled(t: &TestDb, sandbox: &adapters::jobnimbus::sandbox::RunningSandbox) -> ScheduledSync {
    ScheduledSync {
        engine: crm::engine(t, sandbox),
        db: t.db.clone(),
        reconcile_every: Duration::from_secs(24 * 3_600),
        hold_at_least: Duration::ZERO,
    }
}

/// The runs of a tick that ran, by resource, each expected to have succeeded.
fn ran(outcome: TickOutcome) -> Vec<(SyncResource, adapters::sync::SyncReport)> {
    match outcome {
        TickOutcome::Ran(results) => results
            .into_iter()
            .map(|(resource, result)| (resource, result.expect("run")))
            .collect(),
        TickOutcome::Skipped => panic!("the tick was skipped"),
    }
}

async fn the_first_tick_reads_everything_and_the_next_only_what_changed(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(120, 40, FaultConfig::default()).await;
    let sync = scheduled(&t, &sandbox);

    let first = ran(sync.tick().await.unwrap());
    assert_eq!(first[0].0, SyncResource::Jobs);
    assert_eq!(first[0].1.outcome.created, 120);
    assert_eq!(first[1].0, SyncResource::Contacts);
    assert_eq!(first[1].1.outcome.created, 40);
    assert!(first.iter().all(|(_, r)| r.updated_since.is_none()));

    sandbox.handle().advance_clock(60);
    let jnid = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
    sandbox
        .handle()
        .update(Resource::Jobs, &jnid, json!({ "description": "moved" }))
        .unwrap();
    let second = ran(sync.tick().await.unwrap());
    let jobs = &second[0].1;
    assert_eq!(jobs.request.mode, SyncMode::Incremental);
    assert!(jobs.updated_since.is_some());
    assert_eq!(jobs.outcome.updated, 1);
    assert_eq!(jobs.outcome.created, 0);
}

async fn a_tick_reconciles_once_the_last_complete_scan_is_too_old(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(50, 10, FaultConfig::default()).await;
    let mut sync = scheduled(&t, &sandbox);
    ran(sync.tick().await.unwrap());
    let gone = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
    sandbox.handle().purge(Resource::Jobs, &gone);

    let fresh = ran(sync.tick().await.unwrap());
    assert_eq!(fresh[0].1.request.mode, SyncMode::Incremental);
    assert_eq!(fresh[0].1.outcome.vanished, 0);

    sync.reconcile_every = Duration::ZERO;
    let stale = ran(sync.tick().await.unwrap());
    assert_eq!(stale[0].1.request.mode, SyncMode::Reconcile);
    assert_eq!(stale[0].1.outcome.vanished, 1);
    assert_eq!(stale[0].1.status, SyncStatus::Success);
}

async fn instances_ticking_together_run_the_tick_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(30, 10, FaultConfig::default()).await;
    // Two instances on one database; their clocks fire the same tick half a second apart,
    // well inside the hold.
    let mut a = scheduled(&t, &sandbox);
    let mut b = scheduled(&t, &sandbox);
    a.hold_at_least = Duration::from_secs(2);
    b.hold_at_least = Duration::from_secs(2);
    let (first, second) = tokio::join!(a.tick(), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.tick().await
    });
    assert!(matches!(first.unwrap(), TickOutcome::Ran(_)));
    assert!(matches!(second.unwrap(), TickOutcome::Skipped));
}
