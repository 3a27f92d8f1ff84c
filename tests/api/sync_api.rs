//! `POST /api/v1/sync/jobs` and `POST /api/v1/sync/contacts`: manual runs against the
//! JobNimbus sandbox, read-your-writes on the mirrors, and each way a run can be refused.

use std::time::{Duration, Instant};

use adapters::jobnimbus::sandbox::{FaultConfig, Resource, RunningSandbox};
use secrecy::SecretString;
use serde_json::Value;

use crate::support::crm;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    manual_syncs_need_the_internal_api_key,
    a_manual_sync_answers_its_counts_and_the_lists_show_the_records_at_once,
    a_second_sync_finds_every_record_unchanged,
    reconcile_mode_marks_what_the_crm_no_longer_lists_and_a_bad_mode_is_a_400,
    a_sync_while_another_of_the_same_resource_runs_is_a_409,
    without_a_jobnimbus_key_a_sync_is_a_503_not_configured,
    a_rejected_api_key_fails_the_run_with_a_502_that_names_it,
    a_crm_that_keeps_failing_is_a_502_and_the_run_is_logged_failed,
);

const JOBS: usize = 40;
const CONTACTS: usize = 25;

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Every record of `collection` the mirror lists, inactive ones included.
async fn listed(app: &TestApp, collection: &str) -> Vec<Value> {
    let page = json(
        app.get_internal(&format!(
            "/api/v1/{collection}?includeInactive=true&limit=200"
        ))
        .await,
    )
    .await;
    assert!(page["nextCursor"].is_null(), "more than one page: {page}");
    page["items"].as_array().unwrap().clone()
}

/// A server whose JobNimbus key is not the one `sandbox` accepts.
async fn app_with_wrong_key(t: &TestDb, sandbox: &RunningSandbox) -> TestApp {
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from("not-the-sandbox-key"));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    TestApp::spawn_with(settings).await
}

async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = json(response).await;
    assert_eq!(body["code"], code, "{body}");
    body
}

async fn manual_syncs_need_the_internal_api_key(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    for path in ["/api/v1/sync/jobs", "/api/v1/sync/contacts"] {
        let url = format!("{}{path}", app.address);
        let missing = app.client.post(&url).send().await.unwrap();
        let wrong = app
            .client
            .post(&url)
            .header("x-internal-api-key", "not-the-key-at-all-0000")
            .send()
            .await
            .unwrap();

        assert_problem(missing, 401, "missing_api_key").await;
        assert_problem(wrong, 401, "invalid_api_key").await;
    }
    assert_eq!(sandbox.handle().fault_stats().requests, 0, "no run started");
}

async fn a_manual_sync_answers_its_counts_and_the_lists_show_the_records_at_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    let jobs = app.post_internal("/api/v1/sync/jobs").await;
    assert_eq!(jobs.status(), 200);
    let jobs = json(jobs).await;
    // No GET waits or retries: the answer itself waited for the read models.
    let listed_jobs = listed(&app, "jobs").await;
    let summary = json(app.get_internal("/api/v1/sync/summary").await).await;
    let contacts = json(app.post_internal("/api/v1/sync/contacts").await).await;
    let listed_contacts = listed(&app, "contacts").await;

    for (result, expected) in [(&jobs, JOBS), (&contacts, CONTACTS)] {
        let expected = expected as u64;
        assert_eq!(result["status"], "SUCCESS", "{result}");
        assert_eq!(result["mode"], "incremental");
        assert_eq!(result["fetched"], expected);
        assert_eq!(result["created"], expected);
        for zero in ["updated", "unchanged", "failed", "vanished"] {
            assert_eq!(result[zero], 0, "{zero}: {result}");
        }
        assert_eq!(result["errors"], serde_json::json!([]));
        assert!(
            result["updatedSince"].is_null(),
            "a first run reads everything"
        );
        assert!(result["durationMs"].is_u64());
        assert_eq!(result["caughtUp"], true);
    }
    assert_eq!(listed_jobs.len(), JOBS);
    assert_eq!(listed_contacts.len(), CONTACTS);
    assert_eq!(summary["id"], jobs["runId"]);
    assert_eq!(summary["status"], "SUCCESS");
    assert_eq!(summary["resource"], "jobs");
    assert_eq!(summary["trigger"], "manual");
    assert_eq!(summary["fetched"], JOBS as u64);
}

async fn a_second_sync_finds_every_record_unchanged(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;
    assert_eq!(app.post_internal("/api/v1/sync/jobs").await.status(), 200);

    let incremental = json(app.post_internal("/api/v1/sync/jobs").await).await;
    let full = json(app.post_internal("/api/v1/sync/jobs?mode=full").await).await;

    assert_eq!(incremental["mode"], "incremental");
    assert!(
        incremental["updatedSince"].is_string(),
        "a second incremental run starts from the cursor: {incremental}"
    );
    assert_eq!(incremental["unchanged"], incremental["fetched"]);
    assert_eq!(full["mode"], "full");
    assert!(full["updatedSince"].is_null());
    assert_eq!(full["fetched"], JOBS as u64);
    assert_eq!(full["unchanged"], JOBS as u64);
    for result in [&incremental, &full] {
        assert_eq!(result["status"], "SUCCESS");
        for zero in ["created", "updated", "failed", "vanished"] {
            assert_eq!(result[zero], 0, "{zero}: {result}");
        }
    }
}

async fn reconcile_mode_marks_what_the_crm_no_longer_lists_and_a_bad_mode_is_a_400(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;
    assert_eq!(app.post_internal("/api/v1/sync/jobs").await.status(), 200);
    let jnid = sandbox.handle().random_jnid(Resource::Jobs).unwrap();
    assert!(sandbox.handle().purge(Resource::Jobs, &jnid));

    let reconcile = json(app.post_internal("/api/v1/sync/jobs?mode=reconcile").await).await;
    let job = json(
        app.get_internal(&format!("/api/v1/jobs/jobnimbus:{jnid}"))
            .await,
    )
    .await;
    let bad = app.post_internal("/api/v1/sync/jobs?mode=sideways").await;

    assert_eq!(reconcile["mode"], "reconcile");
    assert_eq!(reconcile["status"], "SUCCESS");
    assert_eq!(reconcile["vanished"], 1, "{reconcile}");
    assert_eq!(reconcile["unchanged"], (JOBS - 1) as u64);
    assert!(job["vanishedAt"].is_string(), "{job}");
    let bad = assert_problem(bad, 400, "invalid_request").await;
    assert!(bad["detail"].as_str().unwrap().contains("mode"), "{bad}");
}

async fn a_sync_while_another_of_the_same_resource_runs_is_a_409(backend: Backend) {
    let t = TestDb::new(backend).await;
    // Every sandbox answer takes a while, so the first run is still going when the second
    // request arrives.
    let slow = FaultConfig {
        latency: Duration::from_millis(300),
        ..FaultConfig::default()
    };
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, slow).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    let (first, second) = tokio::join!(
        app.post_internal("/api/v1/sync/jobs"),
        app.post_internal("/api/v1/sync/jobs"),
    );

    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let refused = if first.status() == 409 { first } else { second };
    let problem = assert_problem(refused, 409, "sync_in_progress").await;
    assert!(problem["detail"].as_str().unwrap().contains("jobs"));
    let logs = json(app.get_internal("/api/v1/sync/logs").await).await;
    assert_eq!(logs["total"], 1, "the refused request started no run");
}

async fn without_a_jobnimbus_key_a_sync_is_a_503_not_configured(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;

    for path in ["/api/v1/sync/jobs", "/api/v1/sync/contacts"] {
        let problem = assert_problem(
            app.post_internal(path).await,
            503,
            "jobnimbus_not_configured",
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("JOBNIMBUS_API_KEY"),
            "{problem}"
        );
    }
}

async fn a_rejected_api_key_fails_the_run_with_a_502_that_names_it(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, FaultConfig::default()).await;
    let app = app_with_wrong_key(&t, &sandbox).await;

    let problem = assert_problem(
        app.post_internal("/api/v1/sync/jobs").await,
        502,
        "jobnimbus_unavailable",
    )
    .await;
    let summary = json(app.get_internal("/api/v1/sync/summary").await).await;

    let detail = problem["detail"].as_str().unwrap();
    assert_eq!(summary["status"], "FAILED");
    let run_id = summary["id"].as_str().unwrap();
    assert!(detail.contains(run_id), "{detail}");
    assert!(detail.contains("rejected the API key"), "{detail}");
    assert!(
        !detail.contains("not-the-sandbox-key"),
        "key leaked: {detail}"
    );
    assert!(listed(&app, "jobs").await.is_empty());
}

async fn a_crm_that_keeps_failing_is_a_502_and_the_run_is_logged_failed(backend: Backend) {
    let t = TestDb::new(backend).await;
    let down = FaultConfig {
        server_error: 1.0,
        ..FaultConfig::default()
    };
    let sandbox = crm::jobnimbus(JOBS, CONTACTS, down).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    // The server's client retries 5xx with production backoff (4 retries, full jitter
    // under 0.5, 1, 2 and 4 s): at most 7.5 s before the run gives up.
    let started = Instant::now();
    let response = app.post_internal("/api/v1/sync/contacts").await;
    let took = started.elapsed();

    let problem = assert_problem(response, 502, "jobnimbus_unavailable").await;
    let summary = json(
        app.get_internal("/api/v1/sync/summary?resource=contacts")
            .await,
    )
    .await;
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(summary["status"], "FAILED");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(summary["id"].as_str().unwrap()), "{detail}");
    assert!(detail.contains("attempt"), "says it retried: {detail}");
}
