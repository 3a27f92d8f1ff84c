//! Write-backs to JobNimbus through the API, against the sandbox: exactly once through lost
//! answers (the acceptance test), idempotency keys, read-back after an ambiguous failure,
//! background retries, the job's history, and the refused requests.

use std::time::Duration;

use adapters::jobnimbus::sandbox::{FaultConfig, Resource, RunningSandbox};
use futures::stream::{self, StreamExt};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::support::{crm, Backend, TestApp, TestDb, INTERNAL_KEY};

on_both_backends!(
    a_thousand_concurrent_notes_through_lost_answers_leave_exactly_a_thousand_notes,
    a_write_backs_intent_and_outcome_are_in_the_jobs_history_with_the_caller,
    the_same_key_answers_the_same_write_and_another_body_under_it_is_refused,
    a_lost_answer_is_settled_by_reading_the_job_back_without_posting_again,
    a_transient_failure_is_pending_and_the_worker_retries_it,
    tasks_status_changes_and_attachments_are_written_and_listed,
    an_unknown_status_is_refused_with_the_workflows_statuses,
    writes_to_jobs_that_are_not_mirrored_and_malformed_requests_are_refused,
    a_repeat_while_the_first_attempt_is_in_flight_answers_pending_without_a_second_call,
    a_refused_write_fails_at_once_and_the_read_model_rebuilds_to_the_same_rows,
    an_attempt_cut_at_its_lease_is_read_back_before_it_is_sent_again,
);

const JOBS: usize = 20;

/// A server on a sandbox of `JOBS` jobs, all mirrored; retries come quickly (the sandbox
/// lists a write at once, unlike JobNimbus's index).
async fn mirrored(t: &TestDb) -> (RunningSandbox, TestApp) {
    mirrored_with(t, |_| {}).await
}

async fn mirrored_with(
    t: &TestDb,
    adjust: impl FnOnce(&mut adapters::write_back::WriteBackSettings),
) -> (RunningSandbox, TestApp) {
    let sandbox = crm::jobnimbus(JOBS, 10, FaultConfig::default()).await;
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(crm::SANDBOX_KEY));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    settings.write_backs.backoff_base = Duration::from_millis(20);
    settings.write_backs.backoff_cap = Duration::from_millis(200);
    settings.write_backs.poll_interval = Duration::from_millis(500);
    adjust(&mut settings.write_backs);
    let app = TestApp::spawn_with(settings).await;
    let synced = app.post_internal("/api/v1/sync/jobs").await;
    assert_eq!(synced.status(), 200);
    (sandbox, app)
}

fn job_jnids(sandbox: &RunningSandbox) -> Vec<String> {
    sandbox
        .handle()
        .records(Resource::Jobs)
        .iter()
        .map(|j| j["jnid"].as_str().unwrap().to_owned())
        .collect()
}

async fn post(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    caller: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("x-internal-api-key", INTERNAL_KEY)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(caller) = caller {
        request = request.header("x-caller", caller);
    }
    request.send().await.expect("request")
}

async fn body_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}

async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = body_of(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    body
}

/// Records of `resource` whose `field` carries `marker`.
fn marked(sandbox: &RunningSandbox, resource: Resource, field: &str, marker: &str) -> Vec<Value> {
    let token = format!("[ucrm:{marker}]");
    sandbox
        .handle()
        .records(resource)
        .into_iter()
        .filter(|r| r[field].as_str().is_some_and(|t| t.contains(&token)))
        .collect()
}

/// POSTs until JobNimbus holds the write (201), as a caller retrying with its key would.
async fn until_written(app: &TestApp, path: &str, key: &str, body: &Value) -> Value {
    for _ in 0..300 {
        let response = post(app, path, Some(key), None, body).await;
        match response.status().as_u16() {
            201 => return response.json().await.unwrap(),
            202 => tokio::time::sleep(Duration::from_millis(25)).await,
            other => panic!("{path} {key}: {other} {}", response.text().await.unwrap()),
        }
    }
    panic!("{path} {key}: still pending after 300 tries");
}

async fn a_thousand_concurrent_notes_through_lost_answers_leave_exactly_a_thousand_notes(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let jobs = job_jnids(&sandbox);
    sandbox.handle().set_faults(FaultConfig {
        drop_response_after_write: 0.3,
        ..FaultConfig::default()
    });
    sandbox.handle().reset_fault_stats();

    // 1,000 callers, 32 in flight at a time, each retrying with its own key until 201.
    let written: Vec<Value> = stream::iter(0..1_000)
        .map(|i| {
            let path = format!("/api/v1/jobs/{}/notes", jobs[i % jobs.len()]);
            let app = &app;
            async move {
                let body = json!({ "text": format!("QC note {i}") });
                until_written(app, &path, &format!("note-{i}"), &body).await
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;

    let stats = sandbox.handle().fault_stats();
    assert!(
        (200..=400).contains(&stats.dropped_after_write),
        "about 30% of the writes lost their answer: {stats:?}"
    );
    let notes: Vec<Value> = sandbox
        .handle()
        .records(Resource::Activities)
        .into_iter()
        .filter(|a| {
            a["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("QC note "))
        })
        .collect();
    assert_eq!(notes.len(), 1_000, "none lost, none doubled");
    let mut texts: Vec<String> = notes
        .iter()
        .map(|n| {
            n["note"]
                .as_str()
                .unwrap()
                .split('\n')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 1_000, "each note once");
    let confirmed = written
        .iter()
        .filter(|w| w["confirmedByReadBack"] == true)
        .count();
    assert_eq!(
        confirmed as u64, stats.dropped_after_write,
        "every lost answer was settled by reading the job back"
    );
    assert_eq!(
        stats.write_requests, 1_000,
        "no note was posted twice: a lost answer is read back, never re-posted"
    );
    // The figures ADR 0008 quotes.
    eprintln!(
        "write-backs: {} writes sent, {} answers lost, {} settled by read-back",
        stats.write_requests, stats.dropped_after_write, confirmed
    );
    let mut remote_ids: Vec<&str> = written
        .iter()
        .map(|w| w["remoteId"].as_str().unwrap())
        .collect();
    remote_ids.sort_unstable();
    remote_ids.dedup();
    assert_eq!(remote_ids.len(), 1_000);
    let mut listed = 0;
    for job in &jobs {
        let list = body_of(
            app.get_internal(&format!("/api/v1/jobs/{job}/notes")).await,
            200,
        )
        .await;
        for item in list["items"].as_array().unwrap() {
            assert_eq!(item["state"], "succeeded", "{item}");
            listed += 1;
        }
    }
    assert_eq!(listed, 1_000);
}

async fn a_write_backs_intent_and_outcome_are_in_the_jobs_history_with_the_caller(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[0];

    let written = body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{job}/notes"),
            Some("history-1"),
            Some("qc-dashboard"),
            &json!({ "text": "Photos complete" }),
        )
        .await,
        201,
    )
    .await;

    let history = body_of(
        app.get_internal(&format!("/api/v1/jobs/jobnimbus:{job}/history"))
            .await,
        200,
    )
    .await;
    let items = history["items"].as_array().unwrap();
    let types: Vec<&str> = items
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"JobSnapshotRecorded"), "{types:?}");
    let of_write: Vec<&Value> = items
        .iter()
        .filter(|e| e["aggregateId"] == written["id"])
        .collect();
    let write_types: Vec<&str> = of_write
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        write_types,
        [
            "WriteBackRequested",
            "WriteBackAttemptStarted",
            "WriteBackSucceeded"
        ]
    );
    for event in &of_write {
        assert_eq!(event["metadata"]["caller"], "qc-dashboard", "{event}");
        assert_eq!(event["metadata"]["actor"], "api");
    }
    let intent = &of_write[0]["payload"]["WriteBackRequested"];
    assert_eq!(intent["job_id"], format!("jobnimbus:{job}"));
    assert_eq!(intent["payload"]["kind"], "note");
    assert_eq!(intent["payload"]["text"], "Photos complete");
    assert_ne!(
        intent["idempotency_key_hash"], "history-1",
        "the key itself is never stored"
    );
    let outcome = &of_write[2]["payload"]["WriteBackSucceeded"];
    assert_eq!(outcome["remote_id"], written["remoteId"]);
    assert_eq!(written["requestedBy"], "qc-dashboard");
}

async fn the_same_key_answers_the_same_write_and_another_body_under_it_is_refused(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[1];
    let path = format!("/api/v1/jobs/{job}/notes");
    let body = json!({ "text": "Inspection booked" });

    let first = post(&app, &path, Some("key-a"), None, &body).await;
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first = body_of(first, 201).await;
    let again = post(&app, &path, Some("key-a"), None, &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = body_of(again, 201).await;
    let other_body = post(
        &app,
        &path,
        Some("key-a"),
        None,
        &json!({ "text": "Other" }),
    )
    .await;
    let other_job = post(
        &app,
        &format!("/api/v1/jobs/{}/notes", job_jnids(&sandbox)[2]),
        Some("key-a"),
        None,
        &body,
    )
    .await;

    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["remoteId"], first["remoteId"]);
    assert_problem(other_body, 422, "idempotency_key_reused").await;
    assert_problem(other_job, 422, "idempotency_key_reused").await;
    let marker = first["marker"].as_str().unwrap();
    assert_eq!(
        marked(&sandbox, Resource::Activities, "note", marker).len(),
        1
    );
    let notes = body_of(app.get_internal(&path).await, 200).await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
}

async fn a_lost_answer_is_settled_by_reading_the_job_back_without_posting_again(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[3];
    let path = format!("/api/v1/jobs/{job}/notes");
    let body = json!({ "text": "Crew arrives Monday", "contactId": null });
    sandbox.handle().set_faults(FaultConfig {
        drop_response_after_write: 1.0,
        ..FaultConfig::default()
    });

    let pending = body_of(post(&app, &path, Some("lost-1"), None, &body).await, 202).await;
    let marker = pending["marker"].as_str().unwrap().to_owned();
    assert_eq!(pending["state"], "pending");
    assert!(
        pending["lastError"]
            .as_str()
            .unwrap()
            .contains("may or may not"),
        "{pending}"
    );
    assert_eq!(
        marked(&sandbox, Resource::Activities, "note", &marker).len(),
        1,
        "applied"
    );
    let writes_before = sandbox.handle().fault_stats().write_requests;
    // Writes still lose their answer: only a read-back can settle this one without a copy.
    let written = until_written(&app, &path, "lost-1", &body).await;

    assert_eq!(written["id"], pending["id"]);
    assert_eq!(written["confirmedByReadBack"], true);
    assert_eq!(
        sandbox.handle().fault_stats().write_requests,
        writes_before,
        "no second POST"
    );
    let notes = marked(&sandbox, Resource::Activities, "note", &marker);
    assert_eq!(notes.len(), 1);
    assert_eq!(written["remoteId"], notes[0]["jnid"]);
}

async fn a_transient_failure_is_pending_and_the_worker_retries_it(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[4];
    // Refused before it is applied, every time: the client gives up, nothing is written.
    sandbox.handle().set_faults(FaultConfig {
        rate_limit: 1.0,
        ..FaultConfig::default()
    });

    let pending = body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{job}/notes"),
            None,
            None,
            &json!({ "text": "Retry me" }),
        )
        .await,
        202,
    )
    .await;
    assert!(pending["nextAttemptAt"].is_string(), "{pending}");
    sandbox.handle().set_faults(FaultConfig::default());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let write_backs = app.state.write_backs.clone().unwrap();
    // The step the background worker runs (it may have run already: either way, once).
    write_backs.run_once(chrono::Utc::now()).await.unwrap();
    let mut state = Value::Null;
    for _ in 0..100 {
        let list = body_of(
            app.get_internal(&format!("/api/v1/jobs/{job}/notes")).await,
            200,
        )
        .await;
        state = list["items"][0].clone();
        if state["state"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(state["state"], "succeeded", "{state}");
    assert!(state["attempts"].as_i64().unwrap() >= 2);
    let marker = pending["marker"].as_str().unwrap();
    assert_eq!(
        marked(&sandbox, Resource::Activities, "note", marker).len(),
        1
    );
}

async fn tasks_status_changes_and_attachments_are_written_and_listed(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let jobs = sandbox.handle().records(Resource::Jobs);
    let job = &jobs[5];
    let jnid = job["jnid"].as_str().unwrap();
    let workflows = app
        .state
        .write_backs
        .as_ref()
        .unwrap()
        .client()
        .fetch_job_workflows()
        .await
        .unwrap();
    let workflow = workflows
        .iter()
        .find(|w| w.name == job["record_type_name"].as_str().unwrap())
        .unwrap();
    let new_status = workflow
        .statuses
        .iter()
        .find(|s| Some(s.as_str()) != job["status_name"].as_str())
        .unwrap();

    let task = body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{jnid}/tasks"),
            Some("task-1"),
            None,
            &json!({ "title": "Order shingles", "description": "Owens Corning", "dueDate": "2030-01-02T15:00:00Z" }),
        )
        .await,
        201,
    )
    .await;
    let status = body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{jnid}/status"),
            Some("status-1"),
            None,
            &json!({ "status": new_status }),
        )
        .await,
        201,
    )
    .await;
    let boundary = "XBOUNDARYX";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"roof.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\nJPEGBYTES\r\n--{boundary}\r\nContent-Disposition: \
         form-data; name=\"description\"\r\n\r\nAfter: ridge cap\r\n--{boundary}--\r\n"
    );
    let upload = || {
        app.client
            .post(format!("{}/api/v1/jobs/{jnid}/attachments", app.address))
            .header("x-internal-api-key", INTERNAL_KEY)
            .header("Idempotency-Key", "file-1")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form.clone())
            .send()
    };
    let attachment = body_of(upload().await.unwrap(), 201).await;
    let replayed = upload().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(body_of(replayed, 201).await["id"], attachment["id"]);
    assert_eq!(
        uploads_held(&t.db).await,
        0,
        "settled uploads keep no bytes"
    );

    let tasks = marked(
        &sandbox,
        Resource::Tasks,
        "description",
        task["marker"].as_str().unwrap(),
    );
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Order shingles");
    assert_eq!(tasks[0]["jnid"], task["remoteId"]);
    assert_eq!(tasks[0]["date_end"], 1_893_596_400);
    assert_eq!(
        sandbox.handle().get(Resource::Jobs, jnid).unwrap()["status_name"],
        new_status.as_str()
    );
    assert_eq!(status["remoteId"], jnid);
    let mirrored_job = body_of(
        app.get_internal(&format!("/api/v1/jobs/jobnimbus:{jnid}"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        mirrored_job["status"],
        new_status.as_str(),
        "the mirror shows the new status without waiting for a sync"
    );
    let files = marked(
        &sandbox,
        Resource::Files,
        "description",
        attachment["marker"].as_str().unwrap(),
    );
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["filename"], "roof.jpg");
    assert_eq!(files[0]["jnid"], attachment["remoteId"]);
    assert_eq!(attachment["sizeBytes"], 9);
    for (kind, expected) in [
        ("tasks", &task),
        ("status", &status),
        ("attachments", &attachment),
    ] {
        let list = body_of(
            app.get_internal(&format!("/api/v1/jobs/{jnid}/{kind}"))
                .await,
            200,
        )
        .await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{kind}");
        assert_eq!(items[0]["id"], expected["id"]);
        assert_eq!(items[0]["state"], "succeeded");
    }
}

async fn an_unknown_status_is_refused_with_the_workflows_statuses(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[6];

    let refused = post(
        &app,
        &format!("/api/v1/jobs/{job}/status"),
        None,
        None,
        &json!({ "status": "Teleported" }),
    )
    .await;

    let problem = assert_problem(refused, 422, "unknown_status").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("Teleported") && detail.contains("valid statuses"),
        "{detail}"
    );
    assert_eq!(
        sandbox.handle().fault_stats().write_requests,
        0,
        "nothing sent"
    );
    let list = body_of(
        app.get_internal(&format!("/api/v1/jobs/{job}/status"))
            .await,
        200,
    )
    .await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

async fn writes_to_jobs_that_are_not_mirrored_and_malformed_requests_are_refused(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[7];

    for (path, body) in [
        ("/api/v1/jobs/nosuchjob/notes", json!({ "text": "x" })),
        (
            "/api/v1/jobs/jobnimbus:nosuchjob/tasks",
            json!({ "title": "x" }),
        ),
        ("/api/v1/jobs/nosuchjob/status", json!({ "status": "Lead" })),
    ] {
        assert_problem(
            post(&app, path, None, None, &body).await,
            404,
            "job_not_found",
        )
        .await;
    }
    assert_problem(
        app.get_internal("/api/v1/jobs/nosuchjob/notes").await,
        404,
        "job_not_found",
    )
    .await;
    assert_problem(
        app.get_internal("/api/v1/jobs/nosuchjob/history").await,
        404,
        "job_not_found",
    )
    .await;
    let notes = format!("/api/v1/jobs/{job}/notes");
    assert_problem(
        post(&app, &notes, None, None, &json!({ "text": "  " })).await,
        400,
        "invalid_text",
    )
    .await;
    assert_problem(
        post(
            &app,
            &notes,
            Some("has space"),
            None,
            &json!({ "text": "x" }),
        )
        .await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    assert_problem(
        post(
            &app,
            &notes,
            None,
            None,
            &json!({ "text": "x", "contactId": "bad id!" }),
        )
        .await,
        400,
        "invalid_contact_id",
    )
    .await;
    let unauthenticated = app
        .client
        .post(format!("{}{notes}", app.address))
        .json(&json!({ "text": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        sandbox.handle().fault_stats().write_requests,
        0,
        "nothing sent"
    );
}

async fn a_repeat_while_the_first_attempt_is_in_flight_answers_pending_without_a_second_call(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let job = &job_jnids(&sandbox)[8];
    let path = format!("/api/v1/jobs/{job}/notes");
    let body = json!({ "text": "Slow JobNimbus" });
    sandbox.handle().set_faults(FaultConfig {
        latency: Duration::from_millis(1_500),
        ..FaultConfig::default()
    });
    sandbox.handle().reset_fault_stats();

    let (first, repeat) = tokio::join!(post(&app, &path, Some("slow-1"), None, &body), async {
        // Well inside the first request's call to JobNimbus.
        tokio::time::sleep(Duration::from_millis(500)).await;
        post(&app, &path, Some("slow-1"), None, &body).await
    });

    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    let repeat = body_of(repeat, 202).await;
    let first = body_of(first, 201).await;
    assert_eq!(repeat["id"], first["id"]);
    assert_eq!(repeat["state"], "pending");
    assert_eq!(repeat["attempts"], 1, "the repeat started no attempt");
    assert_eq!(
        sandbox.handle().fault_stats().write_requests,
        1,
        "one POST to JobNimbus"
    );
    let marker = first["marker"].as_str().unwrap();
    assert_eq!(
        marked(&sandbox, Resource::Activities, "note", marker).len(),
        1
    );
}

/// Attachment bytes waiting for their write-back to settle.
async fn uploads_held(db: &adapters::store::Db) -> i64 {
    let sql = "select count(*) from write_back_uploads";
    match db {
        adapters::store::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        adapters::store::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap()
}

/// Every row of the read model, job by job and kind by kind.
async fn write_back_rows(
    db: &adapters::store::Db,
    jobs: &[String],
) -> Vec<projections::write_backs::query::WriteBackRow> {
    let mut rows = Vec::new();
    for job in jobs {
        for kind in [
            domain::WriteBackKind::Note,
            domain::WriteBackKind::Task,
            domain::WriteBackKind::Status,
            domain::WriteBackKind::Attachment,
        ] {
            rows.extend(
                projections::write_backs::query::list(db, &format!("jobnimbus:{job}"), kind)
                    .await
                    .unwrap(),
            );
        }
    }
    rows
}

async fn a_refused_write_fails_at_once_and_the_read_model_rebuilds_to_the_same_rows(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let (sandbox, app) = mirrored(&t).await;
    let jobs = job_jnids(&sandbox);
    let job = &jobs[9];
    // Written, written after a lost answer, refused by JobNimbus, and still pending.
    body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{job}/notes"),
            None,
            None,
            &json!({ "text": "one" }),
        )
        .await,
        201,
    )
    .await;
    let refused = post(
        &app,
        &format!("/api/v1/jobs/{job}/tasks"),
        Some("bad-type"),
        None,
        &json!({ "title": "Call back", "taskType": "No Such Type" }),
    )
    .await;
    let problem = assert_problem(refused, 422, "crm_rejected").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("400"),
        "{problem}"
    );
    sandbox.handle().set_faults(FaultConfig {
        drop_response_after_write: 1.0,
        ..FaultConfig::default()
    });
    body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{job}/notes"),
            Some("lost"),
            None,
            &json!({ "text": "two" }),
        )
        .await,
        202,
    )
    .await;
    sandbox.handle().set_faults(FaultConfig::default());
    until_written(
        &app,
        &format!("/api/v1/jobs/{job}/notes"),
        "lost",
        &json!({ "text": "two" }),
    )
    .await;
    sandbox.handle().set_faults(FaultConfig {
        rate_limit: 1.0,
        ..FaultConfig::default()
    });
    body_of(
        post(
            &app,
            &format!("/api/v1/jobs/{job}/notes"),
            None,
            None,
            &json!({ "text": "three" }),
        )
        .await,
        202,
    )
    .await;
    let tasks = body_of(
        app.get_internal(&format!("/api/v1/jobs/{job}/tasks")).await,
        200,
    )
    .await;
    let task = &tasks["items"][0];
    assert_eq!(task["state"], "failed");
    assert_eq!(task["retryable"], false);
    assert_eq!(task["attempts"], 1, "a refusal is not retried");
    // Let the worker settle the pending one, so no event is appended while rebuilding.
    sandbox.handle().set_faults(FaultConfig::default());
    let mut live = Vec::new();
    for _ in 0..200 {
        live = write_back_rows(&t.db, &jobs).await;
        if live
            .iter()
            .all(|r| r.state != domain::WriteBackState::Pending)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let states: Vec<_> = live.iter().map(|r| r.state).collect();
    assert_eq!(states.len(), 4);
    assert!(
        !states.contains(&domain::WriteBackState::Pending),
        "{states:?}"
    );
    assert!(live.iter().any(|r| r.confirmed_by_read_back));
    assert!(live
        .iter()
        .any(|r| r.last_error.is_some() && r.state == domain::WriteBackState::Succeeded));
    // Stop the live runners and the worker before rebuilding, as `replay` requires.
    drop(app);
    tokio::time::sleep(Duration::from_millis(200)).await;

    projections::rebuild(&t.db, &projections::write_backs::WriteBacks, 3, |_| {})
        .await
        .unwrap();

    assert_eq!(write_back_rows(&t.db, &jobs).await, live);
}

async fn an_attempt_cut_at_its_lease_is_read_back_before_it_is_sent_again(backend: Backend) {
    let t = TestDb::new(backend).await;
    // An attempt may run 0.8 s; JobNimbus answers after 1.5 s.
    let (sandbox, app) = mirrored_with(&t, |w| w.lease = Duration::from_secs(1)).await;
    let job = &job_jnids(&sandbox)[10];
    let path = format!("/api/v1/jobs/{job}/notes");
    let body = json!({ "text": "Slow enough to be cut" });
    sandbox.handle().set_faults(FaultConfig {
        latency: Duration::from_millis(1_500),
        ..FaultConfig::default()
    });

    let pending = body_of(post(&app, &path, Some("cut-1"), None, &body).await, 202).await;
    assert!(
        pending["lastError"]
            .as_str()
            .unwrap()
            .contains("ran longer than"),
        "{pending}"
    );
    sandbox.handle().set_faults(FaultConfig::default());
    let written = until_written(&app, &path, "cut-1", &body).await;

    let marker = written["marker"].as_str().unwrap();
    let notes = marked(&sandbox, Resource::Activities, "note", marker);
    assert_eq!(
        notes.len(),
        1,
        "once, whether or not the cut request was applied"
    );
    assert_eq!(written["remoteId"], notes[0]["jnid"]);
    let history = body_of(
        app.get_internal(&format!("/api/v1/jobs/{job}/history"))
            .await,
        200,
    )
    .await;
    let read_back_first = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["aggregateId"] == written["id"])
        .filter_map(|e| e["payload"]["WriteBackAttemptStarted"]["read_back_first"].as_bool())
        .collect::<Vec<_>>();
    assert_eq!(read_back_first.first(), Some(&false));
    assert!(
        read_back_first[1..].iter().all(|first| *first),
        "every later attempt read back first: {read_back_first:?}"
    );
}
