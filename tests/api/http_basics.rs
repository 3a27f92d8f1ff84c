//! Health, metrics, docs and the problem+json error body on routes we do not own.

use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    liveness_and_readiness_answer_with_projection_lag,
    unknown_routes_and_methods_answer_problem_json,
    metrics_expose_http_latency_histograms,
    docs_and_spec_are_served,
    readiness_is_503_problem_json_when_the_database_is_gone,
);

async fn liveness_and_readiness_answer_with_projection_lag(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(&db).await;

    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    let mirror = body["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "job_mirror")
        .expect("job_mirror reported");
    assert_eq!(mirror["lag"], 0);
}

async fn unknown_routes_and_methods_answer_problem_json(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(&db).await;

    let cases = [
        ("GET", "/no/such/route", 404, "not_found"),
        ("POST", "/health/live", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code);
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], format!("/problems/{code}"));
    }
}

async fn metrics_expose_http_latency_histograms(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(&db).await;
    app.get("/health/live").await;

    let page = app.get("/metrics").await.text().await.unwrap();
    assert!(
        page.contains("http_request_duration_seconds_bucket{")
            && page.contains("operation=\"health_live\""),
        "latency histogram by operation missing:\n{page}"
    );
}

async fn docs_and_spec_are_served(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.get("/docs").await.status(), 200);
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["paths"]["/health/ready"].is_object());
}

async fn readiness_is_503_problem_json_when_the_database_is_gone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(&db).await;
    app.state.db.close().await;

    let response = app.get("/health/ready").await;

    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "database_unreachable");
}
