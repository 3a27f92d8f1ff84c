//! `GET /api/v1/sync/summary` and `GET /api/v1/sync/logs`: the sync log as dashboards read
//! it, fed by `SyncRun` events, and rebuilt from them.

use std::collections::HashMap;
use std::time::Duration;

use adapters::store::{CommandBus, Db, LogPosition};
use domain::{
    CrmSource, RecordFailure, SyncMode, SyncOutcome, SyncResource, SyncRun, SyncRunCommand,
    SyncTrigger,
};
use projections::sync_log::SyncLog;
use projections::Projection;
use serde_json::{json, Value};

use crate::projections::{all_events, scalar};
use crate::support::fixtures::at;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    sync_reads_need_the_internal_api_key,
    before_any_run_the_summary_is_a_404_and_the_log_is_empty,
    the_log_lists_runs_newest_first_in_the_seed_shape_with_run_details,
    the_summary_is_the_latest_run_of_any_or_of_one_resource,
    limit_and_offset_page_through_the_log_with_its_total,
    a_running_run_shows_its_progress_page_by_page,
    a_run_keeps_its_first_100_failure_reasons_and_counts_the_rest,
    bad_pagination_is_a_400_problem,
    rebuilt_rows_equal_live_rows_and_reapplied_events_change_nothing,
);

/// How a scripted run ends.
#[derive(Clone, Copy)]
enum End {
    Complete,
    Fail(&'static str),
    /// Not yet: the run is still going.
    Open,
}

/// A sync run told to a `SyncRun` aggregate command by command, as the engine would.
struct Script {
    id: String,
    resource: SyncResource,
    mode: SyncMode,
    trigger: SyncTrigger,
    updated_since: Option<i64>,
    /// Seconds after the fixtures' epoch.
    started: i64,
    pages: Vec<(SyncOutcome, Vec<RecordFailure>)>,
    vanished: u64,
    end: End,
}

impl Script {
    fn new(n: usize, resource: SyncResource, started: i64, end: End) -> Script {
        Script {
            id: run_id(n),
            resource,
            mode: SyncMode::Full,
            trigger: SyncTrigger::Manual,
            updated_since: None,
            started,
            pages: Vec::new(),
            vanished: 0,
            end,
        }
    }

    fn page(mut self, tally: SyncOutcome, failures: Vec<RecordFailure>) -> Script {
        self.pages.push((tally, failures));
        self
    }
}

/// Run ids are UUIDs chosen by the engine; these sort like `n`.
fn run_id(n: usize) -> String {
    format!("5f1c0000-0000-4000-8000-{n:012}")
}

fn tally(created: u64, updated: u64, unchanged: u64, failed: u64) -> SyncOutcome {
    SyncOutcome {
        fetched: created + updated + unchanged + failed,
        created,
        updated,
        unchanged,
        failed,
        vanished: 0,
    }
}

fn failure(external_id: Option<&str>, reason: &str) -> RecordFailure {
    RecordFailure {
        external_id: external_id.map(str::to_string),
        reason: reason.to_string(),
    }
}

/// `count` failures numbered from `first`: `jn<i>` / `reason <i>`.
fn failures(first: usize, count: usize) -> Vec<RecordFailure> {
    (first..first + count)
        .map(|i| failure(Some(&format!("jn{i}")), &format!("reason {i}")))
        .collect()
}

async fn execute(bus: &CommandBus<SyncRun>, id: &str, command: SyncRunCommand) -> LogPosition {
    let metadata = HashMap::from([("actor".to_string(), "test".to_string())]);
    bus.execute(id, command, metadata)
        .await
        .unwrap()
        .expect("the run has events")
}

/// Starts a run's aggregate (no pages yet).
async fn start(bus: &CommandBus<SyncRun>, run: &Script) -> LogPosition {
    let command = SyncRunCommand::Start {
        source: CrmSource::JobNimbus,
        resource: run.resource,
        mode: run.mode,
        trigger: run.trigger,
        updated_since: run.updated_since.map(at),
        started_at: at(run.started),
    };
    execute(bus, &run.id, command).await
}

/// Tells the aggregate everything in the script and returns its last event's position.
async fn record(bus: &CommandBus<SyncRun>, run: &Script) -> LogPosition {
    let mut last = start(bus, run).await;
    for (i, (tally, failures)) in run.pages.iter().enumerate() {
        let command = SyncRunCommand::RecordPage {
            tally: *tally,
            failures: failures.clone(),
            recorded_at: at(run.started + 1 + i as i64),
        };
        last = execute(bus, &run.id, command).await;
    }
    let ended_at = at(run.started + 1 + run.pages.len() as i64);
    if run.vanished > 0 {
        let command = SyncRunCommand::RecordVanished {
            count: run.vanished,
            recorded_at: ended_at,
        };
        last = execute(bus, &run.id, command).await;
    }
    let end = match run.end {
        End::Complete => SyncRunCommand::Complete {
            resume_from: Some(at(run.started - 60)),
            finished_at: ended_at,
        },
        End::Fail(error) => SyncRunCommand::Fail {
            error: error.to_string(),
            finished_at: ended_at,
        },
        End::Open => return last,
    };
    execute(bus, &run.id, end).await
}

async fn wait_for(app: &TestApp, position: LogPosition) {
    app.state
        .progress
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
}

/// Four runs, one per way a run can stand, started 100 s apart:
/// 1 jobs SUCCESS, 2 contacts PARTIAL, 3 jobs FAILED (reconcile), 4 jobs RUNNING.
fn four_runs() -> Vec<Script> {
    let mut partial = Script::new(2, SyncResource::Contacts, 100, End::Complete).page(
        tally(0, 2, 3, 2),
        vec![
            failure(Some("c9"), "a contact needs a first or last name"),
            failure(None, "a record without a jnid"),
        ],
    );
    partial.mode = SyncMode::Incremental;
    partial.trigger = SyncTrigger::Scheduled;
    partial.updated_since = Some(-900);
    let mut failed = Script::new(
        3,
        SyncResource::Jobs,
        200,
        End::Fail("JobNimbus answered 503"),
    )
    .page(tally(0, 0, 4, 0), vec![]);
    failed.mode = SyncMode::Reconcile;
    failed.vanished = 2;
    vec![
        Script::new(1, SyncResource::Jobs, 0, End::Complete)
            .page(tally(3, 0, 0, 0), vec![])
            .page(tally(1, 1, 1, 0), vec![]),
        partial,
        failed,
        Script::new(4, SyncResource::Jobs, 300, End::Open).page(tally(1, 0, 0, 0), vec![]),
    ]
}

/// A server whose sync log holds `runs`, caught up.
async fn app_with_runs(backend: Backend, runs: &[Script]) -> (TestDb, TestApp) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let bus = CommandBus::<SyncRun>::new(&t.db, &t.signal);
    let mut last = LogPosition::START;
    for run in runs {
        last = last.max(record(&bus, run).await);
    }
    wait_for(&app, last).await;
    (t, app)
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

fn log_ids(list: &Value) -> Vec<String> {
    list["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| log["id"].as_str().unwrap().to_string())
        .collect()
}

async fn sync_reads_need_the_internal_api_key(backend: Backend) {
    let (_t, app) = app_with_runs(backend, &[]).await;
    for path in ["/api/v1/sync/summary", "/api/v1/sync/logs"] {
        let missing = app.get(path).await;
        let wrong = app
            .client
            .get(format!("{}{path}", app.address))
            .header("x-internal-api-key", "not-the-key-at-all-0000")
            .send()
            .await
            .unwrap();
        for (response, code) in [(missing, "missing_api_key"), (wrong, "invalid_api_key")] {
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            assert_eq!(json(response).await["code"], code, "{path}");
        }
    }
}

async fn before_any_run_the_summary_is_a_404_and_the_log_is_empty(backend: Backend) {
    let (_t, app) = app_with_runs(backend, &[]).await;

    let summary = app.get_internal("/api/v1/sync/summary").await;
    let logs = json(app.get_internal("/api/v1/sync/logs").await).await;

    assert_eq!(summary.status(), 404);
    assert_eq!(
        summary.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(json(summary).await["code"], "no_sync_yet");
    assert_eq!(logs, json!({ "logs": [], "total": 0 }));
}

async fn the_log_lists_runs_newest_first_in_the_seed_shape_with_run_details(backend: Backend) {
    let (_t, app) = app_with_runs(backend, &four_runs()).await;

    let list = json(app.get_internal("/api/v1/sync/logs").await).await;

    assert_eq!(list["total"], 4);
    assert_eq!(
        log_ids(&list),
        [run_id(4), run_id(3), run_id(2), run_id(1)],
        "newest started first"
    );
    let logs = list["logs"].as_array().unwrap();
    let statuses: Vec<&str> = logs.iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["RUNNING", "FAILED", "PARTIAL", "SUCCESS"]);
    // Every field, of the run with the most to show: incremental, scheduled, two failures.
    assert_eq!(
        logs[2],
        json!({
            "id": run_id(2),
            "jobId": null,
            "syncType": "PULL",
            "status": "PARTIAL",
            "recordsAffected": 2,
            "errorMessage": null,
            "createdAt": "2023-11-14T22:15:00+00:00",
            "source": "jobnimbus",
            "resource": "contacts",
            "mode": "incremental",
            "trigger": "scheduled",
            "fetched": 7,
            "created": 0,
            "updated": 2,
            "unchanged": 3,
            "failed": 2,
            "vanished": 0,
            "errors": [
                "c9: a contact needs a first or last name",
                "a record without a jnid"
            ],
            "startedAt": "2023-11-14T22:15:00+00:00",
            "finishedAt": "2023-11-14T22:15:02+00:00",
            "updatedSince": "2023-11-14T21:58:20+00:00",
            "pages": 1
        })
    );
    let failed = &logs[1];
    assert_eq!(failed["errorMessage"], "JobNimbus answered 503");
    assert_eq!(failed["mode"], "reconcile");
    assert_eq!(
        (&failed["vanished"], &failed["recordsAffected"]),
        (&json!(2), &json!(2)),
        "vanished records count as affected"
    );
    let running = &logs[0];
    assert!(running["finishedAt"].is_null());
    let success = &logs[3];
    assert_eq!(
        (
            &success["recordsAffected"],
            &success["fetched"],
            &success["pages"]
        ),
        (&json!(5), &json!(6), &json!(2))
    );
    for log in logs {
        assert!(log["jobId"].is_null(), "{log}");
        assert_eq!(log["syncType"], "PULL");
        assert_eq!(log["createdAt"], log["startedAt"]);
    }
}

async fn the_summary_is_the_latest_run_of_any_or_of_one_resource(backend: Backend) {
    let (_t, app) = app_with_runs(backend, &four_runs()).await;

    for (query, expected) in [
        ("", run_id(4)),
        ("?resource=jobs", run_id(4)),
        ("?resource=contacts", run_id(2)),
    ] {
        let response = app
            .get_internal(&format!("/api/v1/sync/summary{query}"))
            .await;
        assert_eq!(response.status(), 200, "{query}");
        let summary = json(response).await;
        assert_eq!(summary["id"], expected.as_str(), "{query}");
        for seed_field in ["syncType", "status", "recordsAffected", "createdAt"] {
            assert!(!summary[seed_field].is_null(), "{query}: {seed_field}");
        }
    }
    let contacts = json(
        app.get_internal("/api/v1/sync/summary?resource=contacts")
            .await,
    )
    .await;
    assert_eq!(
        (&contacts["status"], &contacts["recordsAffected"]),
        (&json!("PARTIAL"), &json!(2))
    );
}

async fn limit_and_offset_page_through_the_log_with_its_total(backend: Backend) {
    // 55 runs, two by two started at the same second: the run id breaks the tie.
    let runs: Vec<Script> = (0..55)
        .map(|n| Script::new(n, SyncResource::Jobs, (n / 2) as i64, End::Complete))
        .collect();
    let (_t, app) = app_with_runs(backend, &runs).await;
    let newest_first: Vec<String> = (0..55).rev().map(run_id).collect();

    let default = json(app.get_internal("/api/v1/sync/logs").await).await;
    let all = json(app.get_internal("/api/v1/sync/logs?limit=200").await).await;
    let mut paged = Vec::new();
    for offset in (0..55).step_by(20) {
        let page = json(
            app.get_internal(&format!("/api/v1/sync/logs?limit=20&offset={offset}"))
                .await,
        )
        .await;
        assert_eq!(page["total"], 55, "offset {offset}");
        paged.extend(log_ids(&page));
    }
    let past_the_end = json(app.get_internal("/api/v1/sync/logs?offset=55").await).await;

    assert_eq!(log_ids(&default).len(), 50, "the default limit is 50");
    assert_eq!(default["total"], 55);
    assert_eq!(log_ids(&all), newest_first);
    assert_eq!(paged, newest_first, "pages concatenate to the full log");
    assert_eq!(past_the_end, json!({ "logs": [], "total": 55 }));
}

async fn a_running_run_shows_its_progress_page_by_page(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let bus = CommandBus::<SyncRun>::new(&t.db, &t.signal);
    let run = Script::new(1, SyncResource::Jobs, 0, End::Complete);
    let mut seen = Vec::new();

    wait_for(&app, start(&bus, &run).await).await;
    seen.push(json(app.get_internal("/api/v1/sync/summary").await).await);
    for (page, page_tally) in [tally(2, 0, 0, 0), tally(0, 1, 4, 0)]
        .into_iter()
        .enumerate()
    {
        let command = SyncRunCommand::RecordPage {
            tally: page_tally,
            failures: vec![],
            recorded_at: at(1 + page as i64),
        };
        wait_for(&app, execute(&bus, &run.id, command).await).await;
        seen.push(json(app.get_internal("/api/v1/sync/summary").await).await);
    }
    let complete = SyncRunCommand::Complete {
        resume_from: None,
        finished_at: at(3),
    };
    wait_for(&app, execute(&bus, &run.id, complete).await).await;
    seen.push(json(app.get_internal("/api/v1/sync/summary").await).await);

    let progress: Vec<(&str, u64, u64, u64, bool)> = seen
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap(),
                s["pages"].as_u64().unwrap(),
                s["fetched"].as_u64().unwrap(),
                s["recordsAffected"].as_u64().unwrap(),
                s["finishedAt"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [
            ("RUNNING", 0, 0, 0, false),
            ("RUNNING", 1, 2, 2, false),
            ("RUNNING", 2, 7, 3, false),
            ("SUCCESS", 2, 7, 3, true),
        ]
    );
}

async fn a_run_keeps_its_first_100_failure_reasons_and_counts_the_rest(backend: Backend) {
    // 130 failures over two pages, so the count carries from one page's events to the next.
    let run = Script::new(1, SyncResource::Jobs, 0, End::Complete)
        .page(tally(5, 0, 0, 60), failures(0, 60))
        .page(tally(0, 0, 5, 70), failures(60, 70));
    let (t, app) = app_with_runs(backend, &[run]).await;

    let summary = json(app.get_internal("/api/v1/sync/summary").await).await;

    let errors: Vec<&str> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("jn{i}: reason {i}")).collect();
    assert_eq!(errors, expected, "the first 100, in order");
    assert_eq!(summary["failed"], 130);
    assert_eq!(summary["status"], "PARTIAL");
    let stored: i64 = scalar(&t.db, "select count(*) from sync_run_errors").await;
    assert_eq!(stored, 100);
}

async fn bad_pagination_is_a_400_problem(backend: Backend) {
    let (_t, app) = app_with_runs(backend, &[]).await;
    for (path, code) in [
        ("/api/v1/sync/logs?limit=0", "invalid_pagination"),
        ("/api/v1/sync/logs?limit=201", "invalid_pagination"),
        ("/api/v1/sync/logs?limit=-5", "invalid_pagination"),
        ("/api/v1/sync/logs?offset=-1", "invalid_pagination"),
        ("/api/v1/sync/logs?limit=ten", "invalid_request"),
        ("/api/v1/sync/summary?resource=deals", "invalid_request"),
    ] {
        let response = app.get_internal(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], code, "{path}");
    }
}

async fn rebuilt_rows_equal_live_rows_and_reapplied_events_change_nothing(backend: Backend) {
    let mut runs = four_runs();
    runs.push(
        Script::new(5, SyncResource::Contacts, 400, End::Complete)
            .page(tally(1, 0, 0, 70), failures(0, 70))
            .page(tally(0, 1, 0, 40), failures(70, 40)),
    );
    let (t, app) = app_with_runs(backend, &runs).await;
    drop(app);
    let live = sync_log_rows(&t.db).await;
    let events = all_events(&t.db).await;
    let applied: i64 = scalar(
        &t.db,
        "select events_applied from projection_checkpoints where projection = 'sync_log'",
    )
    .await;

    // Small batches, so runs straddle them.
    let summary = projections::rebuild(&t.db, &SyncLog, 7, |_| {})
        .await
        .unwrap();
    let rebuilt = sync_log_rows(&t.db).await;
    let mut tx = t.db.begin().await.unwrap();
    SyncLog.apply(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    let reapplied = sync_log_rows(&t.db).await;

    assert_eq!(applied, events.len() as i64, "every event applied once");
    assert_eq!(summary.events, events.len() as i64);
    assert_eq!(live.0.len(), 5);
    assert_eq!(
        live.1.len(),
        2 + 100,
        "run 2's two errors and run 5's first 100"
    );
    assert_eq!(rebuilt, live);
    assert_eq!(reapplied, live);
}

/// Every row of both tables, every column, as JSON text, in key order.
async fn sync_log_rows(db: &Db) -> (Vec<String>, Vec<String>) {
    const RUNS: &str = "run_id, source, resource, mode, triggered_by, status, updated_since,
        started_at, finished_at, pages, fetched, created, updated, unchanged, failed, vanished,
        error_message, errors_seen, version, last_position";
    const ERRORS: &str = "run_id, ordinal, external_id, reason";
    let (array, cast) = match db {
        Db::Postgres(_) => ("json_build_array", "::text"),
        Db::Sqlite(_) => ("json_array", ""),
    };
    let runs = format!("select {array}({RUNS}){cast} from sync_runs order by run_id");
    let errors =
        format!("select {array}({ERRORS}){cast} from sync_run_errors order by run_id, ordinal");
    match db {
        Db::Postgres(pool) => (
            sqlx::query_scalar(&runs).fetch_all(pool).await.unwrap(),
            sqlx::query_scalar(&errors).fetch_all(pool).await.unwrap(),
        ),
        Db::Sqlite(pool) => (
            sqlx::query_scalar(&runs).fetch_all(pool).await.unwrap(),
            sqlx::query_scalar(&errors).fetch_all(pool).await.unwrap(),
        ),
    }
}
