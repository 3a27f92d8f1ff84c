//! The sandbox's write side over real HTTP: notes, tasks, updates, uploads, write faults and
//! automation webhooks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::tests::{config, Api, ANCHOR, KEY};
use super::*;

const SKIP: &str = "skip=automation,notification";

fn job_filter(jnid: &str) -> Value {
    json!({"must": [{"term": {"related.id": jnid}}]})
}

fn note(job: &str, text: &str) -> Value {
    json!({
        "record_type_name": "Note",
        "note": text,
        "primary": {"id": job, "type": "job"},
        "related": [{"id": job, "type": "job"}],
        "is_status_change": false,
    })
}

/// A job of `workflow` whose status is not `avoid`.
fn job_in(api: &Api, workflow: &str, avoid: &str) -> Value {
    api.handle()
        .records(Resource::Jobs)
        .into_iter()
        .find(|j| j["record_type_name"] == workflow && j["status_name"] != avoid)
        .unwrap()
}

// ----- notes, tasks, updates -----

#[tokio::test]
async fn a_note_is_stamped_now_and_listed_under_its_job() {
    let api = Api::start(config(40)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    api.handle().advance_clock(3_600);
    let now = api.handle().now();

    let (status, created) = api
        .post(
            &format!("activities?{SKIP}"),
            note(&job, "QC Review: passed"),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{created}");
    let jnid = created["jnid"].as_str().unwrap();
    assert!(created["date_created"].as_i64().unwrap() >= now);
    assert_eq!(created["date_updated"], created["date_created"]);
    assert_eq!(created["note"], "QC Review: passed");
    assert_eq!(created["primary"]["id"], job.as_str());
    let listed = api
        .list(
            "activities",
            &[
                ("filter", job_filter(&job).to_string()),
                ("size", "1000".into()),
            ],
        )
        .await;
    let notes: Vec<&Value> = listed["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["jnid"] == jnid)
        .collect();
    assert_eq!(notes.len(), 1, "{listed}");
}

#[tokio::test]
async fn invalid_writes_get_a_400_naming_what_is_wrong_and_change_nothing() {
    let api = Api::start(config(41)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    let task = json!({
        "title": "Final walkthrough",
        "date_start": ANCHOR + 86_400,
        "record_type_name": "Inspection",
        "related": [{"id": job}],
    });
    let without = |body: &Value, key: &str| {
        let mut body = body.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let with = |body: &Value, key: &str, value: Value| {
        let mut body = body.clone();
        body[key] = value;
        body
    };
    let cases = [
        ("activities", without(&note(&job, "x"), "note"), "note"),
        (
            "activities",
            without(&note(&job, "x"), "primary"),
            "primary",
        ),
        (
            "activities",
            with(
                &note(&job, "x"),
                "record_type_name",
                json!("Status Changed"),
            ),
            "Status Changed",
        ),
        (
            "activities",
            with(&note(&job, "x"), "primary", json!({"id": "nosuchjob"})),
            "nosuchjob",
        ),
        ("tasks", without(&task, "date_start"), "date_start"),
        (
            "tasks",
            with(&task, "date_start", json!("tomorrow")),
            "date_start",
        ),
        (
            "tasks",
            with(&task, "record_type_name", json!("Picnic")),
            "Picnic",
        ),
        (
            "activities?actor=nobody%40example.com",
            note(&job, "x"),
            "nobody@example.com",
        ),
    ];
    let before = (
        api.handle().count(Resource::Activities),
        api.handle().count(Resource::Tasks),
    );
    for (path, body, named) in cases {
        let (status, answer) = api.post(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    let response = api
        .http
        .post(api.url("activities"))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        (
            api.handle().count(Resource::Activities),
            api.handle().count(Resource::Tasks)
        ),
        before
    );
}

#[tokio::test]
async fn updating_an_unknown_jnid_is_a_404_for_every_resource() {
    let api = Api::start(config(42)).await;
    for path in ["jobs/nosuch", "contacts/nosuch", "tasks/nosuch"] {
        let (status, body) = api.put(path, json!({"description": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_status_outside_the_jobs_own_workflow_is_refused_naming_status_and_workflow() {
    let api = Api::start(config(43)).await;
    let job = job_in(&api, "Residential Roofing", "Lead");
    let jnid = job["jnid"].as_str().unwrap();

    // "Bid Submitted" exists, but in the Commercial workflow.
    let (status, body) = api
        .put(
            &format!("jobs/{jnid}"),
            json!({"status_name": "Bid Submitted"}),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("Bid Submitted") && message.contains("Residential Roofing"),
        "{message}"
    );
    assert_eq!(api.handle().get(Resource::Jobs, jnid).unwrap(), job);
    // Moving workflows at the same time makes it valid.
    let (status, moved) = api
        .put(
            &format!("jobs/{jnid}"),
            json!({"record_type_name": "Commercial", "status_name": "Bid Submitted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["record_type"], 12);
}

#[tokio::test]
async fn a_contact_update_is_partial_and_moves_date_updated() {
    let api = Api::start(config(44)).await;
    let jnid = api.handle().random_jnid(Resource::Contacts).unwrap();
    let before = api.handle().get(Resource::Contacts, &jnid).unwrap();
    api.handle().advance_clock(120);

    let (status, after) = api
        .put(
            &format!("contacts/{jnid}?{SKIP}"),
            json!({"email": "new@example.com", "jnid": "hijack", "date_created": 1}),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["email"], "new@example.com");
    assert_eq!(after["jnid"], jnid.as_str(), "read-only fields are ignored");
    assert_eq!(after["date_created"], before["date_created"]);
    assert_eq!(after["display_name"], before["display_name"]);
    assert!(
        after["date_updated"].as_i64().unwrap() >= before["date_updated"].as_i64().unwrap() + 120
    );
}

#[tokio::test]
async fn a_write_with_an_actor_is_attributed_to_that_team_member() {
    let api = Api::start(config(45)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();

    let (status, created) = api
        .post(
            "activities?actor=lena%40summitroofing.example",
            note(&job, "attributed"),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["created_by_name"], "Lena Fischer");
}

// ----- faults on writes -----

async fn notes_of(api: &Api, job: &str, text: &str) -> usize {
    api.handle()
        .records(Resource::Activities)
        .iter()
        .filter(|a| a["primary"]["id"] == job && a["note"] == text)
        .count()
}

#[tokio::test]
async fn a_write_whose_answer_is_dropped_was_applied_all_the_same() {
    let api = Api::start(SandboxConfig {
        faults: FaultConfig {
            drop_response_after_write: 1.0,
            ..FaultConfig::default()
        },
        ..config(46)
    })
    .await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();

    let sent = api
        .http
        .post(api.url("activities"))
        .bearer_auth(KEY)
        .json(&note(&job, "lost answer"))
        .send()
        .await;

    assert!(sent.is_err(), "no answer at all: {sent:?}");
    assert_eq!(notes_of(&api, &job, "lost answer").await, 1);
    let (status, _) = api.get("jobs", &[("size", "1".into())]).await;
    assert_eq!(status, StatusCode::OK, "reads are not affected");
    let stats = api.handle().fault_stats();
    assert_eq!((stats.dropped_after_write, stats.write_requests), (1, 1));
}

#[tokio::test]
async fn a_5xx_on_a_write_comes_before_or_after_applying_it_as_configured() {
    let api = Api::start(config(47)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    for (share, kind, applied) in [
        (0.0, "gateway", 0),
        (1.0, "gateway", 1),
        (0.0, "internal", 0),
        (1.0, "internal", 1),
    ] {
        let text = format!("{kind} {share}");
        api.handle().set_faults(FaultConfig {
            server_error: if kind == "gateway" { 1.0 } else { 0.0 },
            internal_error: if kind == "internal" { 1.0 } else { 0.0 },
            server_error_after_write: share,
            ..FaultConfig::default()
        });

        let (status, body) = api.post("activities", note(&job, &text)).await;

        assert!(status.is_server_error(), "{text}: {status}");
        if kind == "internal" {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(body["error"].is_string(), "{body}");
        }
        assert_eq!(notes_of(&api, &job, &text).await, applied, "{text}");
    }
    assert_eq!(api.handle().fault_stats().server_errors_after_write, 2);
}

// ----- uploads -----

struct Upload {
    jnid: String,
    url: String,
}

fn files_url(api: &Api, path: &str) -> String {
    format!("{}/files/v1/{path}", api.sandbox.files_base_url())
}

async fn request_upload(api: &Api, body: Value) -> (StatusCode, Value) {
    api.send(api.http.post(files_url(api, "uploads/url")).json(&body))
        .await
}

async fn upload_url(api: &Api, job: &str, filename: &str) -> Upload {
    let (status, body) = request_upload(
        api,
        json!({"related": [job], "type": 2, "filename": filename, "description": "Before: north slope", "isPrivate": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Upload {
        jnid: body["data"]["jnid"].as_str().unwrap().to_owned(),
        url: body["data"]["url"].as_str().unwrap().to_owned(),
    }
}

async fn put_bytes(api: &Api, url: &str, bytes: &[u8]) -> (StatusCode, String) {
    let response = api
        .http
        .put(url)
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn complete(api: &Api, jnid: &str) -> (StatusCode, Value) {
    api.send(api.http.post(files_url(
        api,
        &format!("uploads/{jnid}/complete?generateThumbnail=true"),
    )))
    .await
}

async fn files_of(api: &Api, job: &str) -> Vec<Value> {
    let body = api
        .list("files", &[("filter", job_filter(job).to_string())])
        .await;
    body["files"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_presigned_upload_is_listed_with_its_metadata_only_once_completed() {
    let api = Api::start(config(50)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    let attachments = api.handle().get(Resource::Jobs, &job).unwrap()["attachment_count"]
        .as_i64()
        .unwrap();
    let bytes = b"\xFF\xD8\xFF\xE0 a roof photo".to_vec();

    let upload = upload_url(&api, &job, "IMG_2001.jpg").await;
    assert!(upload.url.contains("X-Amz-Signature="), "{}", upload.url);
    assert!(!upload.url.contains(KEY));
    let (status, text) = put_bytes(&api, &upload.url, &bytes).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed_before = files_of(&api, &job).await;
    let started = api.handle().now();
    let (status, done) = complete(&api, &upload.jnid).await;

    assert!(listed_before
        .iter()
        .all(|f| f["jnid"] != upload.jnid.as_str()));
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["data"]["jnid"], upload.jnid.as_str());
    assert!(done["data"]["thumbnailUrl"].is_string(), "{done}");
    let listed = files_of(&api, &job).await;
    let file = listed
        .iter()
        .find(|f| f["jnid"] == upload.jnid.as_str())
        .unwrap();
    assert_eq!(file["filename"], "IMG_2001.jpg");
    assert_eq!(file["content_type"], "image/jpeg");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["description"], "Before: north slope");
    assert_eq!(file["record_type"], 2);
    assert_eq!(file["record_type_name"], "Photo");
    assert_eq!(file["related"][0]["id"], job.as_str());
    assert_eq!(file["related"][0]["type"], "job");
    let created = file["date_created"].as_i64().unwrap();
    assert!(
        (started..=api.handle().now()).contains(&created),
        "{created}"
    );
    let job_after = api.handle().get(Resource::Jobs, &job).unwrap();
    assert_eq!(job_after["attachment_count"], attachments + 1);
    let downloaded = api
        .http
        .get(api.url(&format!("files/{}", upload.jnid)))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), bytes);

    // Completing again answers the same and makes no second file.
    let (status, again) = complete(&api, &upload.jnid).await;
    assert_eq!((status, &again), (StatusCode::OK, &done));
    assert_eq!(files_of(&api, &job).await.len(), listed.len());
}

#[tokio::test]
async fn the_presigned_put_refuses_auth_headers_tampering_expiry_and_other_content_types() {
    let api = Api::start(config(51)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    let upload = upload_url(&api, &job, "roof.png").await;
    let forbidden = |response: reqwest::Response, code: &'static str| async move {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let text = response.text().await.unwrap();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
    };

    let with_key = api
        .http
        .put(&upload.url)
        .bearer_auth(KEY)
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    forbidden(with_key, "InvalidArgument").await;
    let tampered = upload.url.replace("X-Amz-Signature=", "X-Amz-Signature=A");
    let tampered = api
        .http
        .put(tampered)
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    forbidden(tampered, "SignatureDoesNotMatch").await;
    let other_upload = upload_url(&api, &job, "other.png").await;
    let swapped = upload.url.replace(&upload.jnid, &other_upload.jnid);
    let swapped = api
        .http
        .put(swapped)
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    forbidden(swapped, "SignatureDoesNotMatch").await;
    let typed = api
        .http
        .put(&upload.url)
        .header("Content-Type", "image/png")
        .body("x")
        .send()
        .await
        .unwrap();
    forbidden(typed, "SignatureDoesNotMatch").await;
    api.handle().advance_clock(15 * 60 + 1);
    let late = api
        .http
        .put(&upload.url)
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    forbidden(late, "AccessDenied").await;

    // Nothing was uploaded, so nothing can be completed.
    let (status, body) = complete(&api, &upload.jnid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], 400);
    assert!(body["detail"].as_str().unwrap().contains(&upload.jnid));
}

#[tokio::test]
async fn upload_requests_are_checked_and_answered_with_problem_details() {
    let api = Api::start(config(52)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();
    let good = json!({"related": [job], "type": 1, "filename": "Estimate.pdf"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    for (body, named) in [
        (with("related", json!([])), "related"),
        (with("related", json!([{"id": job}])), "related"),
        (with("related", json!(["nosuch"])), "nosuch"),
        (with("type", json!(99)), "99"),
        (with("type", json!("Photo")), "type"),
        (with("filename", json!(" ")), "filename"),
        (with("isPrivate", json!("yes")), "isPrivate"),
    ] {
        let (status, answer) = request_upload(&api, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["title"], "Bad Request");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{body}: {detail}");
    }
    let anonymous = api
        .http
        .post(files_url(&api, "uploads/url"))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = anonymous.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    let (status, _) = complete(&api, "nosuchupload").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_deprecated_base64_upload_creates_the_file_at_once() {
    let api = Api::start(config(53)).await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();

    let (status, file) = api
        .post(
            "files",
            json!({
                "data": "JVBERi0xLjQK", "filename": "Contract.pdf", "description": "Signed",
                "type": 1, "related": [job], "subtype": "job", "is_private": true,
            }),
        )
        .await;
    let (refused, error) = api
        .post(
            "files",
            json!({"data": "not base64!", "filename": "a.pdf", "type": 1, "related": [job]}),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{file}");
    assert_eq!(file["size"], 9);
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["is_private"], true);
    let listed = files_of(&api, &job).await;
    assert!(listed.iter().any(|f| f["jnid"] == file["jnid"]));
    assert_eq!(refused, StatusCode::BAD_REQUEST);
    assert!(
        error["error"].as_str().unwrap().contains("base64"),
        "{error}"
    );
}

// ----- automation webhooks -----

/// A webhook receiver on loopback answering `status` (changeable) to every POST; the bodies
/// arrive on the channel.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<Value>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, bodies) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
            let tx = tx.clone();
            let answer = answer.clone();
            async move {
                let bytes = req.take_body().into_vec().await.unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let _ = tx.send(body);
                poem::http::StatusCode::from_u16(answer.load(Ordering::SeqCst))
                    .unwrap_or(poem::http::StatusCode::OK)
            }
        });
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        Self {
            url: format!("http://{addr}/hooks/jobnimbus?token=t0k3n"),
            bodies,
            status,
        }
    }

    /// Every body received so far (call after `flush_webhooks`).
    fn drain(&mut self) -> Vec<Value> {
        let mut bodies = Vec::new();
        while let Ok(body) = self.bodies.try_recv() {
            bodies.push(body);
        }
        bodies
    }
}

fn quick(url: &str) -> WebhookConfig {
    WebhookConfig {
        retry_delay: Duration::from_millis(1),
        ..WebhookConfig::new(url)
    }
}

#[tokio::test]
async fn webhooks_announce_http_and_handle_writes_as_slim_records_but_not_skipped_ones() {
    let mut receiver = Receiver::start().await;
    let api = Api::start(SandboxConfig {
        webhook: Some(quick(&receiver.url)),
        ..config(60)
    })
    .await;
    let job = job_in(&api, "Residential Roofing", "Sold");
    let jnid = job["jnid"].as_str().unwrap();
    let contact = api.handle().random_jnid(Resource::Contacts).unwrap();

    let (skipped, _) = api
        .post(&format!("activities?{SKIP}"), note(jnid, "quiet"))
        .await;
    let (status, _) = api
        .put(&format!("jobs/{jnid}"), json!({"status_name": "Sold"}))
        .await;
    api.handle()
        .update(
            Resource::Contacts,
            &contact,
            json!({"company": "Edited in the web app"}),
        )
        .unwrap();
    api.handle()
        .soft_delete(Resource::Contacts, &contact)
        .unwrap();
    api.handle().flush_webhooks().await;

    assert_eq!((skipped, status), (StatusCode::OK, StatusCode::OK));
    let bodies = receiver.drain();
    let stats = api.handle().webhook_stats();
    assert_eq!(stats.skipped, 1);
    // The job, its status-change activity, and the contact twice.
    assert_eq!((stats.announced, stats.delivered), (4, 4), "{stats:?}");
    assert_eq!(bodies.len(), 4);
    let job_hook = bodies.iter().find(|b| b["jnid"] == jnid).unwrap();
    let saved = api.handle().get(Resource::Jobs, jnid).unwrap();
    assert_eq!(
        job_hook,
        &json!({
            "jnid": jnid, "type": "job", "record_type_name": "Residential Roofing",
            "status_name": "Sold", "is_active": saved["is_active"],
            "date_updated": saved["date_updated"],
        })
    );
    let status_log = bodies.iter().find(|b| b["type"] == "activity").unwrap();
    assert_eq!(status_log["record_type_name"], "Status Changed");
    let contact_hooks: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["jnid"] == contact.as_str())
        .collect();
    assert_eq!(contact_hooks.len(), 2);
    assert!(contact_hooks.iter().any(|b| b["is_active"] == false));
    assert!(bodies
        .iter()
        .all(|b| b.get("note").is_none() && b.get("name").is_none()));
}

#[tokio::test]
async fn duplicate_deliveries_happen_at_their_rate_and_each_change_at_least_once() {
    let mut receiver = Receiver::start().await;
    let api = Api::start(SandboxConfig {
        webhook: Some(WebhookConfig {
            duplicate_ratio: 0.3,
            ..quick(&receiver.url)
        }),
        ..config(61)
    })
    .await;

    let jnids = api.handle().add_contacts(200);
    api.handle().flush_webhooks().await;

    let bodies = receiver.drain();
    let stats = api.handle().webhook_stats();
    assert_eq!(stats.announced, 200);
    assert!((35..=85).contains(&stats.duplicates), "{stats:?}");
    assert_eq!(bodies.len() as u64, 200 + stats.duplicates);
    assert_eq!(stats.delivered, 200 + stats.duplicates);
    let received: HashSet<&str> = bodies.iter().map(|b| b["jnid"].as_str().unwrap()).collect();
    let expected: HashSet<&str> = jnids.iter().map(String::as_str).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_failing_receiver_gets_each_delivery_retried_then_given_up() {
    let mut receiver = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let api = Api::start(SandboxConfig {
        webhook: Some(WebhookConfig {
            max_attempts: 3,
            ..quick(&receiver.url)
        }),
        ..config(62)
    })
    .await;

    api.handle().add_contacts(1);
    api.handle().flush_webhooks().await;

    let stats = api.handle().webhook_stats();
    assert_eq!(receiver.drain().len(), 3);
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.abandoned),
        (0, 3, 1),
        "{stats:?}"
    );
    // A receiver that recovers gets the next change on the first attempt.
    receiver.status.store(200, Ordering::SeqCst);
    api.handle().add_contacts(1);
    api.handle().flush_webhooks().await;
    assert_eq!(api.handle().webhook_stats().delivered, 1);
}

#[tokio::test]
async fn uploads_completed_over_http_are_announced_unless_skipped() {
    let mut receiver = Receiver::start().await;
    let api = Api::start(SandboxConfig {
        webhook: Some(quick(&receiver.url)),
        ..config(63)
    })
    .await;
    let job = api.handle().random_jnid(Resource::Jobs).unwrap();

    let loud = upload_url(&api, &job, "a.jpg").await;
    put_bytes(&api, &loud.url, b"a").await;
    complete(&api, &loud.jnid).await;
    let quiet = upload_url(&api, &job, "b.jpg").await;
    put_bytes(&api, &quiet.url, b"b").await;
    api.send(api.http.post(files_url(
        &api,
        &format!("uploads/{}/complete?{SKIP}", quiet.jnid),
    )))
    .await;
    api.handle().flush_webhooks().await;

    let bodies = receiver.drain();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["jnid"], loud.jnid.as_str());
    assert_eq!(bodies[0]["type"], "attachment");
    assert_eq!(api.handle().webhook_stats().skipped, 1);
}
