//! `SyncEngine::sync_once` against the JobNimbus sandbox: full, incremental and reconcile
//! runs, what they append, and the mirror they leave behind.

use std::collections::HashMap;
use std::time::Duration;

use adapters::jobnimbus::sandbox::{FaultConfig, Resource, RunningSandbox};
use adapters::store::StoredEvent;
use adapters::sync::{SyncEngine, SyncError, SyncRequest, SyncSettings};
use chrono::{DateTime, Utc};
use domain::{SyncMode, SyncResource, SyncStatus, SyncTrigger};
use serde_json::{json, Value};

use crate::projections::{all_events, last_position};
use crate::support::crm::{self, acceptance_faults};
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    a_full_sync_mirrors_every_job_and_a_second_sync_appends_nothing,
    an_incremental_sync_appends_exactly_the_edits_made_since,
    soft_deletes_in_the_crm_deactivate_and_undeletes_reactivate,
    reconcile_marks_purged_jobs_vanished_only_after_a_complete_scan,
    runs_of_one_resource_never_overlap,
    a_sync_of_30000_jobs_gets_past_the_10000_row_window,
    under_faults_a_full_sync_of_25000_jobs_and_10000_contacts_ends_equal_to_the_crm,
    contacts_sync_like_jobs_and_vanish_only_after_a_complete_scan,
    a_store_failure_mid_run_records_the_run_as_failed_not_running,
);

fn request(mode: SyncMode) -> SyncRequest {
    SyncRequest {
        resource: SyncResource::Jobs,
        mode,
        trigger: SyncTrigger::Manual,
    }
}

/// Job events only (the run and cursor record their own).
fn job_events(events: &[StoredEvent]) -> Vec<&StoredEvent> {
    events
        .iter()
        .filter(|e| e.aggregate_type == "Job")
        .collect()
}

async fn sync(engine: &SyncEngine, mode: SyncMode) -> adapters::sync::SyncReport {
    sync_resource(engine, SyncResource::Jobs, mode).await
}

async fn sync_resource(
    engine: &SyncEngine,
    resource: SyncResource,
    mode: SyncMode,
) -> adapters::sync::SyncReport {
    let request = SyncRequest {
        resource,
        mode,
        trigger: SyncTrigger::Manual,
    };
    let report = engine.sync_once(request).await.expect("sync run");
    assert_ne!(
        report.status,
        SyncStatus::Failed,
        "run failed: {:?}",
        report.failure
    );
    report
}

/// Waits until the projections have applied everything appended so far.
async fn settle(t: &TestDb, app: &TestApp) {
    app.state
        .progress
        .wait_for(last_position(&t.db).await, Duration::from_secs(60))
        .await
        .expect("projections caught up");
}

/// Every mirrored record of `collection` ("jobs" or "contacts") as the API lists it
/// (inactive ones included), by id.
async fn mirror_through_the_api(app: &TestApp, collection: &str) -> HashMap<String, Value> {
    let mut jobs = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/{collection}?includeInactive=true&limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get_internal(&path).await.json().await.unwrap();
        // Rows of records the CRM no longer lists stay in the mirror, marked; the CRM side
        // of the comparison cannot hold them.
        for record in page["items"].as_array().unwrap() {
            if record.get("vanishedAt").is_some_and(|v| !v.is_null()) {
                continue;
            }
            jobs.insert(record["id"].as_str().unwrap().to_string(), record.clone());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return jobs,
        }
    }
}

/// Text as the mirror keeps it: blank is absent, numbers are their digits.
fn text(v: &Value) -> Value {
    match v {
        Value::String(s) if !s.trim().is_empty() => json!(s),
        Value::Number(n) => json!(n.to_string()),
        _ => Value::Null,
    }
}

/// Unix seconds as an instant; JobNimbus writes `0` for "never".
fn time(v: &Value) -> Value {
    match v.as_i64() {
        Some(s) if s > 0 => json!(DateTime::<Utc>::from_timestamp(s, 0).unwrap()),
        _ => Value::Null,
    }
}

fn expected_address(raw: &Value) -> Value {
    json!({
        "line1": text(&raw["address_line1"]),
        "line2": text(&raw["address_line2"]),
        "city": text(&raw["city"]),
        "state": text(&raw["state_text"]),
        "zip": text(&raw["zip"]),
        "country": text(&raw["country_name"]),
    })
}

/// What the mirror must show for a JobNimbus job, derived from the raw record by the
/// reference's field meanings (not by our mapping code): blank text is absent, a missing
/// name falls back to the number, `0` dates are absent, `is_active` defaults to true.
fn expected_job(raw: &Value) -> Value {
    let number = text(&raw["number"]);
    let name = match text(&raw["name"]) {
        Value::Null => number.clone(),
        name => name,
    };
    json!({
        "id": format!("jobnimbus:{}", raw["jnid"].as_str().unwrap()),
        "number": number,
        "name": name,
        "description": text(&raw["description"]),
        "status": text(&raw["status_name"]),
        "workflow": text(&raw["record_type_name"]),
        "customerName": text(&raw["primary"]["name"]),
        "contactExternalId": text(&raw["primary"]["id"]),
        "salesRepName": text(&raw["sales_rep_name"]),
        "createdAt": time(&raw["date_created"]),
        "updatedAt": time(&raw["date_updated"]),
        "statusChangedAt": time(&raw["date_status_change"]),
        "isActive": raw["is_active"].as_bool().unwrap_or(true),
        "address": expected_address(raw),
    })
}

/// The same for a contact; the display name falls back to "first last", then the company.
fn expected_contact(raw: &Value) -> Value {
    let first = text(&raw["first_name"]);
    let last = text(&raw["last_name"]);
    let full = match (first.as_str(), last.as_str()) {
        (Some(f), Some(l)) => json!(format!("{f} {l}")),
        (Some(one), None) | (None, Some(one)) => json!(one),
        (None, None) => Value::Null,
    };
    let display = [text(&raw["display_name"]), full, text(&raw["company"])]
        .into_iter()
        .find(|v| !v.is_null())
        .unwrap_or(Value::Null);
    json!({
        "id": format!("jobnimbus:{}", raw["jnid"].as_str().unwrap()),
        "number": text(&raw["number"]),
        "firstName": first,
        "lastName": last,
        "displayName": display,
        "company": text(&raw["company"]),
        "email": text(&raw["email"]),
        "homePhone": text(&raw["home_phone"]),
        "mobilePhone": text(&raw["mobile_phone"]),
        "workPhone": text(&raw["work_phone"]),
        "status": text(&raw["status_name"]),
        "workflow": text(&raw["record_type_name"]),
        "sourceName": text(&raw["source_name"]),
        "salesRepName": text(&raw["sales_rep_name"]),
        "createdAt": time(&raw["date_created"]),
        "updatedAt": time(&raw["date_updated"]),
        "isActive": raw["is_active"].as_bool().unwrap_or(true),
        "address": expected_address(raw),
    })
}

/// Asserts the mirror holds exactly the sandbox's jobs, every compared field equal.
async fn assert_mirror_equals_crm(app: &TestApp, sandbox: &RunningSandbox) {
    assert_collection_equals_crm(app, sandbox, Resource::Jobs).await;
}

/// Asserts the mirror of `resource` (jobs or contacts) holds exactly the sandbox's records.
async fn assert_collection_equals_crm(app: &TestApp, sandbox: &RunningSandbox, resource: Resource) {
    let (collection, expect): (&str, fn(&Value) -> Value) = match resource {
        Resource::Contacts => ("contacts", expected_contact),
        _ => ("jobs", expected_job),
    };
    let mirror = mirror_through_the_api(app, collection).await;
    let records = sandbox.handle().records(resource);
    assert_eq!(
        mirror.len(),
        records.len(),
        "one {collection} row per CRM record"
    );
    let mut mismatches = Vec::new();
    for raw in &records {
        let expected = expect(raw);
        let id = expected["id"].as_str().unwrap();
        let Some(actual) = mirror.get(id) else {
            mismatches.push(format!("{id}: missing from the mirror"));
            continue;
        };
        for (field, want) in expected.as_object().unwrap() {
            let got = normalise_time(field, &actual[field]);
            let want = normalise_time(field, want);
            if got != want {
                mismatches.push(format!("{id}.{field}: mirror {got} != crm {want}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)]
    );
}

/// Times compare as instants, whatever RFC 3339 spelling each side used.
fn normalise_time(field: &str, value: &Value) -> Value {
    if field.ends_with("At") {
        if let Some(s) = value.as_str() {
            let t = DateTime::parse_from_rfc3339(s).expect("RFC 3339 time");
            return json!(t.timestamp());
        }
    }
    value.clone()
}

async fn a_full_sync_mirrors_every_job_and_a_second_sync_appends_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(500, 50, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);

    let first = sync(&engine, SyncMode::Full).await;
    assert_eq!(first.status, SyncStatus::Success);
    assert_eq!(first.outcome.fetched, 500);
    assert_eq!(first.outcome.created, 500);
    settle(&t, &app).await;
    assert_mirror_equals_crm(&app, &sandbox).await;

    let before = job_events(&all_events(&t.db).await).len();
    let second = sync(&engine, SyncMode::Full).await;
    assert_eq!(second.outcome.unchanged, 500);
    assert_eq!(second.outcome.created + second.outcome.updated, 0);
    assert_eq!(job_events(&all_events(&t.db).await).len(), before);
}

async fn an_incremental_sync_appends_exactly_the_edits_made_since(backend: Backend) {
    let t = TestDb::new(backend).await;
    let _app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(500, 50, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);
    sync(&engine, SyncMode::Full).await;
    let before = all_events(&t.db).await.len();

    // 100 distinct jobs get a new description, a minute later than anything synced.
    sandbox.handle().advance_clock(60);
    let edited: Vec<String> = sandbox
        .handle()
        .records(Resource::Jobs)
        .iter()
        .step_by(5)
        .map(|r| r["jnid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(edited.len(), 100);
    for jnid in &edited {
        sandbox
            .handle()
            .update(
                Resource::Jobs,
                jnid,
                json!({ "description": format!("edited {jnid}") }),
            )
            .unwrap();
    }

    let report = sync(&engine, SyncMode::Incremental).await;
    assert!(
        report.updated_since.is_some(),
        "incremental runs start at the cursor"
    );
    assert_eq!(report.outcome.updated, 100);
    assert_eq!(report.outcome.created, 0);
    let events = all_events(&t.db).await;
    let appended = job_events(&events[before..]);
    assert_eq!(
        appended.len(),
        100,
        "one event per edited job, nothing else"
    );
    let mut changed: Vec<String> = appended
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, "JobSnapshotChanged");
            let payload: Value = serde_json::from_str(&e.payload).unwrap();
            let fields = &payload["JobSnapshotChanged"]["changed"];
            assert_eq!(fields, &json!(["description", "remote_updated_at"]));
            e.aggregate_id.trim_start_matches("jobnimbus:").to_string()
        })
        .collect();
    changed.sort();
    let mut expected = edited.clone();
    expected.sort();
    assert_eq!(changed, expected);
}

async fn soft_deletes_in_the_crm_deactivate_and_undeletes_reactivate(backend: Backend) {
    let t = TestDb::new(backend).await;
    let _app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(50, 10, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);
    sync(&engine, SyncMode::Full).await;
    let jnid = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
    let before = all_events(&t.db).await.len();

    sandbox.handle().advance_clock(60);
    sandbox.handle().soft_delete(Resource::Jobs, &jnid).unwrap();
    sync(&engine, SyncMode::Incremental).await;
    sandbox.handle().advance_clock(60);
    sandbox
        .handle()
        .update(Resource::Jobs, &jnid, json!({ "is_active": true }))
        .unwrap();
    sync(&engine, SyncMode::Incremental).await;

    let events = all_events(&t.db).await;
    let kinds: Vec<&str> = job_events(&events[before..])
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    // Each save also moved date_updated, hence the snapshot changes.
    assert_eq!(
        kinds,
        [
            "JobSnapshotChanged",
            "JobDeactivated",
            "JobSnapshotChanged",
            "JobReactivated"
        ]
    );
}

async fn reconcile_marks_purged_jobs_vanished_only_after_a_complete_scan(backend: Backend) {
    let t = TestDb::new(backend).await;
    let _app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(300, 10, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);
    sync(&engine, SyncMode::Full).await;
    let purged: Vec<String> = sandbox
        .handle()
        .records(Resource::Jobs)
        .iter()
        .take(3)
        .map(|r| r["jnid"].as_str().unwrap().to_string())
        .collect();
    for jnid in &purged {
        assert!(sandbox.handle().purge(Resource::Jobs, jnid));
    }

    // A scan that fails part-way proves nothing about absence.
    sandbox.handle().set_faults(FaultConfig {
        server_error: 1.0,
        ..FaultConfig::default()
    });
    let failed = engine
        .sync_once(request(SyncMode::Reconcile))
        .await
        .unwrap();
    assert_eq!(failed.status, SyncStatus::Failed);
    assert!(failed.failure.is_some());
    let vanished = |events: &[StoredEvent]| {
        events
            .iter()
            .filter(|e| e.event_type == "JobVanished")
            .map(|e| e.aggregate_id.trim_start_matches("jobnimbus:").to_string())
            .collect::<Vec<_>>()
    };
    assert!(vanished(&all_events(&t.db).await).is_empty());

    sandbox.handle().set_faults(FaultConfig::default());
    let report = sync(&engine, SyncMode::Reconcile).await;
    assert_eq!(report.outcome.vanished, 3);
    assert_eq!(report.outcome.unchanged, 297);
    let mut got = vanished(&all_events(&t.db).await);
    got.sort();
    let mut want = purged.clone();
    want.sort();
    assert_eq!(got, want);

    // Marking is idempotent: the next reconcile appends nothing more.
    let again = sync(&engine, SyncMode::Reconcile).await;
    assert_eq!(again.outcome.vanished, 0);
    assert_eq!(vanished(&all_events(&t.db).await).len(), 3);
}

async fn runs_of_one_resource_never_overlap(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(
        200,
        10,
        FaultConfig {
            latency: Duration::from_millis(100),
            ..FaultConfig::default()
        },
    )
    .await;
    let engine = crm::engine(&t, &sandbox);
    let other = crm::engine(&t, &sandbox);
    let first = tokio::spawn({
        let engine = engine.clone();
        async move { engine.sync_once(request(SyncMode::Full)).await }
    });
    // The first run holds the run lock before its first request to the CRM; waiting for
    // that request (rather than a fixed head start) keeps the order under any load.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sandbox.handle().fault_stats().requests == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another engine stands for another instance: the advisory lock (PostgreSQL) or the
    // process-wide slot (SQLite, one process) must stop it while the first run pages.
    let b = other.sync_once(request(SyncMode::Full)).await;
    let a = first.await.expect("the first run's task");
    let a = a.expect("the first run goes ahead");
    assert_eq!(a.outcome.created, 200);
    assert!(
        matches!(b, Err(SyncError::AlreadyRunning(SyncResource::Jobs))),
        "the overlapping run must be refused, got {b:?}"
    );
    // Once the first run is over, the next one may start.
    sync(&engine, SyncMode::Incremental).await;
}

async fn a_sync_of_30000_jobs_gets_past_the_10000_row_window(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(30_000, 10, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);
    let report = sync(&engine, SyncMode::Full).await;
    assert_eq!(report.outcome.created, 30_000);
    let events = all_events(&t.db).await;
    let mut jobs: Vec<&str> = job_events(&events)
        .iter()
        .map(|e| e.aggregate_id.as_str())
        .collect();
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(jobs.len(), 30_000, "every job, each once");
}

async fn under_faults_a_full_sync_of_25000_jobs_and_10000_contacts_ends_equal_to_the_crm(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(25_000, 10_000, acceptance_faults()).await;
    // Smaller pages mean more requests, so every kind of fault really happens.
    let settings = SyncSettings {
        page_size: 250,
        ..SyncSettings::default()
    };
    let engine = crm::engine_with(&t, &sandbox, settings);

    for resource in [SyncResource::Jobs, SyncResource::Contacts] {
        sync_resource(&engine, resource, SyncMode::Full).await;
        // Records edited mid-paging after the pager passed them are left for the next run,
        // as the pager documents; an incremental run picks them up.
        sync_resource(&engine, resource, SyncMode::Incremental).await;
    }
    let stats = sandbox.handle().fault_stats();
    assert!(stats.bad_gateway + stats.service_unavailable + stats.gateway_timeout > 0);
    assert!(stats.rate_limited_with_retry_after + stats.rate_limited_without_retry_after > 0);
    assert!(stats.churned_records > 0, "records changed while paging");

    sandbox.handle().set_faults(FaultConfig {
        churn: 0.0,
        ..acceptance_faults()
    });
    let before = all_events(&t.db).await;
    let quiet_jobs = sync_resource(&engine, SyncResource::Jobs, SyncMode::Full).await;
    let quiet_contacts = sync_resource(&engine, SyncResource::Contacts, SyncMode::Full).await;
    settle(&t, &app).await;
    assert_collection_equals_crm(&app, &sandbox, Resource::Jobs).await;
    assert_collection_equals_crm(&app, &sandbox, Resource::Contacts).await;
    let records = |events: &[StoredEvent]| {
        events
            .iter()
            .filter(|e| e.aggregate_type == "Job" || e.aggregate_type == "Contact")
            .count()
    };
    assert_eq!(
        records(&all_events(&t.db).await),
        records(&before),
        "a sync of an unchanged CRM appends no record event ({:?}, {:?})",
        quiet_jobs.outcome,
        quiet_contacts.outcome
    );
}

async fn contacts_sync_like_jobs_and_vanish_only_after_a_complete_scan(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let sandbox = crm::jobnimbus(20, 300, FaultConfig::default()).await;
    let engine = crm::engine(&t, &sandbox);
    let first = sync_resource(&engine, SyncResource::Contacts, SyncMode::Full).await;
    assert_eq!(first.outcome.created, 300);

    let gone = sandbox.handle().random_jnid(Resource::Contacts).unwrap();
    assert!(sandbox.handle().purge(Resource::Contacts, &gone));
    let incremental = sync_resource(&engine, SyncResource::Contacts, SyncMode::Incremental).await;
    assert_eq!(
        incremental.outcome.vanished, 0,
        "an incremental run proves no absence"
    );
    let reconcile = sync_resource(&engine, SyncResource::Contacts, SyncMode::Reconcile).await;
    assert_eq!(reconcile.outcome.vanished, 1);
    let vanished: Vec<String> = all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.event_type == "ContactVanished")
        .map(|e| e.aggregate_id)
        .collect();
    assert_eq!(vanished, [format!("jobnimbus:{gone}")]);

    settle(&t, &app).await;
    // The vanished contact stays in the mirror, marked, and hidden from the default list.
    let shown = app.get_internal("/api/v1/contacts?limit=200").await;
    let shown: Value = shown.json().await.unwrap();
    assert!(shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != json!(format!("jobnimbus:{gone}"))));
    assert_collection_equals_crm(&app, &sandbox, Resource::Contacts).await;
}

/// The store refusing one job's events half-way through a run stands for a database fault
/// (a lost connection, a full disk). The run was recorded as started, so it must end on
/// record as failed, not stay RUNNING forever in the sync log.
async fn a_store_failure_mid_run_records_the_run_as_failed_not_running(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(300, 10, FaultConfig::default()).await;
    let doomed = format!(
        "jobnimbus:{}",
        sandbox.handle().random_jnid(Resource::Jobs).unwrap()
    );
    refuse_events_of(&t, &doomed).await;
    let engine = crm::engine_with(
        &t,
        &sandbox,
        SyncSettings {
            page_size: 50,
            ..SyncSettings::default()
        },
    );

    let result = engine.sync_once(request(SyncMode::Full)).await;

    assert!(
        matches!(result, Err(SyncError::Store(_))),
        "the store failure is reported, got {result:?}"
    );
    let events = all_events(&t.db).await;
    let run_events: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_type == "SyncRun")
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(run_events.first(), Some(&"SyncRunStarted"));
    assert_eq!(
        run_events.last(),
        Some(&"SyncRunFailed"),
        "run events: {run_events:?}"
    );
    assert!(
        !events.iter().any(|e| e.aggregate_id == doomed),
        "nothing of the refused page's job was written"
    );
}

/// Makes the events table refuse every event of one aggregate, as a failing database would.
async fn refuse_events_of(t: &TestDb, aggregate_id: &str) {
    match &t.db {
        adapters::store::Db::Postgres(pool) => {
            sqlx::query(&format!(
                "create function refuse_doomed() returns trigger language plpgsql as $$
                 begin
                     if new.aggregate_id = '{aggregate_id}' then
                         raise exception 'injected store failure';
                     end if;
                     return new;
                 end $$"
            ))
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "create trigger refuse_doomed before insert on events
                 for each row execute function refuse_doomed()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        adapters::store::Db::Sqlite(pool) => {
            sqlx::query(&format!(
                "create trigger refuse_doomed before insert on events
                 when new.aggregate_id = '{aggregate_id}'
                 begin select raise(abort, 'injected store failure'); end"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
    }
}
