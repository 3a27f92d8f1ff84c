//! The sandbox over real HTTP, with reqwest, the way the client will meet it.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;

pub(super) const KEY: &str = "sandbox-test-key";
pub(super) const ANCHOR: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub(super) fn config(seed: u64) -> SandboxConfig {
    SandboxConfig {
        jobs: 300,
        contacts: 120,
        anchor: ANCHOR,
        ..SandboxConfig::new(KEY, seed)
    }
}

pub(super) struct Api {
    pub(super) sandbox: RunningSandbox,
    pub(super) http: reqwest::Client,
}

impl Api {
    pub(super) async fn start(config: SandboxConfig) -> Self {
        let sandbox = SandboxJobNimbus::start(config).await.unwrap();
        Self {
            sandbox,
            http: reqwest::Client::new(),
        }
    }

    pub(super) fn handle(&self) -> &SandboxHandle {
        self.sandbox.handle()
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.sandbox.base_url())
    }

    pub(super) async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.bearer_auth(KEY).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub(super) async fn get(&self, path: &str, query: &[(&str, String)]) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    pub(super) async fn list(&self, path: &str, query: &[(&str, String)]) -> Value {
        let (status, body) = self.get(path, query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// `count` of jobs matching `filter`.
    pub(super) async fn count(&self, path: &str, filter: Value) -> u64 {
        let body = self
            .list(
                path,
                &[("filter", filter.to_string()), ("size", "0".into())],
            )
            .await;
        body["count"].as_u64().unwrap()
    }

    pub(super) async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }
}

fn ids(results: &Value) -> Vec<String> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jnid"].as_str().unwrap().to_owned())
        .collect()
}

fn q(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401_with_the_text_authentication_required() {
    let api = Api::start(config(1)).await;
    let url = api.url("jobs");
    let cases = [
        None,
        Some("Bearer wrong-key".to_owned()),
        Some(format!("Basic {KEY}")),
        Some(KEY.to_owned()),
    ];
    for header in cases {
        let mut request = api.http.get(&url);
        if let Some(value) = &header {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(response.text().await.unwrap(), "Authentication required");
    }
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = api
            .http
            .get(&url)
            .header("Authorization", format!("{scheme} {KEY}"))
            .query(&[("size", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn every_list_uses_its_own_envelope_key_and_count_is_the_total_not_the_page() {
    let api = Api::start(config(2)).await;
    for (resource, key) in [
        (Resource::Jobs, "results"),
        (Resource::Contacts, "results"),
        (Resource::Tasks, "results"),
        (Resource::Activities, "activity"),
        (Resource::Files, "files"),
    ] {
        let body = api.list(resource.path(), &q(&[("size", "3")])).await;
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 2, "{resource}: {object:?}");
        assert_eq!(body[key].as_array().unwrap().len(), 3, "{resource}");
        assert_eq!(
            body["count"].as_u64().unwrap() as usize,
            api.handle().count(resource),
            "{resource}"
        );
        assert!(body[key][0]["date_created"].is_i64(), "unix seconds");
    }
}

#[tokio::test]
async fn offset_pages_sorted_ascending_cover_every_record_exactly_once() {
    let api = Api::start(config(3)).await;
    let total = api.handle().count(Resource::Jobs);
    let mut seen = Vec::new();
    let mut last_created = i64::MIN;
    for from in (0..total).step_by(37) {
        let body = api
            .list(
                "jobs",
                &[
                    ("from", from.to_string()),
                    ("size", "37".into()),
                    ("sort_field", "date_created".into()),
                    ("sort_direction", "asc".into()),
                ],
            )
            .await;
        for job in body["results"].as_array().unwrap() {
            let created = job["date_created"].as_i64().unwrap();
            assert!(created >= last_created);
            last_created = created;
        }
        seen.extend(ids(&body["results"]));
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), total);

    // The default order is date_created descending.
    let body = api.list("jobs", &q(&[("size", "50")])).await;
    let dates: Vec<i64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["date_created"].as_i64().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    // Any field sorts, strings included.
    let body = api
        .list(
            "contacts",
            &q(&[("sort_field", "last_name"), ("sort_direction", "asc")]),
        )
        .await;
    let names: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["last_name"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn size_defaults_to_one_thousand_and_larger_sizes_are_capped() {
    let api = Api::start(SandboxConfig {
        jobs: 1_500,
        files_per_job: 0,
        activities_per_job: 0,
        tasks_per_job: 0,
        ..config(4)
    })
    .await;
    let body = api.list("jobs", &[]).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1_000);
    assert_eq!(body["count"], 1_500);
    let body = api.list("jobs", &q(&[("size", "5000")])).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1_000);
    let body = api
        .list("jobs", &q(&[("from", "1400"), ("size", "1000")]))
        .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn from_plus_size_beyond_ten_thousand_is_a_400_result_window_error() {
    let api = Api::start(config(5)).await;
    let (status, body) = api
        .get("jobs", &q(&[("from", "9500"), ("size", "1000")]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Result window is too large"),
        "{body}"
    );
    // Exactly at the window is allowed (and past the end is simply empty).
    let body = api
        .list("jobs", &q(&[("from", "9000"), ("size", "1000")]))
        .await;
    assert_eq!(body["results"], json!([]));
    assert_eq!(body["count"], 300);
    // The default size counts too: from=9001 alone is 9001 + 1000.
    let (status, _) = api.get("jobs", &q(&[("from", "9001")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn range_filters_select_by_unix_seconds() {
    let api = Api::start(config(6)).await;
    let jobs = api.handle().records(Resource::Jobs);
    let cut = ANCHOR - 200 * 86_400;
    let expected = jobs
        .iter()
        .filter(|j| j["date_updated"].as_i64().unwrap() >= cut)
        .count() as u64;
    assert!(expected > 0 && expected < jobs.len() as u64);
    let filter = json!({"must": [{"range": {"date_updated": {"gte": cut}}}]});
    assert_eq!(api.count("jobs", filter).await, expected);
    let between = json!({"must": [{"range": {"date_created": {"gt": cut, "lt": ANCHOR}}}]});
    let expected = jobs
        .iter()
        .filter(|j| j["date_created"].as_i64().unwrap() > cut)
        .count() as u64;
    assert_eq!(api.count("jobs", between).await, expected);
}

#[tokio::test]
async fn term_filters_are_exact_and_dotted_paths_match_any_array_element() {
    let api = Api::start(config(7)).await;
    let jobs = api.handle().records(Resource::Jobs);
    let leads = jobs.iter().filter(|j| j["status_name"] == "Lead").count() as u64;
    assert!(leads > 0);
    let filter = json!({"must": [{"term": {"status_name": "Lead"}}]});
    assert_eq!(api.count("jobs", filter).await, leads);
    let filter = json!({"must": [{"term": {"status_name": "lead"}}]});
    assert_eq!(api.count("jobs", filter).await, 0);

    // The files of one job, found through related.id.
    let job = jobs
        .iter()
        .find(|j| j["attachment_count"].as_u64().unwrap() > 1)
        .unwrap();
    let jnid = job["jnid"].as_str().unwrap();
    let filter = json!({"must": [{"term": {"related.id": jnid}}]});
    let body = api.list("files", &[("filter", filter.to_string())]).await;
    assert_eq!(body["count"], job["attachment_count"]);
    for file in body["files"].as_array().unwrap() {
        assert_eq!(file["related"][0]["id"], jnid);
    }
}

#[tokio::test]
async fn match_phrase_and_wildcard_filters_search_text() {
    let api = Api::start(config(8)).await;
    let files = api.handle().records(Resource::Files);
    let completed = files
        .iter()
        .filter(|f| {
            f["description"]
                .as_str()
                .is_some_and(|d| d.to_lowercase().contains("completed roof"))
        })
        .count() as u64;
    assert!(completed > 0);
    let filter = json!({"must": [{"match_phrase": {"description": "Completed Roof"}}]});
    assert_eq!(api.count("files", filter).await, completed);

    let jobs = api.handle().records(Resource::Jobs);
    let repairs = jobs
        .iter()
        .filter(|j| j["name"].as_str().unwrap().ends_with("Repair"))
        .count() as u64;
    assert!(repairs > 0);
    let filter = json!({"must": [{"wildcard": {"name": "*Repair"}}]});
    assert_eq!(api.count("jobs", filter).await, repairs);
}

#[tokio::test]
async fn should_matches_any_of_its_clauses_and_must_not_excludes() {
    let api = Api::start(config(9)).await;
    let jobs = api.handle().records(Resource::Jobs);
    let of = |status: &str| jobs.iter().filter(|j| j["status_name"] == status).count() as u64;
    let filter = json!({"should": [
        {"term": {"status_name": "Lead"}},
        {"term": {"status_name": "Completed"}},
    ]});
    assert_eq!(
        api.count("jobs", filter).await,
        of("Lead") + of("Completed")
    );

    let inactive = jobs.iter().filter(|j| j["is_active"] == false).count() as u64;
    let filter = json!({"must_not": [{"term": {"is_active": true}}]});
    assert_eq!(api.count("jobs", filter).await, inactive);
}

#[tokio::test]
async fn malformed_filters_and_parameters_get_a_400_with_an_error() {
    let api = Api::start(config(10)).await;
    for query in [
        q(&[("filter", "{not json")]),
        q(&[("filter", r#"{"must":[{"fuzzy":{"name":"x"}}]}"#)]),
        q(&[(
            "filter",
            r#"{"must":{"range":{"date_updated":"yesterday"}}}"#,
        )]),
        q(&[("sort_direction", "sideways")]),
        q(&[("from", "-1")]),
        q(&[("size", "lots")]),
    ] {
        let (status, body) = api.get("jobs", &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn fields_projects_each_record_and_always_keeps_jnid() {
    let api = Api::start(config(11)).await;
    let body = api
        .list(
            "jobs",
            &q(&[("fields", "status_name,date_updated"), ("size", "20")]),
        )
        .await;
    assert_eq!(body["count"], 300);
    for job in body["results"].as_array().unwrap() {
        let keys: HashSet<&str> = job
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["jnid", "status_name", "date_updated"]));
    }
}

#[tokio::test]
async fn single_records_come_back_whole_and_unknown_jnids_are_404() {
    let api = Api::start(config(12)).await;
    let jnid = api.handle().random_jnid(Resource::Contacts).unwrap();
    let (status, body) = api.get(&format!("contacts/{jnid}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(Some(body), api.handle().get(Resource::Contacts, &jnid));
    for resource in Resource::ALL {
        let (status, body) = api.get(&format!("{resource}/nope123"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"].is_string(), "{body}");
    }
    // A file GET redirects to its bytes.
    let file = &api.handle().records(Resource::Files)[0];
    let response = api
        .http
        .get(api.url(&format!("files/{}", file["jnid"].as_str().unwrap())))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.unwrap().len() as u64,
        file["size"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn a_soft_delete_keeps_the_record_listed_inactive_and_bumps_date_updated() {
    let api = Api::start(config(13)).await;
    let jnid = api.handle().random_jnid(Resource::Jobs).unwrap();
    let before = api.handle().get(Resource::Jobs, &jnid).unwrap();
    let (status, body) = api
        .put(&format!("jobs/{jnid}"), json!({"is_active": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_active"], false);
    assert!(body["date_updated"].as_i64().unwrap() > before["date_updated"].as_i64().unwrap());
    assert_eq!(body["date_created"], before["date_created"]);

    let filter = json!({"must": [{"term": {"jnid": jnid}}]});
    let listed = api.list("jobs", &[("filter", filter.to_string())]).await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["results"][0]["is_active"], false);
    assert_eq!(api.handle().count(Resource::Jobs), 300);

    // Later writes keep moving date_updated as the clock moves.
    api.handle().advance_clock(60);
    let (_, again) = api
        .put(&format!("jobs/{jnid}"), json!({"is_active": true}))
        .await;
    assert!(again["date_updated"].as_i64().unwrap() >= body["date_updated"].as_i64().unwrap() + 60);
}

#[tokio::test]
async fn a_status_change_stamps_date_status_change_and_logs_an_activity() {
    let api = Api::start(config(14)).await;
    let job = api
        .handle()
        .records(Resource::Jobs)
        .into_iter()
        .find(|j| j["record_type_name"] == "Residential Roofing" && j["status_name"] != "Sold")
        .unwrap();
    let jnid = job["jnid"].as_str().unwrap();
    let (status, body) = api
        .put(&format!("jobs/{jnid}"), json!({"status_name": "Sold"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status_name"], "Sold");
    assert_eq!(body["date_status_change"], body["date_updated"]);

    let filter = json!({"must": [
        {"term": {"primary.id": jnid}},
        {"term": {"is_status_change": true}},
        {"term": {"primary.new_status": "Sold"}},
    ]});
    let body = api
        .list("activities", &[("filter", filter.to_string())])
        .await;
    assert_eq!(body["count"], 1, "{body}");

    let (status, body) = api
        .put(
            &format!("jobs/{jnid}"),
            json!({"status_name": "Paid & Closed"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("Paid & Closed"));
}

#[tokio::test]
async fn notes_and_tasks_are_created_and_tasks_require_title_start_and_type() {
    let api = Api::start(config(15)).await;
    let jnid = api.handle().random_jnid(Resource::Jobs).unwrap();
    let (status, note) = api
        .post(
            "activities",
            json!({
                "record_type_name": "Note",
                "note": "QC Review: passed",
                "primary": {"id": jnid, "type": "job"},
                "is_status_change": false,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{note}");
    assert_eq!(note["type"], "activity");
    assert_eq!(note["related"][0]["id"], jnid.as_str());
    assert!(api
        .handle()
        .get(Resource::Activities, note["jnid"].as_str().unwrap())
        .is_some());

    let task = json!({
        "title": "Final walkthrough",
        "date_start": ANCHOR + 86_400,
        "record_type_name": "Inspection",
        "related": [{"id": jnid}],
    });
    let (status, created) = api.post("tasks", task.clone()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["related"][0]["type"], "job");
    for missing in ["title", "date_start", "record_type_name"] {
        let mut body = task.clone();
        body.as_object_mut().unwrap().remove(missing);
        let (status, body) = api.post("tasks", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
        assert!(body["error"].as_str().unwrap().contains(missing));
    }
    let (status, _) = api.post("activities", json!({"note": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_sandboxes_with_the_same_seed_serve_byte_identical_json() {
    let a = Api::start(config(16)).await;
    let b = Api::start(config(16)).await;
    let c = Api::start(config(17)).await;
    for path in ["jobs", "contacts", "tasks", "activities", "files"] {
        let fetch = |api: &Api| {
            api.http
                .get(api.url(path))
                .bearer_auth(KEY)
                .query(&[("size", "1000")])
                .send()
        };
        let left = fetch(&a).await.unwrap().bytes().await.unwrap();
        let right = fetch(&b).await.unwrap().bytes().await.unwrap();
        let other = fetch(&c).await.unwrap().bytes().await.unwrap();
        assert_eq!(left, right, "{path}");
        assert_ne!(left, other, "{path}");
    }
}

#[tokio::test]
async fn the_sandbox_shuts_down_cleanly() {
    let api = Api::start(config(18)).await;
    let url = api.url("jobs");
    let (status, _) = api.get("jobs", &q(&[("size", "1")])).await;
    assert_eq!(status, StatusCode::OK);
    api.sandbox.shutdown().await.unwrap();
    assert!(api.http.get(url).bearer_auth(KEY).send().await.is_err());
}

// ---- faults -------------------------------------------------------------------------------

/// Sends `n` sequential list requests; returns (status or None for a transport error,
/// Retry-After header) per request.
async fn hammer(api: &Api, n: usize) -> Vec<(Option<StatusCode>, Option<String>)> {
    let mut outcomes = Vec::with_capacity(n);
    for _ in 0..n {
        let result = api
            .http
            .get(api.url("contacts"))
            .bearer_auth(KEY)
            .query(&[("size", "1")])
            .send()
            .await;
        outcomes.push(match result {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (Some(response.status()), retry_after)
            }
            Err(_) => (None, None),
        });
    }
    outcomes
}

fn within(observed: usize, expected: f64, tolerance: f64) -> bool {
    (observed as f64 - expected).abs() <= tolerance
}

async fn with_faults(seed: u64, faults: FaultConfig) -> Api {
    Api::start(SandboxConfig {
        faults,
        ..config(seed)
    })
    .await
}

#[tokio::test]
async fn rate_limits_happen_at_their_rate_and_only_some_carry_retry_after() {
    let api = with_faults(
        20,
        FaultConfig {
            rate_limit: 0.25,
            retry_after_share: 0.5,
            retry_after_secs: 3,
            ..FaultConfig::default()
        },
    )
    .await;
    let outcomes = hammer(&api, 400).await;
    let limited: Vec<_> = outcomes
        .iter()
        .filter(|(s, _)| *s == Some(StatusCode::TOO_MANY_REQUESTS))
        .collect();
    let with_header = limited.iter().filter(|(_, h)| h.is_some()).count();
    assert!(within(limited.len(), 100.0, 35.0), "{}", limited.len());
    assert!(within(with_header, 50.0, 25.0), "{with_header}");
    assert!(limited.len() - with_header > 0);
    assert!(limited
        .iter()
        .all(|(_, h)| h.as_deref().is_none_or(|h| h == "3")));
    let ok = outcomes
        .iter()
        .filter(|(s, _)| *s == Some(StatusCode::OK))
        .count();
    assert_eq!(ok + limited.len(), 400);
    let stats = api.handle().fault_stats();
    assert_eq!(stats.rate_limited_with_retry_after as usize, with_header);
    assert_eq!(stats.requests, 400);
}

#[tokio::test]
async fn gateway_errors_happen_at_their_rate_as_502_503_and_504() {
    let api = with_faults(
        21,
        FaultConfig {
            server_error: 0.3,
            ..FaultConfig::default()
        },
    )
    .await;
    let outcomes = hammer(&api, 450).await;
    let count = |code: StatusCode| outcomes.iter().filter(|(s, _)| *s == Some(code)).count();
    let total = count(StatusCode::BAD_GATEWAY)
        + count(StatusCode::SERVICE_UNAVAILABLE)
        + count(StatusCode::GATEWAY_TIMEOUT);
    assert!(within(total, 135.0, 40.0), "{total}");
    for code in [
        StatusCode::BAD_GATEWAY,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::GATEWAY_TIMEOUT,
    ] {
        assert!(within(count(code), 45.0, 25.0), "{code}: {}", count(code));
    }
}

#[tokio::test]
async fn dropped_connections_close_without_a_response_at_their_rate() {
    let api = with_faults(
        22,
        FaultConfig {
            drop_connection: 0.2,
            ..FaultConfig::default()
        },
    )
    .await;
    let outcomes = hammer(&api, 300).await;
    let failed = outcomes.iter().filter(|(s, _)| s.is_none()).count();
    let ok = outcomes
        .iter()
        .filter(|(s, _)| *s == Some(StatusCode::OK))
        .count();
    assert!(within(failed, 60.0, 25.0), "{failed}");
    assert_eq!(failed + ok, 300, "a drop never turns into an HTTP status");
    assert_eq!(
        api.handle().fault_stats().dropped_connections as usize,
        failed
    );
}

#[tokio::test]
async fn latency_spikes_happen_at_their_rate() {
    let api = with_faults(
        23,
        FaultConfig {
            latency: Duration::from_millis(1),
            spike_probability: 0.1,
            spike: Duration::from_millis(5),
            ..FaultConfig::default()
        },
    )
    .await;
    let outcomes = hammer(&api, 300).await;
    assert!(outcomes.iter().all(|(s, _)| *s == Some(StatusCode::OK)));
    let spikes = api.handle().fault_stats().latency_spikes as usize;
    assert!(within(spikes, 30.0, 15.0), "{spikes}");
}

#[tokio::test]
async fn records_change_while_paging_at_their_rate() {
    let api = with_faults(
        24,
        FaultConfig {
            churn: 0.4,
            churn_edits: 3,
            churn_inserts: 1,
            ..FaultConfig::default()
        },
    )
    .await;
    let mut counts = Vec::new();
    for _ in 0..200 {
        let body = api.list("jobs", &q(&[("size", "1")])).await;
        counts.push(body["count"].as_u64().unwrap());
    }
    let stats = api.handle().fault_stats();
    assert!(
        within(stats.churned_lists as usize, 80.0, 25.0),
        "{stats:?}"
    );
    assert_eq!(stats.churned_records, stats.churned_lists * 4);
    // Every churn inserted one job, and the answer already counted it.
    assert_eq!(
        api.handle().count(Resource::Jobs) as u64,
        300 + stats.churned_lists
    );
    assert_eq!(counts.last().copied(), Some(300 + stats.churned_lists));
}

#[tokio::test]
async fn offset_paging_by_date_updated_while_records_change_misses_or_repeats_rows() {
    let api = with_faults(
        25,
        FaultConfig {
            churn: 1.0,
            churn_edits: 10,
            ..FaultConfig::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    for from in (0..300).step_by(50) {
        let body = api
            .list(
                "jobs",
                &[
                    ("from", from.to_string()),
                    ("size", "50".into()),
                    ("sort_field", "date_updated".into()),
                    ("sort_direction", "asc".into()),
                ],
            )
            .await;
        seen.extend(ids(&body["results"]));
    }
    let unique = seen.iter().collect::<HashSet<_>>().len();
    assert!(
        unique < 300,
        "edited rows jump to the end, so some rows are never seen"
    );
}

#[tokio::test]
async fn faults_switch_at_runtime_and_repeat_for_the_same_seed() {
    let api = Api::start(config(26)).await;
    api.handle().set_faults(FaultConfig {
        rate_limit: 1.0,
        ..FaultConfig::default()
    });
    let (status, _) = api.get("jobs", &q(&[("size", "1")])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    api.handle().set_faults(FaultConfig::default());
    let (status, _) = api.get("jobs", &q(&[("size", "1")])).await;
    assert_eq!(status, StatusCode::OK);

    let faults = FaultConfig {
        rate_limit: 0.2,
        server_error: 0.2,
        drop_connection: 0.1,
        ..FaultConfig::default()
    };
    let a = with_faults(27, faults.clone()).await;
    let b = with_faults(27, faults).await;
    let left: Vec<_> = hammer(&a, 60).await.into_iter().map(|(s, _)| s).collect();
    let right: Vec<_> = hammer(&b, 60).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(left, right);
}
