//! JobNimbus automation webhooks end to end: the sandbox's automation posts to the server,
//! the inbox dedupes, the processor refetches and the mirror follows. Processor steps are
//! also driven directly, with an explicit `now`, to prove retries without sleeping.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use adapters::jobnimbus::sandbox::{FaultConfig, Resource, RunningSandbox, WebhookConfig};
use adapters::jobnimbus::webhook_inbox::{
    self, InboxCounts, ProcessorSettings, Receipt, WebhookInbox, WebhookProcessor,
};
use adapters::jobnimbus::{ClientConfig, JobNimbusClient};
use adapters::store::{LogPosition, StoredEvent};
use adapters::sync::SyncRequest;
use api::rate_limit::{GroupQuota, Policy};
use chrono::Utc;
use domain::{SyncMode, SyncResource, SyncStatus, SyncTrigger};
use secrecy::SecretString;
use serde_json::{json, Value};
use unified_crm::config::{RateLimitSettings, Settings};

use crate::projections::{all_events, last_position, scalar};
use crate::support::crm::{self, SANDBOX_KEY};
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    two_hundred_deliveries_of_one_hundred_changes_make_exactly_one_hundred_mirror_updates,
    a_job_and_a_contact_created_in_jobnimbus_reach_the_mirror_by_webhook_alone,
    a_photo_attached_in_jobnimbus_reaches_the_jobs_photos_by_webhook_alone,
    the_echo_of_a_record_the_mirror_already_holds_appends_nothing,
    a_delivery_without_a_type_refetches_whichever_record_has_the_jnid,
    deliveries_without_the_token_or_a_record_are_refused_and_store_nothing,
    without_the_secret_the_endpoint_answers_503_and_stores_nothing,
    a_transient_jobnimbus_failure_during_refetch_is_retried_and_completes,
    a_record_that_keeps_failing_is_dead_after_the_last_attempt_and_says_why,
    a_record_jobnimbus_no_longer_has_is_done_with_a_note_and_appends_nothing,
    two_processors_on_one_database_refetch_each_record_exactly_once,
    webhook_bursts_pass_an_api_limit_that_refuses_other_requests,
);

/// One process-wide log subscriber (a second could not be installed): a single test, on
/// SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_in_no_log_line_at_any_level() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let captured = LogCapture::default();
    // Every level while this test runs; nothing once it is over, so the tests running beside
    // it and after it pay no formatting for a capture nobody reads.
    let recording = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let on = recording.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_ansi(false)
                .with_filter(tracing_subscriber::filter::dynamic_filter_fn(
                    move |_, _| on.load(std::sync::atomic::Ordering::Relaxed),
                )),
        )
        .try_init()
        .expect("no other test installs a global subscriber");
    let t = TestDb::new(Backend::Sqlite).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    let job = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
    let record = slim(&sandbox.handle().get(Resource::Jobs, &job).unwrap()).to_string();
    let wrong = format!("{}/api/v1/webhooks/jobnimbus?token={SECRET}x", app.address);

    assert_eq!(post_hook(&app, &hook_url(&app), &record).await.0, 202);
    assert_eq!(post_hook(&app, &hook_url(&app), &record).await.0, 202);
    assert_eq!(post_hook(&app, &hook_url(&app), "{").await.0, 400);
    assert_eq!(post_hook(&app, &wrong, &record).await.0, 401);
    settle(&t, &app).await;
    recording.store(false, std::sync::atomic::Ordering::Relaxed);

    let logs = captured.text();
    assert!(
        logs.contains("/api/v1/webhooks/jobnimbus") && logs.contains("webhook inbox step"),
        "the capture saw the requests and the processing"
    );
    assert!(!logs.contains(SECRET), "the token leaked into a log line");
}

/// Log output kept in memory.
#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What the test servers expect in `?token=`.
const SECRET: &str = "jn-hook-secret-7d1f0a9c4e2b8d6f3a5c1e0b";

fn settings(t: &TestDb, sandbox: &RunningSandbox) -> Settings {
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(SANDBOX_KEY));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    settings.jobnimbus.webhook_secret = Some(SecretString::from(SECRET));
    settings
}

async fn spawn(t: &TestDb, sandbox: &RunningSandbox) -> TestApp {
    TestApp::spawn_with(settings(t, sandbox)).await
}

fn hook_url(app: &TestApp) -> String {
    format!("{}/api/v1/webhooks/jobnimbus?token={SECRET}", app.address)
}

fn inbox(app: &TestApp) -> &WebhookInbox {
    &app.state
        .jobnimbus_webhooks
        .as_ref()
        .expect("webhooks configured")
        .inbox
}

async fn full_sync(app: &TestApp, resource: SyncResource) {
    let engine = app.state.jobnimbus.as_ref().expect("JobNimbus configured");
    let report = engine
        .sync_once(SyncRequest {
            resource,
            mode: SyncMode::Full,
            trigger: SyncTrigger::Manual,
        })
        .await
        .expect("sync");
    assert_eq!(report.status, SyncStatus::Success, "{:?}", report.failure);
    // The engine answers once its events are committed, not once the read models show
    // them: wait, so the requests that follow find the jobs mirrored.
    if let Some(position) = report.last_position {
        app.state
            .progress
            .wait_for(position, Duration::from_secs(60))
            .await
            .expect("read models caught up with the sync");
    }
}

/// Waits until the server's processor has finished every row, then until the read models
/// show everything appended.
async fn settle(t: &TestDb, app: &TestApp) -> InboxCounts {
    let started = Instant::now();
    let counts = loop {
        let counts = inbox(app).counts().await.expect("inbox counts");
        if counts.pending == 0 {
            break counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "inbox never drained: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    app.state
        .progress
        .wait_for(last_position(&t.db).await, Duration::from_secs(60))
        .await
        .expect("projections caught up");
    counts
}

async fn events_after(t: &TestDb, position: LogPosition) -> Vec<StoredEvent> {
    all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.position > position)
        .collect()
}

fn jnid_of(record: &Value) -> String {
    record["jnid"].as_str().expect("jnid").to_string()
}

/// The slim payload the automation would send for `record` as it is now.
fn slim(record: &Value) -> Value {
    json!({
        "jnid": record["jnid"],
        "type": record["type"],
        "record_type_name": record["record_type_name"],
        "status_name": record["status_name"],
        "is_active": record["is_active"],
        "date_updated": record["date_updated"],
    })
}

async fn post_hook(app: &TestApp, url: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn inbox_rows(t: &TestDb) -> i64 {
    scalar(&t.db, "select count(*) from jobnimbus_webhook_inbox").await
}

/// A client that gives up after one retry, so a JobNimbus outage reaches the processor.
fn impatient_client(sandbox: &RunningSandbox) -> JobNimbusClient {
    let mut config = ClientConfig::new(sandbox.base_url(), SecretString::from(SANDBOX_KEY));
    config.max_retries = 1;
    config.backoff_base = Duration::from_millis(1);
    config.backoff_cap = Duration::from_millis(2);
    config.min_request_interval = Duration::ZERO;
    JobNimbusClient::new(config).expect("client")
}

fn processor(t: &TestDb, inbox: &WebhookInbox, sandbox: &RunningSandbox) -> WebhookProcessor {
    WebhookProcessor::new(
        inbox.clone(),
        &t.db,
        &t.signal,
        impatient_client(sandbox),
        ProcessorSettings {
            max_attempts: 3,
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(60),
            ..ProcessorSettings::default()
        },
    )
}

/// Stores the delivery the automation would send for the record as it is now.
async fn deliver_directly(inbox: &WebhookInbox, record: &Value) -> i64 {
    let delivery = webhook_inbox::parse(slim(record).to_string().as_bytes()).expect("payload");
    match inbox.record(&delivery, Utc::now()).await.expect("store") {
        Receipt::Stored { id, .. } => id,
        Receipt::Duplicate => panic!("not a new change: {record}"),
    }
}

async fn two_hundred_deliveries_of_one_hundred_changes_make_exactly_one_hundred_mirror_updates(
    backend: Backend,
) {
    // Arrange: a mirror in step with JobNimbus, and an automation that sends every change
    // twice.
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(150, 40, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    full_sync(&app, SyncResource::Jobs).await;
    settle(&t, &app).await;
    let before = last_position(&t.db).await;
    let handle = sandbox.handle();
    handle.set_webhook(Some(WebhookConfig {
        duplicate_ratio: 1.0,
        ..WebhookConfig::new(hook_url(&app))
    }));
    let changed: Vec<String> = handle
        .records(Resource::Jobs)
        .iter()
        .take(100)
        .map(jnid_of)
        .collect();

    // Act: 100 distinct changes, as users make them in the web app.
    for (i, jnid) in changed.iter().enumerate() {
        handle
            .update(
                Resource::Jobs,
                jnid,
                json!({ "description": format!("changed in JobNimbus #{i}") }),
            )
            .expect("update");
    }
    handle.flush_webhooks().await;
    let counts = settle(&t, &app).await;

    // Assert: 200 deliveries, 100 rows, exactly 100 mirror updates on exactly those jobs.
    let stats = handle.webhook_stats();
    assert_eq!(
        (stats.announced, stats.duplicates, stats.delivered),
        (100, 100, 200),
        "{stats:?}"
    );
    assert_eq!(
        (stats.failed_attempts, stats.abandoned),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(
        counts,
        InboxCounts {
            done: 100,
            ..InboxCounts::default()
        }
    );
    let events = events_after(&t, before).await;
    let job_events: Vec<&StoredEvent> = events
        .iter()
        .filter(|e| e.aggregate_type == "Job")
        .collect();
    assert_eq!(job_events.len(), 100, "one event per change, nothing else");
    assert!(job_events
        .iter()
        .all(|e| e.event_type == "JobSnapshotChanged"));
    let updated: HashSet<String> = job_events.iter().map(|e| e.aggregate_id.clone()).collect();
    let expected: HashSet<String> = changed.iter().map(|j| format!("jobnimbus:{j}")).collect();
    assert_eq!(updated, expected);
    for event in &job_events {
        let metadata: Value = serde_json::from_str(&event.metadata).unwrap();
        assert_eq!(metadata["actor"], "jobnimbus_webhook");
        assert_eq!(metadata["source"], "jobnimbus_webhook");
        assert!(
            metadata["webhook_inbox_id"].as_str().is_some(),
            "{metadata}"
        );
    }
    for (i, jnid) in changed.iter().enumerate().step_by(9) {
        let job: Value = app
            .get_internal(&format!("/api/v1/jobs/jobnimbus:{jnid}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(job["description"], format!("changed in JobNimbus #{i}"));
    }
    // The token is in the URL only: nothing stored holds it.
    let stored = format!("{:?}", inbox(&app).entries(1_000).await.unwrap());
    assert!(!stored.contains(SECRET));
}

async fn a_job_and_a_contact_created_in_jobnimbus_reach_the_mirror_by_webhook_alone(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    let handle = sandbox.handle();
    handle.set_webhook(Some(WebhookConfig::new(hook_url(&app))));

    let contact = handle.add_contacts(1).remove(0);
    let job = handle.add_jobs(1).remove(0);
    handle.flush_webhooks().await;
    settle(&t, &app).await;

    // No sync ran: the webhooks alone brought them in.
    let job_response = app
        .get_internal(&format!("/api/v1/jobs/jobnimbus:{job}"))
        .await;
    assert_eq!(job_response.status(), 200);
    let mirrored: Value = job_response.json().await.unwrap();
    let remote = handle.get(Resource::Jobs, &job).unwrap();
    assert_eq!(mirrored["name"], remote["name"]);
    let contact_response = app
        .get_internal(&format!("/api/v1/contacts/jobnimbus:{contact}"))
        .await;
    assert_eq!(contact_response.status(), 200);
    let recorded: Vec<StoredEvent> = all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == format!("jobnimbus:{job}"))
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].event_type, "JobSnapshotRecorded");
    let metadata: Value = serde_json::from_str(&recorded[0].metadata).unwrap();
    assert_eq!(metadata["actor"], "jobnimbus_webhook");
}

async fn a_photo_attached_in_jobnimbus_reaches_the_jobs_photos_by_webhook_alone(backend: Backend) {
    // Arrange: a mirrored job whose files were synced, and an automation posting to us.
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    full_sync(&app, SyncResource::Jobs).await;
    let handle = sandbox.handle();
    let job = handle.random_jnid(Resource::Jobs).unwrap();
    let job_id = format!("jobnimbus:{job}");
    let synced = app
        .post_internal(&format!("/api/v1/sync/photos?jobId={job_id}"))
        .await;
    assert_eq!(synced.status(), 200);
    let photos_url = format!("/api/v1/jobs/{job_id}/photos");
    let before: Value = app.get_internal(&photos_url).await.json().await.unwrap();
    handle.set_webhook(Some(WebhookConfig::new(hook_url(&app))));

    // Act: a user attaches a photo in the web app; only its webhook tells us.
    let photo = handle
        .attach_photo(&job, "roof-after.jpg", "After: new shingles")
        .unwrap();
    handle.flush_webhooks().await;
    let counts = settle(&t, &app).await;

    // Assert: the job's photos list it, categorised, beside the ones it had.
    let after: Value = app.get_internal(&photos_url).await.json().await.unwrap();
    let listed = |list: &Value| list["items"].as_array().unwrap().len();
    assert_eq!(listed(&after), listed(&before) + 1, "{after}");
    let added = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == photo.as_str())
        .unwrap_or_else(|| panic!("{photo} not listed: {after}"));
    assert_eq!(added["qcCategory"], "AFTER", "{added}");
    assert_eq!(counts.dead, 0, "{counts:?}");
    let attached: Vec<StoredEvent> = all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == job_id && e.event_type == "JobFileAttached")
        .filter(|e| e.payload.contains(&photo))
        .collect();
    assert_eq!(attached.len(), 1, "attached once");
    let metadata: Value = serde_json::from_str(&attached[0].metadata).unwrap();
    assert_eq!(metadata["actor"], "jobnimbus_webhook");
}

async fn the_echo_of_a_record_the_mirror_already_holds_appends_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(20, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    full_sync(&app, SyncResource::Jobs).await;
    settle(&t, &app).await;
    let before = last_position(&t.db).await;
    let handle = sandbox.handle();
    let job = handle.random_jnid(Resource::Jobs).unwrap();
    // What an automation fired by one of our own writes would send: the record as the
    // mirror already has it.
    let echo = slim(&handle.get(Resource::Jobs, &job).unwrap()).to_string();

    let (first, receipt) = post_hook(&app, &hook_url(&app), &echo).await;
    let (again, repeated) = post_hook(&app, &hook_url(&app), &echo).await;
    let counts = settle(&t, &app).await;

    assert_eq!((first, again), (202, 202));
    assert_eq!(
        receipt,
        json!({"received": true, "duplicate": false, "kind": "job", "jnid": job, "action": "refetch_job"})
    );
    assert_eq!(repeated["duplicate"], true);
    assert_eq!(
        counts,
        InboxCounts {
            done: 1,
            ..InboxCounts::default()
        }
    );
    assert!(
        events_after(&t, before).await.is_empty(),
        "an unchanged record appends nothing"
    );
    let entry = inbox(&app).entries(10).await.unwrap().remove(0);
    assert_eq!(entry.state, "done");
    assert!(
        entry
            .note
            .as_deref()
            .unwrap_or_default()
            .starts_with("unchanged"),
        "{entry:?}"
    );
}

async fn a_delivery_without_a_type_refetches_whichever_record_has_the_jnid(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    let handle = sandbox.handle();
    let contact = handle.random_jnid(Resource::Contacts).unwrap();
    let job = handle.random_jnid(Resource::Jobs).unwrap();

    for jnid in [&contact, &job] {
        let (status, receipt) =
            post_hook(&app, &hook_url(&app), &json!({"jnid": jnid}).to_string()).await;
        assert_eq!(status, 202);
        assert_eq!(
            (receipt["kind"].as_str(), receipt["action"].as_str()),
            (Some("unknown"), Some("refetch_job_or_contact"))
        );
    }
    let counts = settle(&t, &app).await;

    assert_eq!(
        counts,
        InboxCounts {
            done: 2,
            ..InboxCounts::default()
        }
    );
    let recorded: Vec<(String, String)> = all_events(&t.db)
        .await
        .into_iter()
        .map(|e| (e.aggregate_type, e.aggregate_id))
        .collect();
    assert_eq!(
        recorded.iter().collect::<HashSet<_>>(),
        [
            ("Contact".to_string(), format!("jobnimbus:{contact}")),
            ("Job".to_string(), format!("jobnimbus:{job}")),
        ]
        .iter()
        .collect::<HashSet<_>>()
    );
}

async fn deliveries_without_the_token_or_a_record_are_refused_and_store_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = spawn(&t, &sandbox).await;
    let base = format!("{}/api/v1/webhooks/jobnimbus", app.address);
    let valid = r#"{"jnid":"abc123","type":"job","date_updated":1767312000}"#;
    let almost = &SECRET[..SECRET.len() - 1];
    let cases = [
        (base.clone(), valid, 401, "invalid_webhook_token"),
        (
            format!("{base}?token="),
            valid,
            401,
            "invalid_webhook_token",
        ),
        (
            format!("{base}?token=wrong"),
            valid,
            401,
            "invalid_webhook_token",
        ),
        (
            format!("{base}?token={almost}"),
            valid,
            401,
            "invalid_webhook_token",
        ),
        (
            format!("{base}?secret={SECRET}"),
            valid,
            401,
            "invalid_webhook_token",
        ),
        (hook_url(&app), "not json", 400, "invalid_payload"),
        (hook_url(&app), "{\"jnid\":", 400, "invalid_payload"),
        (hook_url(&app), "[]", 400, "invalid_payload"),
        (hook_url(&app), "{}", 400, "invalid_payload"),
        (hook_url(&app), r#"{"type":"job"}"#, 400, "invalid_payload"),
        (
            hook_url(&app),
            r#"{"jnid":"../jobs","type":"job"}"#,
            400,
            "invalid_payload",
        ),
    ];
    for (url, body, status, code) in cases {
        let (got, problem) = post_hook(&app, &url, body).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(!problem.to_string().contains(SECRET), "{problem}");
    }
    assert_eq!(inbox_rows(&t).await, 0);
}

async fn without_the_secret_the_endpoint_answers_503_and_stores_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;
    let url = format!("{}/api/v1/webhooks/jobnimbus?token={SECRET}", app.address);

    let (status, problem) = post_hook(&app, &url, r#"{"jnid":"abc123","type":"job"}"#).await;

    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("webhook_not_configured"))
    );
    assert!(app.state.jobnimbus_webhooks.is_none());
    assert_eq!(inbox_rows(&t).await, 0);
}

async fn a_transient_jobnimbus_failure_during_refetch_is_retried_and_completes(backend: Backend) {
    // Arrange: a synced job changed in JobNimbus, its webhook in the inbox, and JobNimbus
    // answering every request with a gateway error.
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(10, 5, FaultConfig::default()).await;
    let report = crm::engine(&t, &sandbox)
        .sync_once(SyncRequest {
            resource: SyncResource::Jobs,
            mode: SyncMode::Full,
            trigger: SyncTrigger::Manual,
        })
        .await
        .unwrap();
    assert_eq!(report.status, SyncStatus::Success);
    let handle = sandbox.handle();
    let job = handle.random_jnid(Resource::Jobs).unwrap();
    let record = handle
        .update(
            Resource::Jobs,
            &job,
            json!({"description": "after the outage"}),
        )
        .unwrap();
    let inbox = WebhookInbox::new(&t.db);
    let processor = processor(&t, &inbox, &sandbox);
    deliver_directly(&inbox, &record).await;
    let before = last_position(&t.db).await;
    handle.set_faults(FaultConfig {
        server_error: 1.0,
        ..FaultConfig::default()
    });
    let t0 = Utc::now();

    // Act and assert: the failed attempt is rescheduled, not lost and not hurried.
    let failed = processor.process_once(t0).await.unwrap();
    assert_eq!((failed.rows, failed.retrying, failed.changed), (1, 1, 0));
    let entry = inbox.entries(10).await.unwrap().remove(0);
    assert_eq!((entry.state.as_str(), entry.attempts), ("pending", 1));
    assert!(entry.last_error.is_some(), "{entry:?}");
    assert!(
        entry.next_attempt_at >= t0 + chrono::Duration::seconds(5),
        "{entry:?}"
    );
    let early = processor.process_once(t0).await.unwrap();
    assert_eq!(early.rows, 0, "not due before its backoff");

    handle.set_faults(FaultConfig::default());
    let retried = processor
        .process_once(t0 + chrono::Duration::minutes(1))
        .await
        .unwrap();

    assert_eq!((retried.rows, retried.changed), (1, 1));
    let entry = inbox.entries(10).await.unwrap().remove(0);
    assert_eq!((entry.state.as_str(), entry.attempts), ("done", 2));
    let events = events_after(&t, before).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "JobSnapshotChanged");
    assert_eq!(events[0].aggregate_id, format!("jobnimbus:{job}"));
    assert!(events[0].payload.contains("after the outage"));
}

async fn a_record_that_keeps_failing_is_dead_after_the_last_attempt_and_says_why(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(10, 5, FaultConfig::default()).await;
    let handle = sandbox.handle();
    let job = handle.random_jnid(Resource::Jobs).unwrap();
    let inbox = WebhookInbox::new(&t.db);
    let processor = processor(&t, &inbox, &sandbox);
    deliver_directly(&inbox, &handle.get(Resource::Jobs, &job).unwrap()).await;
    handle.set_faults(FaultConfig {
        server_error: 1.0,
        ..FaultConfig::default()
    });
    let t0 = Utc::now();
    let hour = chrono::Duration::hours(1);

    let first = processor.process_once(t0).await.unwrap();
    let second = processor.process_once(t0 + hour).await.unwrap();
    let third = processor.process_once(t0 + hour * 2).await.unwrap();
    handle.set_faults(FaultConfig::default());
    let after = processor.process_once(t0 + hour * 3).await.unwrap();

    assert_eq!((first.retrying, second.retrying, third.dead), (1, 1, 1));
    assert_eq!(after.rows, 0, "a dead row stays dead");
    assert_eq!(
        inbox.counts().await.unwrap(),
        InboxCounts {
            dead: 1,
            ..InboxCounts::default()
        }
    );
    let entry = inbox.entries(10).await.unwrap().remove(0);
    assert_eq!(entry.attempts, 3);
    let error = entry.last_error.unwrap_or_default();
    assert!(error.contains(&format!("/jobs/{job}")), "{error}");
}

async fn a_record_jobnimbus_no_longer_has_is_done_with_a_note_and_appends_nothing(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(10, 5, FaultConfig::default()).await;
    let handle = sandbox.handle();
    let job = handle.random_jnid(Resource::Jobs).unwrap();
    let inbox = WebhookInbox::new(&t.db);
    let processor = processor(&t, &inbox, &sandbox);
    // The automation fired for a change, then the record was deleted for good before we
    // refetched it.
    deliver_directly(&inbox, &handle.get(Resource::Jobs, &job).unwrap()).await;
    assert!(handle.purge(Resource::Jobs, &job));

    let report = processor.process_once(Utc::now()).await.unwrap();

    assert_eq!((report.rows, report.not_found, report.dead), (1, 1, 0));
    let entry = inbox.entries(10).await.unwrap().remove(0);
    assert_eq!(entry.state, "done");
    assert!(
        entry
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("not found in JobNimbus"),
        "{entry:?}"
    );
    assert!(all_events(&t.db).await.is_empty(), "nothing to record");
}

async fn two_processors_on_one_database_refetch_each_record_exactly_once(backend: Backend) {
    // Arrange: 60 changed jobs, 10 of them changed twice (two rows for one record).
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(60, 5, FaultConfig::default()).await;
    let handle = sandbox.handle();
    let inbox = WebhookInbox::new(&t.db);
    let jobs: Vec<String> = handle.records(Resource::Jobs).iter().map(jnid_of).collect();
    for jnid in &jobs {
        deliver_directly(&inbox, &handle.get(Resource::Jobs, jnid).unwrap()).await;
    }
    handle.advance_clock(5);
    for jnid in jobs.iter().take(10) {
        let record = handle
            .update(
                Resource::Jobs,
                jnid,
                json!({"description": "second change"}),
            )
            .unwrap();
        deliver_directly(&inbox, &record).await;
    }
    let settings = ProcessorSettings {
        batch_size: 7,
        ..ProcessorSettings::default()
    };
    let one = WebhookProcessor::new(
        inbox.clone(),
        &t.db,
        &t.signal,
        crm::client(&sandbox),
        settings.clone(),
    );
    let two = WebhookProcessor::new(
        inbox.clone(),
        &t.db,
        &t.signal,
        crm::client(&sandbox),
        settings,
    );
    handle.reset_fault_stats();

    // Act: both instances drain the inbox at the same time.
    let drain = |processor: WebhookProcessor| async move {
        let mut records = 0;
        loop {
            let report = processor.process_once(Utc::now()).await.unwrap();
            if report.rows == 0 {
                return records;
            }
            records += report.records;
        }
    };
    let (a, b) = tokio::join!(drain(one), drain(two));

    // Assert: every record fetched once, every row done, every job mirrored once.
    assert_eq!(a + b, 60, "records refetched by the two: {a} + {b}");
    assert_eq!(handle.fault_stats().requests, 60, "one GET per record");
    assert_eq!(
        inbox.counts().await.unwrap(),
        InboxCounts {
            done: 70,
            ..InboxCounts::default()
        }
    );
    let recorded: Vec<StoredEvent> = all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "Job")
        .collect();
    assert_eq!(recorded.len(), 60);
    assert!(recorded
        .iter()
        .all(|e| e.event_type == "JobSnapshotRecorded"));
}

async fn webhook_bursts_pass_an_api_limit_that_refuses_other_requests(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(5, 5, FaultConfig::default()).await;
    let mut settings = settings(&t, &sandbox);
    let one = GroupQuota {
        per_minute: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(1).unwrap(),
    };
    settings.rate_limit = RateLimitSettings {
        enabled: true,
        policy: Policy {
            auth: one,
            api: one,
            trust_proxy_headers: false,
        },
        redis: None,
    };
    let app = TestApp::spawn_with(settings).await;

    let mut statuses = Vec::new();
    for i in 0..30 {
        let body =
            json!({"jnid": format!("burst{i}"), "type": "task", "date_updated": 1_767_312_000 + i});
        statuses.push(post_hook(&app, &hook_url(&app), &body.to_string()).await.0);
    }
    let api = [
        app.get_internal("/api/v1/jobs").await.status().as_u16(),
        app.get_internal("/api/v1/jobs").await.status().as_u16(),
    ];

    assert_eq!(statuses, vec![202; 30]);
    assert_eq!(api, [200, 429], "the API budget still applies");
    assert_eq!(
        inbox(&app).counts().await.unwrap(),
        InboxCounts {
            ignored: 30,
            ..InboxCounts::default()
        }
    );
}
