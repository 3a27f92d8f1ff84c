//! The QC and risk endpoints (`/api/v1/qc/…`, `/api/v1/risk/…`): evaluating one job or all,
//! reading them back with filters, sorting and cursors, the refused requests, and — the
//! acceptance test — outcomes that follow a job through the sandbox CRM (status change,
//! photos added, time passing) with no evaluate call.

use std::collections::HashSet;
use std::time::Duration;

use adapters::jobnimbus::sandbox::{Resource, RunningSandbox, SandboxConfig, SandboxJobNimbus};
use adapters::store::{BatchExecutor, Db, EventLog};
use chrono::TimeDelta;
use domain::Job;
use projections::evaluation::Clock;
use secrecy::SecretString;
use serde_json::Value;
use unified_crm::scheduler::ScheduledEvaluation;

use crate::projections::last_position;
use crate::support::fixtures::pulled;
use crate::support::{crm, Backend, TestApp, TestDb};

on_both_backends!(
    evaluating_one_job_answers_its_check_and_records_its_risk,
    unknown_unmirrored_and_unevaluated_jobs_get_clear_answers,
    evaluate_all_covers_every_job_and_a_second_run_appends_nothing_to_them,
    risk_lists_filter_by_level_rule_and_status,
    following_x_next_cursor_visits_every_snapshot_once_highest_risk_first,
    the_qc_overview_lists_checked_jobs_with_their_counts,
    bad_filters_and_cursors_are_400_problems,
    qc_and_risk_follow_the_crm_with_no_evaluate_call,
    the_job_evaluations_read_model_rebuilds_to_the_same_rows,
    jobs_closed_or_archived_in_jobnimbus_are_not_flagged,
    a_missing_document_is_medium_at_its_status_and_high_past_it_in_the_crms_pipeline,
);

/// 30 jobs last changed in the CRM in 2023: 0-9 "Sold", 10-19 "Closed", 20-29 "Lead";
/// every fifth one soft-deleted. Open, active ones are stale and stuck (HIGH); closed or
/// deleted ones are not flagged (LOW).
async fn app_with_jobs(backend: Backend) -> (TestDb, TestApp) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let status = |i: usize| match i {
        0..=9 => "Sold",
        10..=19 => "Closed",
        _ => "Lead",
    };
    BatchExecutor::<Job>::new(&t.db, &t.signal)
        .execute(
            (0..30)
                .map(|i| pulled(i, status(i), i % 5 != 0, 0))
                .collect(),
        )
        .await
        .unwrap();
    app.state
        .progress
        .wait_for(last_position(&t.db).await, Duration::from_secs(10))
        .await
        .unwrap();
    (t, app)
}

/// Jobs 1-4, 6-9, 21-24 and 26-29.
const OPEN_ACTIVE: usize = 16;

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
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

fn job_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["jobId"].as_str().unwrap().to_string())
        .collect()
}

fn rules(snapshot: &Value) -> Vec<String> {
    snapshot["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

async fn evaluation_events(t: &TestDb) -> i64 {
    EventLog::new(t.db.clone())
        .count_of_type("JobEvaluation")
        .await
        .unwrap()
}

async fn evaluating_one_job_answers_its_check_and_records_its_risk(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;

    let check = ok_json(
        app.post_internal("/api/v1/qc/jobs/jobnimbus:job1/evaluate")
            .await,
    )
    .await;
    let risk = ok_json(app.get_internal("/api/v1/risk/jobs/jobnimbus:job1").await).await;

    // No files were ever pulled: a count of zero is no finding.
    assert_eq!(check["jobId"], "jobnimbus:job1");
    assert_eq!(check["status"], "NOT_CHECKED");
    assert_eq!(
        check["totalPhotos"],
        serde_json::json!({"BEFORE": 0, "DURING": 0, "AFTER": 0})
    );
    assert_eq!(check["missingCategories"], serde_json::json!([]));
    assert!(check["checkedAt"].is_string());
    assert_eq!(risk["jobId"], "jobnimbus:job1");
    assert_eq!(risk["jobName"], "Gutter install #1");
    assert_eq!(risk["status"], "Sold");
    assert_eq!(risk["riskLevel"], "HIGH");
    assert_eq!(rules(&risk), vec!["STUCK_IN_STATUS", "STALE_JOB"]);
    assert_eq!(risk["jobNimbusUrl"], "https://app.jobnimbus.com/job/job1");
    let reason = &risk["reasons"][0];
    assert_eq!(reason["severity"], "HIGH");
    assert!(reason["message"]
        .as_str()
        .unwrap()
        .contains("since 2023-11-14"));
    assert!(reason["recommendedAction"].as_str().unwrap().len() > 10);

    // The risk endpoint evaluates the same way and answers the snapshot.
    let again = ok_json(
        app.post_internal("/api/v1/risk/jobs/jobnimbus:job10/evaluate")
            .await,
    )
    .await;
    assert_eq!(again["status"], "Closed");
    assert_eq!(again["riskLevel"], "LOW");
    assert_eq!(again["reasons"], serde_json::json!([]));
}

async fn unknown_unmirrored_and_unevaluated_jobs_get_clear_answers(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;

    let unauthenticated = app.get("/api/v1/risk/jobs").await;
    assert_problem(unauthenticated, 401, "missing_api_key").await;
    let unauthenticated = app
        .client
        .post(format!("{}/api/v1/qc/evaluate-all", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(unauthenticated, 401, "missing_api_key").await;

    // Mirrored but never evaluated: the seed's `null` for QC, a 404 for risk.
    let qc = ok_json(app.get_internal("/api/v1/qc/jobs/jobnimbus:job2").await).await;
    assert_eq!(qc, Value::Null);
    let risk = app.get_internal("/api/v1/risk/jobs/jobnimbus:job2").await;
    assert_problem(risk, 404, "risk_not_found").await;

    for path in [
        "/api/v1/qc/jobs/jobnimbus:nope",
        "/api/v1/risk/jobs/jobnimbus:nope",
    ] {
        assert_problem(app.get_internal(path).await, 404, "job_not_found").await;
    }
    for path in [
        "/api/v1/qc/jobs/jobnimbus:nope/evaluate",
        "/api/v1/risk/jobs/jobnimbus:nope/evaluate",
    ] {
        assert_problem(app.post_internal(path).await, 404, "job_not_found").await;
    }
    assert_problem(
        app.get_internal("/api/v1/risk/jobs/not-an-id").await,
        400,
        "invalid_job_id",
    )
    .await;
    assert_problem(
        app.post_internal("/api/v1/qc/jobs/not-an-id/evaluate")
            .await,
        400,
        "invalid_job_id",
    )
    .await;
}

async fn evaluate_all_covers_every_job_and_a_second_run_appends_nothing_to_them(backend: Backend) {
    let (t, app) = app_with_jobs(backend).await;

    let first = ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;
    let after_first = evaluation_events(&t).await;
    let overview = ok_json(app.get_internal("/api/v1/qc/jobs?limit=200").await).await;
    let first_checked = overview[0]["lastCheckedAt"].as_str().unwrap().to_string();
    let second = ok_json(app.post_internal("/api/v1/qc/evaluate-all").await).await;
    let overview = ok_json(app.get_internal("/api/v1/qc/jobs?limit=200").await).await;

    assert_eq!(
        first,
        serde_json::json!({"totalJobs": 30, "evaluated": 30, "errors": []})
    );
    assert_eq!(
        second,
        serde_json::json!({"total": 30, "succeeded": 30, "failed": 0, "errors": []})
    );
    // A QC check and a risk assessment per job the first time; nothing changed since.
    assert_eq!(after_first, 60);
    assert_eq!(evaluation_events(&t).await, 60);
    // The second run's own record moved every job's "checked at".
    assert_eq!(job_ids(&overview).len(), 30);
    for item in overview.as_array().unwrap() {
        let checked = item["lastCheckedAt"].as_str().unwrap();
        let (first, second) = (
            chrono::DateTime::parse_from_rfc3339(&first_checked).unwrap(),
            chrono::DateTime::parse_from_rfc3339(checked).unwrap(),
        );
        assert!(second > first, "{item}");
    }
    let runs = EventLog::new(t.db.clone())
        .count_of_type("EvaluationRun")
        .await
        .unwrap();
    assert_eq!(runs, 2);
}

async fn risk_lists_filter_by_level_rule_and_status(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;

    let high = ok_json(
        app.get_internal("/api/v1/risk/jobs?level=HIGH&limit=200")
            .await,
    )
    .await;
    let low = ok_json(
        app.get_internal("/api/v1/risk/jobs?level=LOW&limit=200")
            .await,
    )
    .await;
    let stale = ok_json(
        app.get_internal("/api/v1/risk/jobs?rule=STALE_JOB&limit=200")
            .await,
    )
    .await;
    let documents = ok_json(
        app.get_internal("/api/v1/risk/jobs?rule=MISSING_DOCUMENTS")
            .await,
    )
    .await;
    let sold_high = ok_json(
        app.get_internal("/api/v1/risk/jobs?status=Sold&level=HIGH&limit=200")
            .await,
    )
    .await;
    let closed = ok_json(app.get_internal("/api/v1/risk/jobs?status=Closed").await).await;

    assert_eq!(job_ids(&high).len(), OPEN_ACTIVE);
    assert!(high
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["riskLevel"] == "HIGH" && s["jobNimbusUrl"].is_string()));
    assert_eq!(job_ids(&low).len(), 30 - OPEN_ACTIVE);
    assert_eq!(job_ids(&stale), job_ids(&high));
    assert_eq!(documents, serde_json::json!([]));
    let sold: HashSet<String> = [1, 2, 3, 4, 6, 7, 8, 9]
        .map(|i| format!("jobnimbus:job{i}"))
        .into();
    assert_eq!(
        job_ids(&sold_high).into_iter().collect::<HashSet<_>>(),
        sold
    );
    assert_eq!(job_ids(&closed).len(), 10);
    assert!(closed
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["riskLevel"] == "LOW" && s["status"] == "Closed"));
}

async fn following_x_next_cursor_visits_every_snapshot_once_highest_risk_first(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;

    let mut seen = Vec::new();
    let mut levels = Vec::new();
    let mut path = "/api/v1/risk/jobs?limit=7".to_string();
    loop {
        let response = app.get_internal(&path).await;
        let next = response
            .headers()
            .get("x-next-cursor")
            .map(|c| c.to_str().unwrap().to_string());
        let page = ok_json(response).await;
        assert!(page.as_array().unwrap().len() <= 7);
        seen.extend(job_ids(&page));
        levels.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|s| s["riskLevel"].as_str().unwrap().to_string()),
        );
        match next {
            Some(cursor) => path = format!("/api/v1/risk/jobs?limit=7&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);
    let rank = |level: &str| ["LOW", "MEDIUM", "HIGH"].iter().position(|l| *l == level);
    assert!(
        levels.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])),
        "{levels:?}"
    );
    assert_eq!(levels[0], "HIGH");

    // By name, both ways, the same rows.
    let by_name = ok_json(
        app.get_internal("/api/v1/risk/jobs?sort=name&limit=200")
            .await,
    )
    .await;
    let names: Vec<&str> = by_name
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["jobName"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let reversed = ok_json(
        app.get_internal("/api/v1/risk/jobs?sort=-name&limit=200")
            .await,
    )
    .await;
    let mut back = job_ids(&reversed);
    back.reverse();
    assert_eq!(back, job_ids(&by_name));
}

async fn the_qc_overview_lists_checked_jobs_with_their_counts(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    let before = ok_json(app.get_internal("/api/v1/qc/jobs").await).await;
    ok_json(app.post_internal("/api/v1/qc/evaluate-all").await).await;

    let all = ok_json(app.get_internal("/api/v1/qc/jobs?limit=200").await).await;
    let failing = ok_json(app.get_internal("/api/v1/qc/jobs?status=FAIL").await).await;
    let lead = ok_json(
        app.get_internal("/api/v1/qc/jobs?status=NOT_CHECKED&jobStatus=Lead&limit=200")
            .await,
    )
    .await;

    assert_eq!(before, serde_json::json!([]));
    assert_eq!(job_ids(&all).len(), 30);
    let first = &all[0];
    for field in ["beforeCount", "duringCount", "afterCount", "totalPhotos"] {
        assert_eq!(first[field], 0, "{first}");
    }
    assert_eq!(first["qcStatus"], "NOT_CHECKED");
    assert!(first["jobName"].is_string() && first["lastCheckedAt"].is_string());
    assert_eq!(failing, serde_json::json!([]));
    assert_eq!(job_ids(&lead).len(), 10);
}

async fn bad_filters_and_cursors_are_400_problems(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;
    let response = app.get_internal("/api/v1/risk/jobs?limit=2").await;
    let level_cursor = response.headers()["x-next-cursor"]
        .to_str()
        .unwrap()
        .to_string();

    for (path, code) in [
        ("/api/v1/risk/jobs?level=EXTREME", "invalid_request"),
        ("/api/v1/risk/jobs?rule=NOPE", "invalid_request"),
        ("/api/v1/risk/jobs?limit=0", "invalid_request"),
        ("/api/v1/qc/jobs?limit=201", "invalid_request"),
        ("/api/v1/qc/jobs?status=MAYBE", "invalid_request"),
        ("/api/v1/risk/jobs?sort=level!", "invalid_request"),
        ("/api/v1/risk/jobs?cursor=zz", "invalid_cursor"),
        ("/api/v1/qc/jobs?cursor=00", "invalid_cursor"),
    ] {
        assert_problem(app.get_internal(path).await, 400, code).await;
    }
    // A cursor of one order is refused under another.
    assert_problem(
        app.get_internal(&format!(
            "/api/v1/risk/jobs?sort=name&cursor={level_cursor}"
        ))
        .await,
        400,
        "invalid_cursor",
    )
    .await;
}

/// Polls `path` until `done` holds for its JSON body (the policy works in the background).
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get_internal(path).await;
        let body: Value = if response.status() == 200 {
            response.json().await.unwrap()
        } else {
            Value::Null
        };
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never satisfied the expectation; last body: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sandbox() -> RunningSandbox {
    let mut config = SandboxConfig::new(crm::SANDBOX_KEY, 5);
    config.jobs = 12;
    config.contacts = 8;
    // QC is driven by the photos this test attaches.
    config.files_per_job = 0;
    config.activities_per_job = 0;
    config.tasks_per_job = 0;
    SandboxJobNimbus::start(config)
        .await
        .expect("start the JobNimbus sandbox")
}

/// An open status of each sandbox workflow, for moving a job along.
fn open_status(workflow: &str) -> &'static str {
    match workflow {
        "Commercial" => "Negotiating",
        "Insurance Claim" => "Claim Filed",
        _ => "Estimating",
    }
}

async fn qc_and_risk_follow_the_crm_with_no_evaluate_call(backend: Backend) {
    const DAY: i64 = 86_400;
    let t = TestDb::new(backend).await;
    let sandbox = sandbox().await;
    let crm = sandbox.handle();
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(crm::SANDBOX_KEY));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    settings.evaluation.automatic = true;
    let clock = Clock::system();
    let app = TestApp::spawn_with_clock(settings, clock.clone()).await;
    let daily = ScheduledEvaluation {
        evaluator: app.state.evaluator.clone(),
        db: app.state.db.clone(),
        hold_at_least: Duration::ZERO,
    };
    // A month on, every job of the sandbox's history is stale in the CRM and for us.
    crm.advance_clock(30 * DAY);
    clock.advance(TimeDelta::days(30));
    let job = crm
        .records(Resource::Jobs)
        .into_iter()
        .find(|j| {
            j["is_active"] == true
                && !["Completed", "Lost"].contains(&j["status_name"].as_str().unwrap_or(""))
        })
        .expect("an open job");
    let jnid = job["jnid"].as_str().unwrap().to_string();
    let workflow = job["record_type_name"].as_str().unwrap().to_string();
    let risk_path = format!("/api/v1/risk/jobs/jobnimbus:{jnid}");
    let qc_path = format!("/api/v1/qc/jobs/jobnimbus:{jnid}");

    // The first sync: the policy evaluates every job it brought.
    ok_json(app.post_internal("/api/v1/sync/jobs").await).await;
    let stale = eventually(&app, &risk_path, |r| r["riskLevel"] == "HIGH").await;
    assert!(rules(&stale).contains(&"STALE_JOB".to_string()), "{stale}");
    let qc = eventually(&app, &qc_path, |q| !q.is_null()).await;
    assert_eq!(qc["status"], "NOT_CHECKED");

    // Moved to another status, work started yesterday: nothing is overdue any more.
    let now = crm.now();
    crm.update(
        Resource::Jobs,
        &jnid,
        serde_json::json!({
            "status_name": open_status(&workflow),
            "date_start": now - DAY,
            "date_end": 0,
        }),
    )
    .unwrap();
    ok_json(app.post_internal("/api/v1/sync/jobs").await).await;
    eventually(&app, &risk_path, |r| r["riskLevel"] == "LOW").await;

    // One BEFORE photo of the two required: QC fails, and that is high risk.
    crm.attach_photo(&jnid, "IMG_0001.jpg", "Before: roof as found")
        .unwrap();
    ok_json(
        app.post_internal(&format!("/api/v1/sync/photos?jobId=jobnimbus:{jnid}"))
            .await,
    )
    .await;
    let failed = eventually(&app, &qc_path, |q| q["status"] == "FAIL").await;
    assert_eq!(
        failed["missingCategories"],
        serde_json::json!([{"category": "BEFORE", "required": 2, "current": 1, "missing": 1}])
    );
    let missing = eventually(&app, &risk_path, |r| r["riskLevel"] == "HIGH").await;
    assert_eq!(rules(&missing), vec!["MISSING_QC_PHOTOS"]);

    // The second BEFORE photo: QC passes, the risk is gone.
    crm.attach_photo(&jnid, "IMG_0002.jpg", "Before: gutters")
        .unwrap();
    ok_json(
        app.post_internal(&format!("/api/v1/sync/photos?jobId=jobnimbus:{jnid}"))
            .await,
    )
    .await;
    let passed = eventually(&app, &qc_path, |q| q["status"] == "PASS").await;
    assert_eq!(passed["totalPhotos"]["BEFORE"], 2);
    eventually(&app, &risk_path, |r| r["riskLevel"] == "LOW").await;

    // Eight days pass with no change in the CRM: the daily pass finds the job stuck and
    // stale (medium from 7 days).
    clock.advance(TimeDelta::days(8));
    let pass = daily
        .tick()
        .await
        .unwrap()
        .expect("this instance has the tick");
    assert!(pass.outcomes_changed >= 1);
    let aged = eventually(&app, &risk_path, |r| r["riskLevel"] == "MEDIUM").await;
    assert_eq!(rules(&aged), vec!["STUCK_IN_STATUS", "STALE_JOB"]);

    // No evaluation was asked for: every pass was the policy's or the schedule's.
    let manual = crate::projections::all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.event_type == "EvaluationRunCompleted")
        .filter(|e| e.payload.contains("\"manual\""))
        .count();
    assert_eq!(manual, 0);
}

/// Every `job_evaluations` row, every column, and every pass, as JSON text.
async fn evaluation_rows(db: &Db) -> Vec<String> {
    const COLUMNS: &str = "job_id, source, external_id, job_name, job_number, customer_name,
        job_status, qc_status, qc_before, qc_during, qc_after, qc_unclassified, qc_total,
        qc_missing, qc_evaluated_at, risk_level, risk_rank, risk_reasons, risk_rules,
        risk_evaluated_at, checked_at, job_position, qc_position, risk_position";
    // The passes over every job too: they are half of each job's "checked at".
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(&format!(
            "select json_build_array({COLUMNS})::text from job_evaluations
             union all
             select json_build_array(scope, checked_at)::text from job_evaluation_passes
             order by 1"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Sqlite(pool) => sqlx::query_scalar(&format!(
            "select json_array({COLUMNS}) from job_evaluations
             union all
             select json_array(scope, checked_at) from job_evaluation_passes
             order by 1"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

async fn the_job_evaluations_read_model_rebuilds_to_the_same_rows(backend: Backend) {
    let (t, app) = app_with_jobs(backend).await;
    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;
    // A job closed in the CRM, evaluated again alone; then a pass where nothing changed: a
    // snapshot change, an outcome change and both kinds of run record are replayed.
    BatchExecutor::<Job>::new(&t.db, &t.signal)
        .execute(vec![pulled(3, "Closed", true, 100)])
        .await
        .unwrap();
    app.state
        .progress
        .wait_for(last_position(&t.db).await, Duration::from_secs(10))
        .await
        .unwrap();
    let closed = ok_json(
        app.post_internal("/api/v1/risk/jobs/jobnimbus:job3/evaluate")
            .await,
    )
    .await;
    assert_eq!(closed["riskLevel"], "LOW");
    ok_json(app.post_internal("/api/v1/qc/evaluate-all").await).await;
    let live = evaluation_rows(&t.db).await;
    assert_eq!(live.len(), 31, "30 jobs and the pass over all of them");
    // Stop the live runners before rebuilding, as `replay` requires.
    drop(app);
    tokio::time::sleep(Duration::from_millis(200)).await;

    projections::rebuild(
        &t.db,
        &projections::job_evaluations::JobEvaluations,
        7,
        |_| {},
    )
    .await
    .unwrap();

    assert_eq!(evaluation_rows(&t.db).await, live);
}

async fn jobs_closed_or_archived_in_jobnimbus_are_not_flagged(backend: Backend) {
    const DAY: i64 = 86_400;
    let t = TestDb::new(backend).await;
    let sandbox = sandbox().await;
    let crm = sandbox.handle();
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(crm::SANDBOX_KEY));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    assert!(
        !settings.evaluation.rules.risk.is_closed("Paid & Closed"),
        "the configured list alone does not know the account's status"
    );
    let clock = Clock::system();
    let app = TestApp::spawn_with_clock(settings, clock.clone()).await;
    let active: Vec<String> = crm
        .records(Resource::Jobs)
        .into_iter()
        .filter(|j| j["is_active"] == true)
        .map(|j| j["jnid"].as_str().unwrap().to_string())
        .collect();
    let [closed, archived, control] = [&active[0], &active[1], &active[2]];
    // Each put where the test needs it, in the account's Commercial workflow: closed there
    // (`is_closed`) under a name of its own; archived in an open status; open, the control.
    for (jnid, status, is_archived) in [
        (closed, "Paid & Closed", false),
        (archived, "Negotiating", true),
        (control, "Negotiating", false),
    ] {
        crm.update(
            Resource::Jobs,
            jnid,
            serde_json::json!({
                "record_type_name": "Commercial",
                "status_name": status,
                "is_archived": is_archived,
            }),
        )
        .unwrap();
    }
    // A month on, every job is stale.
    crm.advance_clock(30 * DAY);
    clock.advance(TimeDelta::days(30));
    ok_json(app.post_internal("/api/v1/sync/jobs").await).await;

    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;

    let flagged = ok_json(
        app.get_internal(&format!("/api/v1/risk/jobs/jobnimbus:{control}"))
            .await,
    )
    .await;
    assert!(
        rules(&flagged).contains(&"STALE_JOB".to_string()),
        "{flagged}"
    );
    let done = ok_json(
        app.get_internal(&format!("/api/v1/risk/jobs/jobnimbus:{closed}"))
            .await,
    )
    .await;
    assert_eq!(done["status"], "Paid & Closed", "{done}");
    assert_eq!(done["riskLevel"], "LOW", "{done}");
    assert!(rules(&done).is_empty(), "{done}");
    let shelved = ok_json(
        app.get_internal(&format!("/api/v1/risk/jobs/jobnimbus:{archived}"))
            .await,
    )
    .await;
    assert_eq!(shelved["status"], "Negotiating", "{shelved}");
    for (jnid, archived) in [(archived, true), (control, false)] {
        let mirrored = ok_json(
            app.get_internal(&format!("/api/v1/jobs/jobnimbus:{jnid}"))
                .await,
        )
        .await;
        assert_eq!(
            mirrored["isArchived"], archived,
            "the mirror shows the flag: {mirrored}"
        );
    }
    assert_eq!(shelved["riskLevel"], "LOW", "{shelved}");
    assert!(rules(&shelved).is_empty(), "{shelved}");
}

async fn a_missing_document_is_medium_at_its_status_and_high_past_it_in_the_crms_pipeline(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = sandbox().await;
    let crm = sandbox.handle();
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(crm::SANDBOX_KEY));
    settings.jobnimbus.base_url = sandbox.base_url();
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    settings.evaluation.rules.risk.required_documents = "Commercial/Contract Signed=Contract"
        .parse::<domain::risk::RequiredDocuments>()
        .unwrap()
        .0;
    let app = TestApp::spawn_with_clock(settings, Clock::system()).await;
    let mut open_jobs = open_jobs(crm).into_iter();
    // In the sandbox account's Commercial pipeline "In Production" comes after "Contract
    // Signed"; neither job has a contract (the sandbox here has no files).
    let (at, past) = (open_jobs.next().unwrap(), open_jobs.next().unwrap());
    for (jnid, status) in [(&at, "Contract Signed"), (&past, "In Production")] {
        crm.update(
            Resource::Jobs,
            jnid,
            serde_json::json!({"record_type_name": "Commercial", "status_name": status}),
        )
        .unwrap();
    }
    ok_json(app.post_internal("/api/v1/sync/jobs").await).await;

    ok_json(app.post_internal("/api/v1/risk/evaluate-all").await).await;

    for (jnid, severity) in [(&at, "MEDIUM"), (&past, "HIGH")] {
        let snapshot = ok_json(
            app.get_internal(&format!("/api/v1/risk/jobs/jobnimbus:{jnid}"))
                .await,
        )
        .await;
        let reason = snapshot["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "MISSING_DOCUMENTS")
            .unwrap_or_else(|| panic!("no MISSING_DOCUMENTS reason: {snapshot}"));
        assert_eq!(reason["severity"], severity, "{snapshot}");
    }
}

/// The sandbox's jobs that are active, not archived, and in none of its account's closed
/// statuses: jobs the risk rules apply to.
fn open_jobs(crm: &adapters::jobnimbus::sandbox::SandboxHandle) -> Vec<String> {
    const CLOSED: [&str; 5] = ["Completed", "Lost", "Invoiced", "Paid & Closed", "Denied"];
    crm.records(Resource::Jobs)
        .into_iter()
        .filter(|j| j["is_active"] == true && j["is_archived"] != true)
        .filter(|j| !CLOSED.contains(&j["status_name"].as_str().unwrap_or("")))
        .map(|j| j["jnid"].as_str().unwrap().to_string())
        .collect()
}
