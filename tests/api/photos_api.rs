//! `POST /api/v1/sync/photos` and `GET /api/v1/jobs/{id}/photos|documents` against the
//! JobNimbus sandbox: categories as the sandbox's data implies them, idempotent re-syncs,
//! files added and removed in the CRM, per-job failures, the refused requests, and the
//! `job_files` read model rebuilt equal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use adapters::jobnimbus::sandbox::{
    FaultConfig, Resource, RunningSandbox, SandboxConfig, SandboxJobNimbus,
};
use adapters::jobnimbus::{NewAttachment, WriteMarker};
use adapters::store::{Db, EventLog};
use serde_json::Value;

use crate::support::crm;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    synced_photos_are_listed_with_the_categories_the_crm_data_implies,
    a_second_photo_sync_appends_no_event,
    files_added_or_removed_in_the_crm_show_up_or_disappear_after_the_next_sync,
    a_photo_sync_reports_each_failed_job_and_syncs_the_others,
    one_job_is_synced_by_our_id_or_its_bare_jnid,
    unknown_jobs_bad_ids_and_bad_limits_are_refused,
    a_job_without_synced_files_lists_none_and_shows_its_dates,
    moved_job_dates_reclassify_its_photos_with_the_next_job_sync,
    the_job_files_read_model_rebuilds_to_the_same_rows,
);

const JOBS: usize = 24;

/// A sandbox whose jobs have files (the shared helper leaves them out).
async fn sandbox_with_files() -> RunningSandbox {
    let mut config = SandboxConfig::new(crm::SANDBOX_KEY, 11);
    config.jobs = JOBS;
    config.contacts = 15;
    config.files_per_job = 4;
    config.activities_per_job = 0;
    config.tasks_per_job = 0;
    SandboxJobNimbus::start(config)
        .await
        .expect("start the JobNimbus sandbox")
}

/// A server on the sandbox whose jobs are mirrored (files not yet synced).
async fn mirrored(t: &TestDb, sandbox: &RunningSandbox) -> TestApp {
    let app = TestApp::spawn_with_jobnimbus(t, sandbox).await;
    let synced = app.post_internal("/api/v1/sync/jobs").await;
    assert_eq!(synced.status(), 200);
    app
}

async fn json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn sync_photos(app: &TestApp, query: &str) -> Value {
    json(
        app.post_internal(&format!("/api/v1/sync/photos{query}"))
            .await,
    )
    .await
}

async fn assert_problem(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
}

/// The active jobs of the mirror.
async fn active_job_ids(app: &TestApp) -> Vec<String> {
    let page = json(app.get_internal("/api/v1/jobs?limit=200").await).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The sandbox's photo descriptions (its `words.rs`), each with the stage it was written for:
/// an oracle kept apart from the rule under test.
const WRITTEN_AS: &[(&str, &str)] = &[
    ("Before tear-off", "BEFORE"),
    ("before photo - front elevation", "BEFORE"),
    ("Existing damage on north slope", "BEFORE"),
    ("Pre-install condition", "BEFORE"),
    ("Initial inspection: hail hits on ridge cap", "BEFORE"),
    ("prior to work, back of house", "BEFORE"),
    ("BEFORE", "BEFORE"),
    ("Original roof, missing shingles near chimney", "BEFORE"),
    ("Tear-off in progress", "DURING"),
    ("during install - underlayment down", "DURING"),
    ("Crew working on ridge vent", "DURING"),
    ("Mid-job: decking replaced near eaves", "DURING"),
    ("Work in progress, day 2", "DURING"),
    ("installing drip edge", "DURING"),
    ("Progress photo", "DURING"),
    ("After - completed roof", "AFTER"),
    ("Final walkthrough, south side", "AFTER"),
    ("Post-install cleanup done", "AFTER"),
    ("AFTER", "AFTER"),
    ("Job complete, new gutters", "AFTER"),
    ("finished ridge cap", "AFTER"),
    ("Completed work front elevation", "AFTER"),
];

/// Descriptions that name no stage: the date decides.
const UNSTAGED: &[&str] = &[
    "",
    "Measurements",
    "Attic ventilation",
    "Satellite dish to remove",
    "Driveway - dumpster location",
];

/// The category a sandbox photo should get: the stage its description was written for, else
/// its capture time against the job's `date_start` / `date_end` (0 = unset).
fn expected_category(photo: &Value, job: &Value) -> &'static str {
    let description = photo["description"].as_str().unwrap_or("");
    if let Some((_, stage)) = WRITTEN_AS.iter().find(|(text, _)| *text == description) {
        return stage;
    }
    assert!(
        UNSTAGED.contains(&description),
        "a sandbox description this test does not know: {description:?}"
    );
    let taken = photo["date_file_created"].as_i64().unwrap();
    let start = job["date_start"].as_i64().unwrap_or(0);
    let end = job["date_end"].as_i64().unwrap_or(0);
    match (start, end) {
        (0, _) | (_, 0) => "UNCLASSIFIED",
        (start, _) if taken < start => "BEFORE",
        (_, end) if taken > end => "AFTER",
        _ => "DURING",
    }
}

fn is_photo(file: &Value) -> bool {
    file["record_type_name"] == "Photo"
        || file["content_type"]
            .as_str()
            .is_some_and(|ct| ct.starts_with("image/"))
}

/// The sandbox's files per job jnid.
fn files_by_job(sandbox: &RunningSandbox) -> HashMap<String, Vec<Value>> {
    let mut by_job: HashMap<String, Vec<Value>> = HashMap::new();
    for file in sandbox.handle().records(Resource::Files) {
        let job = file["primary"]["id"].as_str().unwrap().to_owned();
        by_job.entry(job).or_default().push(file);
    }
    by_job
}

fn jnid_of(job_id: &str) -> &str {
    job_id.strip_prefix("jobnimbus:").unwrap()
}

async fn photos_of(app: &TestApp, job_id: &str) -> Value {
    json(
        app.get_internal(&format!("/api/v1/jobs/{job_id}/photos"))
            .await,
    )
    .await
}

async fn documents_of(app: &TestApp, job_id: &str) -> Value {
    json(
        app.get_internal(&format!("/api/v1/jobs/{job_id}/documents"))
            .await,
    )
    .await
}

fn ids(list: &Value) -> BTreeSet<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn event_count(db: &Db) -> i64 {
    EventLog::new(db.clone()).count().await.unwrap()
}

async fn synced_photos_are_listed_with_the_categories_the_crm_data_implies(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let jobs = active_job_ids(&app).await;
    let files = files_by_job(&sandbox);

    let result = sync_photos(&app, "?limit=500").await;

    let expected_photos: usize = jobs
        .iter()
        .map(|id| {
            files
                .get(jnid_of(id))
                .map_or(0, |f| f.iter().filter(|f| is_photo(f)).count())
        })
        .sum();
    let expected_files: usize = jobs
        .iter()
        .map(|id| files.get(jnid_of(id)).map_or(0, Vec::len))
        .sum();
    assert_eq!(result["total"], jobs.len());
    assert_eq!(result["succeeded"], jobs.len());
    assert_eq!(result["failed"], 0);
    assert_eq!(result["errors"], serde_json::json!([]));
    assert_eq!(result["totalPhotosSynced"], expected_photos);
    assert_eq!(
        result["totalDocumentsSynced"],
        expected_files - expected_photos
    );
    assert_eq!(
        result["eventsAppended"], expected_files,
        "one attach per file"
    );
    assert_eq!(result["caughtUp"], true);

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for job_id in &jobs {
        let job = sandbox
            .handle()
            .get(Resource::Jobs, jnid_of(job_id))
            .unwrap();
        let crm_files = files.get(jnid_of(job_id)).cloned().unwrap_or_default();
        let photos = photos_of(&app, job_id).await;
        let documents = documents_of(&app, job_id).await;

        let listed: HashMap<String, &Value> = photos["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_owned(), p))
            .collect();
        let crm_photos: Vec<&Value> = crm_files.iter().filter(|f| is_photo(f)).collect();
        assert_eq!(listed.len(), crm_photos.len(), "{job_id}");
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for crm_photo in crm_photos {
            let jnid = crm_photo["jnid"].as_str().unwrap();
            let photo = listed[jnid];
            let expected = expected_category(crm_photo, &job);
            assert_eq!(
                photo["qcCategory"], expected,
                "{job_id} {jnid}: {crm_photo} on {job}"
            );
            assert_eq!(photo["filename"], crm_photo["filename"]);
            assert_eq!(photo["sizeBytes"], crm_photo["size"]);
            assert_eq!(photo["jobId"], job_id.as_str());
            *counts.entry(expected).or_default() += 1;
            *seen.entry(expected.to_owned()).or_default() += 1;
        }
        for category in ["BEFORE", "DURING", "AFTER", "UNCLASSIFIED"] {
            assert_eq!(
                photos["byCategory"][category],
                counts.get(category).copied().unwrap_or(0),
                "{job_id} {category}"
            );
        }
        let crm_documents: BTreeSet<String> = crm_files
            .iter()
            .filter(|f| !is_photo(f))
            .map(|f| f["jnid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids(&documents), crm_documents, "{job_id}");
        assert!(documents["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("qcCategory").is_none()));
    }
    // Every branch of the rule was exercised by the data, so the check above means something.
    for category in ["BEFORE", "DURING", "AFTER", "UNCLASSIFIED"] {
        assert!(seen.get(category).copied().unwrap_or(0) > 0, "{seen:?}");
    }
}

async fn a_second_photo_sync_appends_no_event(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let first = sync_photos(&app, "?limit=500").await;
    assert!(first["eventsAppended"].as_u64().unwrap() > 0);
    let events_before = event_count(&t.db).await;

    let second = sync_photos(&app, "?limit=500").await;

    assert_eq!(second["eventsAppended"], 0);
    assert_eq!(second["succeeded"], first["succeeded"]);
    assert_eq!(second["totalPhotosSynced"], first["totalPhotosSynced"]);
    assert_eq!(event_count(&t.db).await, events_before);
}

async fn files_added_or_removed_in_the_crm_show_up_or_disappear_after_the_next_sync(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let files = files_by_job(&sandbox);
    let jobs = active_job_ids(&app).await;
    // A job with at least one photo, so one can be removed.
    let job_id = jobs
        .iter()
        .find(|id| {
            files
                .get(jnid_of(id))
                .is_some_and(|f| f.iter().any(is_photo))
        })
        .unwrap()
        .clone();
    let query = format!("?jobId={job_id}");
    sync_photos(&app, &query).await;
    let before = photos_of(&app, &job_id).await;
    let removed = before["items"][0]["id"].as_str().unwrap().to_owned();

    let uploaded = crm::client(&sandbox)
        .upload_attachment(
            jnid_of(&job_id),
            &NewAttachment {
                filename: "roof_north.jpg".into(),
                content_type: "image/jpeg".into(),
                bytes: vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3],
                description: Some("Final walkthrough, north side".into()),
                file_type: None,
                is_private: false,
                marker: WriteMarker::new("photosync01").unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(sandbox.handle().purge(Resource::Files, &removed));
    let result = sync_photos(&app, &query).await;
    let after = photos_of(&app, &job_id).await;

    assert_eq!(result["eventsAppended"], 2, "one attached, one removed");
    let mut expected = ids(&before);
    expected.remove(&removed);
    expected.insert(uploaded.jnid.clone());
    assert_eq!(ids(&after), expected);
    let new_photo = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == uploaded.jnid.as_str())
        .unwrap();
    assert_eq!(new_photo["qcCategory"], "AFTER", "{new_photo}");
    assert_eq!(new_photo["filename"], "roof_north.jpg");
    // The mirror's version still counts every event of the job, file events included.
    let job = json(app.get_internal(&format!("/api/v1/jobs/{job_id}")).await).await;
    let stream = crate::projections::all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == job_id)
        .count();
    assert_eq!(job["version"], stream);
}

async fn a_photo_sync_reports_each_failed_job_and_syncs_the_others(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let jobs = active_job_ids(&app).await;
    // Half the file listings fail with a 500 (not retried: the API's own error).
    sandbox.handle().set_faults(FaultConfig {
        internal_error: 0.5,
        ..FaultConfig::default()
    });

    let result = sync_photos(&app, "?limit=500").await;

    let failed = result["failed"].as_u64().unwrap();
    let succeeded = result["succeeded"].as_u64().unwrap();
    assert_eq!(result["total"], jobs.len());
    assert_eq!(failed + succeeded, jobs.len() as u64);
    assert!(failed > 0 && succeeded > 0, "{result}");
    let errors = result["errors"].as_array().unwrap();
    assert_eq!(errors.len() as u64, failed);
    let failed_jobs: BTreeSet<String> = errors
        .iter()
        .map(|e| {
            assert!(e["error"].as_str().unwrap().contains("JobNimbus"), "{e}");
            e["jobId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(failed_jobs.len() as u64, failed, "each failed job once");
    let files = files_by_job(&sandbox);
    for job_id in &jobs {
        let crm_photos = files
            .get(jnid_of(job_id))
            .map_or(0, |f| f.iter().filter(|f| is_photo(f)).count());
        let listed = photos_of(&app, job_id).await["items"]
            .as_array()
            .unwrap()
            .len();
        let expected = if failed_jobs.contains(job_id) {
            0
        } else {
            crm_photos
        };
        assert_eq!(listed, expected, "{job_id}");
    }

    sandbox.handle().set_faults(FaultConfig::default());
    let retried = sync_photos(&app, "?limit=500").await;
    assert_eq!(retried["failed"], 0);
    assert_eq!(retried["succeeded"], jobs.len());
}

async fn one_job_is_synced_by_our_id_or_its_bare_jnid(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let files = files_by_job(&sandbox);
    let jobs = active_job_ids(&app).await;
    let (first, second) = {
        let mut with_files = jobs.iter().filter(|id| files.contains_key(jnid_of(id)));
        (
            with_files.next().unwrap().clone(),
            with_files.next().unwrap().clone(),
        )
    };

    let by_id = sync_photos(&app, &format!("?jobId={first}")).await;
    let by_jnid = sync_photos(&app, &format!("?jobId={}", jnid_of(&second))).await;

    for (result, job_id) in [(&by_id, &first), (&by_jnid, &second)] {
        let crm = &files[jnid_of(job_id)];
        assert_eq!(result["total"], 1);
        assert_eq!(result["succeeded"], 1);
        assert_eq!(
            result["totalPhotosSynced"],
            crm.iter().filter(|f| is_photo(f)).count()
        );
        assert_eq!(
            ids(&photos_of(&app, job_id).await).len()
                + ids(&documents_of(&app, job_id).await).len(),
            crm.len()
        );
    }
    // Only the two jobs asked for were read.
    let third = jobs
        .iter()
        .find(|id| *id != &first && *id != &second && files.contains_key(jnid_of(id)))
        .unwrap();
    assert!(ids(&photos_of(&app, third).await).is_empty());
    // The events say who asked and from where.
    let events = crate::projections::all_events(&t.db).await;
    let attached = events
        .iter()
        .find(|e| e.event_type == "JobFileAttached")
        .unwrap();
    assert_eq!(attached.event_version, "1");
    let metadata: Value = serde_json::from_str(&attached.metadata).unwrap();
    assert_eq!(metadata["source"], "jobnimbus");
    assert_eq!(metadata["actor"], "api:internal");
    assert!(metadata["request_id"]
        .as_str()
        .is_some_and(|r| r.len() == 36));
}

async fn unknown_jobs_bad_ids_and_bad_limits_are_refused(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let requests_before = sandbox.handle().fault_stats().requests;

    for (path, status, code) in [
        (
            "/api/v1/sync/photos?jobId=jobnimbus:nosuchjob",
            404,
            "job_not_found",
        ),
        ("/api/v1/sync/photos?jobId=nosuchjob", 404, "job_not_found"),
        ("/api/v1/sync/photos?jobId=bad%2Fid", 400, "invalid_job_id"),
        (
            "/api/v1/sync/photos?jobId=jobber:acct:j1",
            400,
            "unsupported_job_source",
        ),
        ("/api/v1/sync/photos?limit=0", 400, "invalid_limit"),
        ("/api/v1/sync/photos?limit=501", 400, "invalid_limit"),
        ("/api/v1/sync/photos?limit=-3", 400, "invalid_limit"),
        ("/api/v1/sync/photos?limit=ten", 400, "invalid_request"),
    ] {
        assert_problem(app.post_internal(path).await, status, code).await;
    }
    for path in [
        "/api/v1/jobs/jobnimbus:nosuchjob/photos",
        "/api/v1/jobs/jobnimbus:nosuchjob/documents",
    ] {
        assert_problem(app.get_internal(path).await, 404, "job_not_found").await;
    }
    assert_problem(
        app.get_internal("/api/v1/jobs/a:b:c:d/photos").await,
        400,
        "invalid_job_id",
    )
    .await;
    let unauthenticated = app
        .client
        .post(format!("{}/api/v1/sync/photos", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(unauthenticated, 401, "missing_api_key").await;
    assert_eq!(
        sandbox.handle().fault_stats().requests,
        requests_before,
        "nothing refused reached JobNimbus"
    );
}

async fn a_job_without_synced_files_lists_none_and_shows_its_dates(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    let jobs = active_job_ids(&app).await;
    let started = jobs
        .iter()
        .find(|id| {
            let job = sandbox.handle().get(Resource::Jobs, jnid_of(id)).unwrap();
            job["date_start"].as_i64().unwrap_or(0) > 0
        })
        .expect("a job whose work started");
    let job = sandbox
        .handle()
        .get(Resource::Jobs, jnid_of(started))
        .unwrap();

    let photos = photos_of(&app, started).await;
    let documents = documents_of(&app, started).await;
    let mirrored_job = json(app.get_internal(&format!("/api/v1/jobs/{started}")).await).await;

    assert_eq!(photos["items"], serde_json::json!([]));
    assert_eq!(photos["byCategory"]["BEFORE"], 0);
    assert_eq!(documents["items"], serde_json::json!([]));
    let shown = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(mirrored_job[field].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(shown("startedAt"), job["date_start"].as_i64().unwrap());
    assert_eq!(shown("completedAt"), job["date_end"].as_i64().unwrap());
    let unstarted = jobs
        .iter()
        .find(|id| {
            let job = sandbox.handle().get(Resource::Jobs, jnid_of(id)).unwrap();
            job["date_start"].as_i64() == Some(0)
        })
        .expect("a job not started");
    let unstarted = json(app.get_internal(&format!("/api/v1/jobs/{unstarted}")).await).await;
    assert!(unstarted["startedAt"].is_null() && unstarted["completedAt"].is_null());
}

async fn moved_job_dates_reclassify_its_photos_with_the_next_job_sync(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    sync_photos(&app, "?limit=500").await;
    let files = files_by_job(&sandbox);
    // A photo whose caption names no stage, so only the job's dates place it.
    let (job_id, photo) = active_job_ids(&app)
        .await
        .into_iter()
        .find_map(|id| {
            let photo = files.get(jnid_of(&id))?.iter().find(|f| {
                is_photo(f) && UNSTAGED.contains(&f["description"].as_str().unwrap_or(""))
            })?;
            Some((id, photo.clone()))
        })
        .expect("an undescribed photo");
    let jnid = photo["jnid"].as_str().unwrap();
    let category_of = |list: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == jnid)
            .map(|p| p["qcCategory"].clone())
            .unwrap()
    };
    let before = category_of(&photos_of(&app, &job_id).await);
    // The work now starts after the photo was taken, unless it already did: then it ended
    // before.
    let taken = photo["date_file_created"].as_i64().unwrap();
    let (start, end, expected) = if before == "BEFORE" {
        (taken - 7_200, taken - 3_600, "AFTER")
    } else {
        (taken + 3_600, taken + 7_200, "BEFORE")
    };
    sandbox
        .handle()
        .update(
            Resource::Jobs,
            jnid_of(&job_id),
            serde_json::json!({ "date_start": start, "date_end": end }),
        )
        .unwrap();
    let events_before = event_count(&t.db).await;

    json(app.post_internal("/api/v1/sync/jobs").await).await;

    assert_eq!(category_of(&photos_of(&app, &job_id).await), expected);
    let reclassified: Vec<Value> = crate::projections::all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.event_type == "JobPhotoReclassified")
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert!(
        reclassified.iter().any(|e| {
            let e = &e["JobPhotoReclassified"];
            e["file_id"] == jnid && e["from"] == before && e["to"] == expected
        }),
        "{reclassified:?}"
    );
    assert!(event_count(&t.db).await > events_before);
}

/// Every `job_files` row, every column, as JSON text, in key order.
async fn file_rows(db: &Db) -> Vec<String> {
    const COLUMNS: &str = "job_id, file_id, kind, filename, content_type, size_bytes,
        description, tags, file_type, is_private, created_at, captured_at, qc_category,
        first_seen_at, last_seen_at, removed_at, version, last_position";
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(&format!(
            "select json_build_array({COLUMNS})::text from job_files order by job_id, file_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Sqlite(pool) => sqlx::query_scalar(&format!(
            "select json_array({COLUMNS}) from job_files order by job_id, file_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

async fn the_job_files_read_model_rebuilds_to_the_same_rows(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox_with_files().await;
    let app = mirrored(&t, &sandbox).await;
    sync_photos(&app, "?limit=500").await;
    // A removal and a reclassification too, so every kind of write is replayed.
    let files = files_by_job(&sandbox);
    let (jnid, job_files) = files
        .iter()
        .find(|(jnid, f)| {
            f.len() >= 2 && sandbox.handle().get(Resource::Jobs, jnid).unwrap()["is_active"] == true
        })
        .unwrap();
    assert!(sandbox
        .handle()
        .purge(Resource::Files, job_files[0]["jnid"].as_str().unwrap()));
    sandbox
        .handle()
        .update(
            Resource::Jobs,
            jnid,
            serde_json::json!({ "date_start": 1, "date_end": 2 }),
        )
        .unwrap();
    json(app.post_internal("/api/v1/sync/jobs").await).await;
    sync_photos(&app, "?limit=500").await;
    let types: BTreeSet<String> = crate::projections::all_events(&t.db)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert!(types.contains("JobFileRemoved"), "{types:?}");
    let live = file_rows(&t.db).await;
    assert!(!live.is_empty());
    // Stop the live runners before rebuilding, as `replay` requires.
    drop(app);
    tokio::time::sleep(Duration::from_millis(200)).await;

    projections::rebuild(&t.db, &projections::job_files::JobFiles, 7, |_| {})
        .await
        .unwrap();

    assert_eq!(file_rows(&t.db).await, live);
}
