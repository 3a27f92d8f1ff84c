//! The write methods against the sandbox, faults included.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::Value;

use super::*;
use crate::jobnimbus::client::ClientConfig;
use crate::jobnimbus::sandbox::{
    FaultConfig, Resource, RunningSandbox, SandboxConfig, SandboxJobNimbus, WebhookConfig,
};

const KEY: &str = "jn-writes-test-key-5b1e0c77";
const ANCHOR: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

async fn start(seed: u64, faults: FaultConfig) -> RunningSandbox {
    SandboxJobNimbus::start(SandboxConfig {
        jobs: 60,
        contacts: 40,
        anchor: ANCHOR,
        faults,
        ..SandboxConfig::new(KEY, seed)
    })
    .await
    .unwrap()
}

/// Fast retries, no pacing: the tests prove behaviour, not timing.
fn config(sandbox: &RunningSandbox) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(10),
        max_retries: 8,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        retry_after_cap: Duration::from_millis(5),
        min_request_interval: Duration::ZERO,
        ..ClientConfig::new(sandbox.base_url(), SecretString::from(KEY.to_owned()))
    }
}

fn client(sandbox: &RunningSandbox) -> JobNimbusClient {
    JobNimbusClient::new(config(sandbox)).unwrap()
}

fn marker(n: u32) -> WriteMarker {
    WriteMarker::new(format!("intent-{n:08}")).unwrap()
}

fn note(text: &str, n: u32) -> NewNote {
    NewNote {
        text: text.to_owned(),
        marker: marker(n),
        contact_jnid: None,
    }
}

fn photo(n: u32) -> NewAttachment {
    NewAttachment {
        filename: format!("IMG_{n:04}.jpg"),
        content_type: "image/jpeg".into(),
        bytes: [&[0xFF, 0xD8, 0xFF, 0xE0][..], &n.to_be_bytes()].concat(),
        description: Some("After: ridge cap".into()),
        file_type: None,
        is_private: false,
        marker: marker(n),
    }
}

/// Records of `resource` on the job whose `field` carries `marker`, as the sandbox holds them.
fn marked(
    sandbox: &RunningSandbox,
    resource: Resource,
    field: &str,
    m: &WriteMarker,
) -> Vec<Value> {
    sandbox
        .handle()
        .records(resource)
        .into_iter()
        .filter(|r| r[field].as_str().is_some_and(|t| m.is_in(t)))
        .collect()
}

fn job_of(sandbox: &RunningSandbox) -> String {
    sandbox.handle().random_jnid(Resource::Jobs).unwrap()
}

// ----- notes -----

#[tokio::test]
async fn a_note_is_written_on_the_job_with_its_marker_and_found_again_by_it() {
    let sandbox = start(1, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);
    let contact = sandbox.handle().random_jnid(Resource::Contacts).unwrap();

    let written = client
        .create_note(
            &job,
            &NewNote {
                contact_jnid: Some(contact.clone()),
                ..note("QC Review: PASS", 1)
            },
        )
        .await
        .unwrap();
    let found = client.find_note_by_marker(&job, &marker(1)).await.unwrap();
    let absent = client.find_note_by_marker(&job, &marker(2)).await.unwrap();

    let stored = sandbox
        .handle()
        .get(Resource::Activities, &written.jnid)
        .unwrap();
    assert_eq!(stored["note"], "QC Review: PASS\n\n[ucrm:intent-00000001]");
    assert_eq!(stored["record_type_name"], "Note");
    assert_eq!(stored["primary"]["id"], job.as_str());
    let linked: HashSet<&str> = stored["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(linked, HashSet::from([job.as_str(), contact.as_str()]));
    assert_eq!(
        written.created_at.map(|t| t.timestamp()),
        stored["date_created"].as_i64()
    );
    assert_eq!(found, Some(written));
    assert_eq!(absent, None);
}

#[tokio::test]
async fn a_note_whose_answer_is_lost_after_it_was_applied_is_ambiguous_and_found_by_its_marker() {
    let sandbox = start(
        2,
        FaultConfig {
            drop_response_after_write: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    let err = client
        .create_note(&job, &note("QC Review: FAIL", 3))
        .await
        .unwrap_err();

    assert!(matches!(err, ClientError::Ambiguous { .. }), "{err:?}");
    assert!(err.may_have_been_applied());
    assert_eq!(
        sandbox.handle().fault_stats().write_requests,
        1,
        "never re-posted"
    );
    let found = client.find_note_by_marker(&job, &marker(3)).await.unwrap();
    let stored = marked(&sandbox, Resource::Activities, "note", &marker(3));
    assert_eq!(stored.len(), 1);
    assert_eq!(
        found.map(|n| n.jnid),
        stored[0]["jnid"].as_str().map(str::to_owned)
    );
}

#[tokio::test]
async fn a_note_dropped_before_it_was_applied_is_ambiguous_and_the_read_back_finds_nothing() {
    let sandbox = start(
        3,
        FaultConfig {
            drop_connection: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    let err = client
        .create_note(&job, &note("never arrives", 4))
        .await
        .unwrap_err();
    sandbox.handle().set_faults(FaultConfig::default());
    let found = client.find_note_by_marker(&job, &marker(4)).await.unwrap();

    assert!(matches!(err, ClientError::Ambiguous { .. }), "{err:?}");
    assert_eq!(found, None, "so the caller may write it again");
}

#[tokio::test]
async fn server_errors_and_timeouts_on_a_note_are_ambiguous_and_never_retried() {
    let sandbox = start(4, FaultConfig::default()).await;
    let job = job_of(&sandbox);
    let cases = [
        FaultConfig {
            internal_error: 1.0,
            ..FaultConfig::default()
        },
        FaultConfig {
            server_error: 1.0,
            ..FaultConfig::default()
        },
        FaultConfig {
            latency: Duration::from_secs(3),
            ..FaultConfig::default()
        },
    ];
    let client = JobNimbusClient::new(ClientConfig {
        timeout: Duration::from_millis(300),
        ..config(&sandbox)
    })
    .unwrap();
    for (n, faults) in (10..).zip(cases) {
        sandbox.handle().set_faults(faults.clone());
        sandbox.handle().reset_fault_stats();

        let err = client
            .create_note(&job, &note("QC Review", n))
            .await
            .unwrap_err();

        assert!(
            matches!(err, ClientError::Ambiguous { .. }),
            "{faults:?}: {err:?}"
        );
        assert_eq!(sandbox.handle().fault_stats().requests, 1, "{faults:?}");
    }
}

#[tokio::test]
async fn rate_limited_notes_are_retried_and_each_is_written_exactly_once() {
    let sandbox = start(
        5,
        FaultConfig {
            rate_limit: 0.3,
            retry_after_share: 0.5,
            retry_after_secs: 1,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    for n in 20..40 {
        client
            .create_note(&job, &note("rate limited", n))
            .await
            .unwrap_or_else(|e| panic!("note {n}: {e}"));
    }

    let stats = sandbox.handle().fault_stats();
    assert!(
        stats.rate_limited_with_retry_after + stats.rate_limited_without_retry_after > 0,
        "{stats:?}"
    );
    for n in 20..40 {
        assert_eq!(
            marked(&sandbox, Resource::Activities, "note", &marker(n)).len(),
            1,
            "note {n}"
        );
    }
}

#[tokio::test]
async fn writes_the_api_would_refuse_are_refused_before_sending() {
    let sandbox = start(6, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    let errors = [
        client.create_note(&job, &note("  ", 1)).await.unwrap_err(),
        client
            .create_note("../jobs", &note("x", 1))
            .await
            .unwrap_err(),
        client.update_job_status(&job, " ").await.unwrap_err(),
        client
            .create_task(
                &job,
                &NewTask {
                    title: "t".into(),
                    description: None,
                    due: None,
                    task_type: "".into(),
                    marker: marker(1),
                },
            )
            .await
            .unwrap_err(),
    ];

    for err in &errors {
        assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
    }
    assert_eq!(sandbox.handle().fault_stats().requests, 0);
}

// ----- tasks -----

#[tokio::test]
async fn a_task_is_created_with_its_type_due_date_and_marker_and_found_again() {
    let sandbox = start(7, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);
    let due = DateTime::<Utc>::from_timestamp(ANCHOR + 7 * 86_400, 0).unwrap();
    let task = NewTask {
        title: "Re-shoot AFTER photos".into(),
        description: Some("QC found no AFTER photos".into()),
        due: Some(due),
        task_type: "Follow Up".into(),
        marker: marker(7),
    };

    let written = client.create_task(&job, &task).await.unwrap();
    let found = client.find_task_by_marker(&job, &marker(7)).await.unwrap();
    let other = client.find_task_by_marker(&job, &marker(8)).await.unwrap();

    let stored = sandbox
        .handle()
        .get(Resource::Tasks, &written.jnid)
        .unwrap();
    assert_eq!(stored["title"], "Re-shoot AFTER photos");
    assert_eq!(stored["record_type_name"], "Follow Up");
    assert_eq!(stored["date_end"], due.timestamp());
    assert_eq!(
        stored["description"],
        "QC found no AFTER photos\n\n[ucrm:intent-00000007]"
    );
    assert_eq!(stored["related"][0]["id"], job.as_str());
    assert_eq!(found.map(|t| t.jnid), Some(written.jnid));
    assert_eq!(other, None);
}

#[tokio::test]
async fn an_unknown_task_type_is_rejected_with_the_apis_message() {
    let sandbox = start(8, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    let err = client
        .create_task(
            &job,
            &NewTask {
                title: "x".into(),
                description: None,
                due: None,
                task_type: "Picnic".into(),
                marker: marker(9),
            },
        )
        .await
        .unwrap_err();

    assert!(
        matches!(&err, ClientError::Rejected { status: 400, message, .. } if message.contains("Picnic")),
        "{err:?}"
    );
    assert!(!err.may_have_been_applied());
}

// ----- status -----

#[tokio::test]
async fn a_status_change_answers_the_saved_job_and_unknown_statuses_and_jobs_are_rejected() {
    let sandbox = start(9, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = sandbox
        .handle()
        .records(Resource::Jobs)
        .into_iter()
        .find(|j| j["record_type_name"] == "Insurance Claim" && j["status_name"] != "Approved")
        .unwrap();
    let jnid = job["jnid"].as_str().unwrap();

    let saved = client.update_job_status(jnid, "Approved").await.unwrap();
    let unknown = client
        .update_job_status(jnid, "Invoiced")
        .await
        .unwrap_err();
    let missing = client
        .update_job_status("nosuchjob", "Approved")
        .await
        .unwrap_err();

    assert_eq!(saved.snapshot.status.as_deref(), Some("Approved"));
    assert_eq!(
        saved.snapshot.status_changed_at,
        Some(saved.date_updated),
        "the change is stamped"
    );
    let read_back = client.fetch_job_by_id(jnid).await.unwrap().unwrap();
    assert_eq!(read_back, saved);
    assert!(
        matches!(&unknown, ClientError::Rejected { status: 400, message, .. } if message.contains("Invoiced")),
        "{unknown:?}"
    );
    assert!(missing.is_not_found(), "{missing:?}");
}

#[tokio::test]
async fn a_status_change_is_idempotent_so_it_is_retried_through_faults() {
    let sandbox = start(
        10,
        FaultConfig {
            server_error: 0.2,
            server_error_after_write: 0.5,
            drop_response_after_write: 0.2,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let jobs: Vec<Value> = sandbox
        .handle()
        .records(Resource::Jobs)
        .into_iter()
        .filter(|j| j["record_type_name"] == "Residential Roofing")
        .take(10)
        .collect();

    for job in &jobs {
        let jnid = job["jnid"].as_str().unwrap();
        let saved = client
            .update_job_status(jnid, "In Progress")
            .await
            .unwrap_or_else(|e| panic!("{jnid}: {e}"));
        assert_eq!(saved.snapshot.status.as_deref(), Some("In Progress"));
    }

    let stats = sandbox.handle().fault_stats();
    assert!(
        stats.write_requests > jobs.len() as u64,
        "faults struck: {stats:?}"
    );
}

#[tokio::test]
async fn the_workflows_list_each_job_workflow_with_its_statuses() {
    let sandbox = start(11, FaultConfig::default()).await;
    let client = client(&sandbox);

    let workflows = client.fetch_job_workflows().await.unwrap();

    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["Residential Roofing", "Commercial", "Insurance Claim"]
    );
    assert!(workflows[0].has_status("Sold") && !workflows[0].has_status("Bid Submitted"));
}

// ----- uploads -----

#[tokio::test]
async fn an_upload_takes_the_three_steps_and_the_file_is_listed_with_its_marker() {
    let sandbox = start(12, FaultConfig::default()).await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);
    let upload = photo(12);

    let uploaded = client.upload_attachment(&job, &upload).await.unwrap();

    let files = client.fetch_attachments(&job).await.unwrap();
    let file = files.iter().find(|f| f.jnid == uploaded.jnid).unwrap();
    assert_eq!(file.filename, "IMG_0012.jpg");
    assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(file.size_bytes, Some(upload.bytes.len() as u64));
    assert_eq!(file.record_type, Some(2));
    assert!(file.is_photo());
    assert_eq!(
        file.description.as_deref(),
        Some("After: ridge cap\n\n[ucrm:intent-00000012]")
    );
    assert!(uploaded.thumbnail_url.is_some());
    let found = client
        .find_attachment_by_marker(&job, &marker(12))
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.jnid), Some(uploaded.jnid));
    let stats = sandbox.handle().fault_stats();
    assert_eq!(stats.write_requests, 3, "url, put, complete: {stats:?}");
}

#[tokio::test]
async fn uploads_through_faults_on_every_step_make_exactly_one_file_each() {
    let sandbox = start(
        13,
        FaultConfig {
            server_error: 0.2,
            server_error_after_write: 0.5,
            drop_response_after_write: 0.25,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    for n in 100..110 {
        client
            .upload_attachment(&job, &photo(n))
            .await
            .unwrap_or_else(|e| panic!("upload {n}: {e}"));
    }

    let stats = sandbox.handle().fault_stats();
    assert!(
        stats.dropped_after_write > 0 && stats.server_errors_after_write > 0,
        "{stats:?}"
    );
    for n in 100..110 {
        assert_eq!(
            marked(&sandbox, Resource::Files, "description", &marker(n)).len(),
            1,
            "upload {n}"
        );
    }
}

#[tokio::test]
async fn the_files_host_is_configurable_and_defaults_to_the_api_hosts_root() {
    let sandbox = start(14, FaultConfig::default()).await;
    let job = job_of(&sandbox);
    let default = client(&sandbox);
    let explicit = JobNimbusClient::new(ClientConfig {
        files_base_url: Some(sandbox.files_base_url()),
        base_url: format!("{}/", sandbox.base_url()),
        ..config(&sandbox)
    })
    .unwrap();
    let elsewhere = JobNimbusClient::new(ClientConfig {
        files_base_url: Some(format!("{}/nowhere", sandbox.files_base_url())),
        ..config(&sandbox)
    })
    .unwrap();

    let root = format!("{}/files/v1/uploads/url", sandbox.files_base_url());
    assert_eq!(
        default.files_url(&["uploads", "url"]).unwrap().as_str(),
        root
    );
    assert_eq!(
        explicit.files_url(&["uploads", "url"]).unwrap().as_str(),
        root
    );
    explicit.upload_attachment(&job, &photo(1)).await.unwrap();
    let err = elsewhere
        .upload_attachment(&job, &photo(2))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let production = JobNimbusClient::new(ClientConfig::new(
        "https://app.jobnimbus.com/api1",
        SecretString::from("k".to_owned()),
    ))
    .unwrap();
    assert_eq!(
        production.files_url(&["uploads", "url"]).unwrap().as_str(),
        "https://app.jobnimbus.com/files/v1/uploads/url"
    );
}

#[tokio::test]
async fn our_writes_ask_jobnimbus_not_to_fire_its_automations() {
    let sandbox = start(15, FaultConfig::default()).await;
    // Nothing listens there; a delivery attempt would count as a failure.
    sandbox
        .handle()
        .set_webhook(Some(WebhookConfig::new("http://127.0.0.1:9/hook")));
    let client = client(&sandbox);
    let job = sandbox
        .handle()
        .records(Resource::Jobs)
        .into_iter()
        .find(|j| j["record_type_name"] == "Commercial" && j["status_name"] != "Negotiating")
        .unwrap();
    let jnid = job["jnid"].as_str().unwrap();

    client.create_note(jnid, &note("quiet", 30)).await.unwrap();
    client
        .create_task(
            jnid,
            &NewTask {
                title: "quiet".into(),
                description: None,
                due: None,
                task_type: "Phone Call".into(),
                marker: marker(31),
            },
        )
        .await
        .unwrap();
    client.update_job_status(jnid, "Negotiating").await.unwrap();
    client.upload_attachment(jnid, &photo(32)).await.unwrap();

    let stats = sandbox.handle().webhook_stats();
    // Note, task, job + its status log line, file.
    assert_eq!((stats.announced, stats.skipped), (0, 5), "{stats:?}");
}

#[tokio::test]
async fn the_api_key_never_appears_in_write_errors() {
    let sandbox = start(
        16,
        FaultConfig {
            internal_error: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let client = client(&sandbox);
    let job = job_of(&sandbox);

    let errors = [
        client.create_note(&job, &note("x", 40)).await.unwrap_err(),
        client.update_job_status(&job, "Lead").await.unwrap_err(),
        client
            .upload_attachment(&job, &photo(41))
            .await
            .unwrap_err(),
    ];

    for err in &errors {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
            assert!(!text.contains("X-Amz-Signature"), "URL leaked: {text}");
        }
    }
    let upload = photo(42);
    assert!(!format!("{upload:?}").contains("255"), "no bytes in Debug");
}
