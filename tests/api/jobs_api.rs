//! `GET /api/v1/jobs` and `GET /api/v1/jobs/{id}`: the mirror as dashboards read it.

use std::collections::HashSet;
use std::time::Duration;

use adapters::store::BatchExecutor;
use domain::Job;
use serde_json::Value;

use crate::projections::last_position;
use crate::support::fixtures::pulled;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    mirror_reads_need_the_internal_api_key,
    jobs_list_newest_first_with_jobnimbus_deep_links,
    filters_narrow_by_status_text_update_time_and_activity,
    following_next_cursor_visits_every_job_exactly_once_in_order,
    one_job_by_id_or_a_clear_problem,
    bad_query_parameters_are_400_problems,
);

/// 30 jobs; 0-9 "Sold", the rest "Lead"; every fifth one soft-deleted.
async fn app_with_jobs(backend: Backend) -> (TestDb, TestApp) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    executor
        .execute(
            (0..30)
                .map(|i| pulled(i, if i < 10 { "Sold" } else { "Lead" }, i % 5 != 0, 0))
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

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

async fn mirror_reads_need_the_internal_api_key(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    let missing = app.get("/api/v1/jobs").await;
    let wrong = app
        .client
        .get(format!("{}/api/v1/jobs", app.address))
        .header("x-internal-api-key", "not-the-key-at-all-0000")
        .send()
        .await
        .unwrap();

    for (response, code) in [(missing, "missing_api_key"), (wrong, "invalid_api_key")] {
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], code);
    }
}

async fn jobs_list_newest_first_with_jobnimbus_deep_links(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;

    let list = json(app.get_internal("/api/v1/jobs").await).await;

    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 24, "soft-deleted jobs are left out by default");
    let updated: Vec<&str> = items
        .iter()
        .map(|j| j["updatedAt"].as_str().unwrap())
        .collect();
    let mut sorted = updated.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(updated, sorted, "newest CRM update first");
    let first = &items[0];
    assert_eq!(first["id"], "jobnimbus:job29");
    assert_eq!(first["jobNimbusUrl"], "https://app.jobnimbus.com/job/job29");
    assert_eq!(first["customerName"], "Customer 29");
    assert_eq!(first["address"]["city"], "Boulder");
    assert!(list["nextCursor"].is_null());
}

async fn filters_narrow_by_status_text_update_time_and_activity(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    // fixtures: job i was updated in the CRM at 1_700_000_060 + i seconds.
    let cases: Vec<(&str, usize)> = vec![
        ("status=Sold", 8),
        ("status=Sold&status=Lead", 24),
        ("status=Sold&includeInactive=true", 10),
        ("q=customer%2012", 1),
        ("q=MAIN%20ST", 24),
        ("q=boulder&status=Lead", 16),
        ("q=100%25", 0),
        // jobs 20-29, less the soft-deleted 20 and 25
        ("updatedFrom=2023-11-14T22:14:40Z", 8),
        (
            "updatedFrom=2023-11-14T22:14:40Z&updatedTo=2023-11-14T22:14:45Z",
            4,
        ),
    ];
    for (query, expected) in cases {
        let list = json(app.get_internal(&format!("/api/v1/jobs?{query}")).await).await;
        assert_eq!(ids(&list).len(), expected, "{query}");
    }
}

async fn following_next_cursor_visits_every_job_exactly_once_in_order(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    for sort in ["-updatedAt", "updatedAt", "name", "-name"] {
        let all = ids(&json(
            app.get_internal(&format!(
                "/api/v1/jobs?sort={sort}&limit=200&includeInactive=true"
            ))
            .await,
        )
        .await);
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/api/v1/jobs?sort={sort}&limit=7&includeInactive=true&cursor={c}")
                }
                None => format!("/api/v1/jobs?sort={sort}&limit=7&includeInactive=true"),
            };
            let page = json(app.get_internal(&path).await).await;
            paged.extend(ids(&page));
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(all.len(), 30, "{sort}");
        assert_eq!(paged, all, "{sort}: pages concatenate to the full list");
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 30, "{sort}");
    }
}

async fn one_job_by_id_or_a_clear_problem(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;

    let found = app.get_internal("/api/v1/jobs/jobnimbus:job3").await;
    assert_eq!(found.status(), 200);
    let job = json(found).await;
    assert_eq!(
        (job["status"].as_str(), job["version"].as_i64()),
        (Some("Sold"), Some(1))
    );

    let inactive = json(app.get_internal("/api/v1/jobs/jobnimbus:job5").await).await;
    assert_eq!(inactive["isActive"], false);

    for (path, status, code) in [
        ("/api/v1/jobs/jobnimbus:nope", 404, "job_not_found"),
        ("/api/v1/jobs/salesforce:1", 400, "invalid_job_id"),
    ] {
        let response = app.get_internal(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(json(response).await["code"], code, "{path}");
    }
}

async fn bad_query_parameters_are_400_problems(backend: Backend) {
    let (_t, app) = app_with_jobs(backend).await;
    let other_sort_cursor = {
        let page = json(app.get_internal("/api/v1/jobs?limit=2").await).await;
        page["nextCursor"].as_str().unwrap().to_string()
    };
    for (query, code) in [
        ("limit=0".to_string(), "invalid_request"),
        ("limit=201".to_string(), "invalid_request"),
        ("limit=ten".to_string(), "invalid_request"),
        ("sort=price".to_string(), "invalid_request"),
        ("updatedFrom=yesterday".to_string(), "invalid_request"),
        ("cursor=zz".to_string(), "invalid_cursor"),
        (
            format!("sort=name&cursor={other_sort_cursor}"),
            "invalid_cursor",
        ),
    ] {
        let response = app.get_internal(&format!("/api/v1/jobs?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], code, "{query}");
    }
}
