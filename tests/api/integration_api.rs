//! `GET /api/v1/integration/jobnimbus/health`: whether the JobNimbus connection works, and if
//! not, why, in the seed's `{status, message}` terms.

use std::time::Duration;

use adapters::jobnimbus::sandbox::FaultConfig;
use secrecy::SecretString;
use serde_json::Value;

use crate::support::crm;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    the_jobnimbus_health_check_needs_the_internal_api_key,
    a_working_connection_is_ok_with_its_latency,
    a_rejected_key_is_a_503_error_that_says_so_without_the_key,
    a_missing_key_is_a_503_error_naming_the_variable,
    an_unreachable_crm_is_a_503_error,
);

const PATH: &str = "/api/v1/integration/jobnimbus/health";

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// A server pointed at `base_url` with JobNimbus key `key`.
async fn app_with_jobnimbus(t: &TestDb, base_url: String, key: &str) -> TestApp {
    let mut settings = t.settings();
    settings.jobnimbus.api_key = Some(SecretString::from(key.to_owned()));
    settings.jobnimbus.base_url = base_url;
    settings.jobnimbus.sync_enabled = false;
    settings.jobnimbus.min_request_interval = Duration::ZERO;
    TestApp::spawn_with(settings).await
}

/// Asserts the 503 body: problem+json carrying the seed's `message`.
async fn assert_unhealthy(response: reqwest::Response, code: &str) -> String {
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = json(response).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], 503);
    assert_eq!(body["type"], format!("/problems/{code}"));
    let message = body["message"].as_str().unwrap().to_string();
    assert_eq!(body["detail"], message.as_str());
    message
}

async fn the_jobnimbus_health_check_needs_the_internal_api_key(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(1, 1, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    let missing = app.get(PATH).await;
    let wrong = app
        .client
        .get(format!("{}{PATH}", app.address))
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
    assert_eq!(sandbox.handle().fault_stats().requests, 0, "no probe sent");
}

async fn a_working_connection_is_ok_with_its_latency(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(1, 1, FaultConfig::default()).await;
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;

    let response = app.get_internal(PATH).await;

    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "ok");
    assert!(body["latencyMs"].is_u64(), "{body}");
    assert!(body["message"].as_str().unwrap().contains(" ms"), "{body}");
}

async fn a_rejected_key_is_a_503_error_that_says_so_without_the_key(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(1, 1, FaultConfig::default()).await;
    let app = app_with_jobnimbus(&t, sandbox.base_url(), "not-the-sandbox-key").await;

    let message = assert_unhealthy(app.get_internal(PATH).await, "jobnimbus_key_rejected").await;

    assert!(
        message.contains("JobNimbus rejected the API key"),
        "{message}"
    );
    assert!(
        !message.contains("not-the-sandbox-key"),
        "key leaked: {message}"
    );
}

async fn a_missing_key_is_a_503_error_naming_the_variable(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;

    let message = assert_unhealthy(app.get_internal(PATH).await, "jobnimbus_not_configured").await;

    assert_eq!(message, "JOBNIMBUS_API_KEY is not set");
}

async fn an_unreachable_crm_is_a_503_error(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(1, 1, FaultConfig::default()).await;
    let base_url = sandbox.base_url();
    sandbox.shutdown().await.unwrap();
    let app = app_with_jobnimbus(&t, base_url, crm::SANDBOX_KEY).await;

    let message = assert_unhealthy(app.get_internal(PATH).await, "jobnimbus_unreachable").await;

    assert!(message.starts_with("JobNimbus unreachable: "), "{message}");
}
