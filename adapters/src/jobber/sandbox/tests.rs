//! The sandbox Jobber over real HTTP, with reqwest and no redirect following, the way our
//! OAuth client and a browser will meet it.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::*;

const CLIENT_ID: &str = "sandbox-client";
const SECRET: &str = "sandbox-secret";
const CALLBACK: &str = "http://127.0.0.1:9/auth/jobber/callback";
const ACCOUNT_QUERY: &str = "query { account { id name } }";
const DISCONNECT: &str =
    "mutation { appDisconnect { app { name author } userErrors { message } } }";

fn config() -> JobberSandboxConfig {
    JobberSandboxConfig {
        seed: 7,
        accounts: vec![
            JobberAccount {
                id: 1001,
                name: "Green Thumb Landscaping".into(),
            },
            JobberAccount {
                id: 1002,
                name: "Blue Sky Roofing".into(),
            },
        ],
        users: vec![
            JobberUser {
                id: 2001,
                account_id: 1001,
            },
            JobberUser {
                id: 2002,
                account_id: 1002,
            },
        ],
        ..JobberSandboxConfig::new(CLIENT_ID, SecretString::from(SECRET))
    }
}

struct Tokens {
    access: String,
    refresh: String,
}

struct Jobber {
    sandbox: RunningJobberSandbox,
    http: reqwest::Client,
}

impl Jobber {
    async fn start(config: JobberSandboxConfig) -> Self {
        let sandbox = SandboxJobber::start(config).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self { sandbox, http }
    }

    fn handle(&self) -> &JobberSandboxHandle {
        self.sandbox.handle()
    }

    async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.sandbox.authorize_url())
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// The query of the consent redirect for our client and `CALLBACK`.
    async fn consent(&self, state: Option<&str>) -> HashMap<String, String> {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", CALLBACK),
        ];
        params.extend(state.map(|s| ("state", s)));
        let response = self.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = location(&response);
        assert!(location.starts_with(CALLBACK), "{location}");
        query_of(&location)
    }

    async fn code(&self) -> String {
        self.consent(Some("s")).await["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.sandbox.token_url())
            .form(form)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn exchange(&self, code: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn connect(&self) -> Tokens {
        let code = self.code().await;
        let (status, body) = self.exchange(&code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens(&body)
    }

    async fn graphql(&self, access: &str, query: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.sandbox.graphql_url())
            .bearer_auth(access)
            .header("X-JOBBER-GRAPHQL-VERSION", CURRENT_VERSION)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn tokens(body: &Value) -> Tokens {
    Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn the_whole_flow_from_consent_to_an_account_query_works_and_is_counted() {
    let jobber = Jobber::start(config()).await;

    let tokens = jobber.connect().await;
    let (status, body) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({ "account": {
            "id": "Z2lkOi8vSm9iYmVyL0FjY291bnQvMTAwMQ==",
            "name": "Green Thumb Landscaping",
        }})
    );
    assert_eq!(
        jobber.handle().account_encoded_id(1001),
        "Z2lkOi8vSm9iYmVyL0FjY291bnQvMTAwMQ=="
    );
    let stats = jobber.handle().stats();
    assert_eq!(stats.authorizations_granted, 1);
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.code_exchanges, 1);
    assert_eq!(stats.graphql_requests, 1);
}

#[tokio::test]
async fn the_code_exchange_answers_only_the_two_tokens_and_a_jwt_that_expires_in_60_minutes() {
    let jobber = Jobber::start(config()).await;
    jobber.handle().sign_in_as(2002).unwrap();
    let code = jobber.code().await;

    let (status, body) = jobber.exchange(&code).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["access_token", "refresh_token"]);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 32 && refresh.bytes().all(|b| b.is_ascii_hexdigit()));
    let claims = claims(body["access_token"].as_str().unwrap());
    let now = jobber.handle().now().timestamp();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((now - 5..=now).contains(&iat), "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    assert_eq!(claims["user_id"], 2002);
    assert_eq!(claims["account_id"], 1002);
    assert!(claims["app_id"].is_string());
}

#[tokio::test]
async fn the_state_is_echoed_and_left_out_when_none_was_sent() {
    let jobber = Jobber::start(config()).await;

    let with_state = jobber.consent(Some("a b/c+d&e=f")).await;
    let without_state = jobber.consent(None).await;

    assert_eq!(with_state["state"], "a b/c+d&e=f");
    assert!(with_state.contains_key("code"));
    assert_eq!(keys(&json!(without_state)), ["code"]);
}

#[tokio::test]
async fn a_denied_consent_redirects_back_with_no_parameters_at_all() {
    let jobber = Jobber::start(config()).await;
    jobber.handle().set_consent(Consent::Deny);

    let response = jobber
        .authorize(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", CALLBACK),
            ("state", "xyz"),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), CALLBACK);
    assert_eq!(jobber.handle().stats().authorizations_denied, 1);
}

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let jobber = Jobber::start(JobberSandboxConfig {
        redirect_uris: RedirectUris::Exact(vec![CALLBACK.into()]),
        ..config()
    })
    .await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("client_id", "nobody"), ("redirect_uri", CALLBACK)],
        &[("redirect_uri", CALLBACK)],
        &[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        &[("client_id", CLIENT_ID)],
    ];
    for case in cases {
        let mut params = vec![("response_type", "code"), ("state", "s")];
        params.extend_from_slice(case);

        let response = jobber.authorize(&params).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case:?}");
        assert!(response.headers().get("location").is_none(), "{case:?}");
    }
    assert_eq!(jobber.handle().stats().authorizations_rejected, 4);
}

#[tokio::test]
async fn any_loopback_redirect_is_accepted_by_default_but_no_other_host() {
    let jobber = Jobber::start(config()).await;
    for (uri, allowed) in [
        ("http://localhost:4000/cb", true),
        ("http://[::1]:4000/cb?x=1", true),
        ("http://127.0.0.2/cb", false),
        ("https://127.0.0.1/cb", false),
        ("http://example.com/cb", false),
    ] {
        let response = jobber
            .authorize(&[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", uri),
            ])
            .await;
        let expected = if allowed {
            StatusCode::FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(response.status(), expected, "{uri}");
    }
}

#[tokio::test]
async fn a_code_buys_tokens_once_only() {
    let jobber = Jobber::start(config()).await;
    let code = jobber.code().await;

    let (first, _) = jobber.exchange(&code).await;
    let (second, body) = jobber.exchange(&code).await;

    assert_eq!(first, StatusCode::OK);
    assert_eq!(second, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let stats = jobber.handle().stats();
    assert_eq!(
        (stats.code_exchanges, stats.code_exchanges_rejected),
        (1, 1)
    );
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes_of_sandbox_time() {
    let jobber = Jobber::start(config()).await;
    let fresh = jobber.code().await;
    let stale = jobber.code().await;

    let (status, _) = jobber.exchange(&fresh).await;
    jobber.handle().advance_clock(Duration::from_secs(601));
    let (expired, body) = jobber.exchange(&stale).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(expired, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_is_refused_with_another_redirect_uri_than_it_was_issued_for() {
    let jobber = Jobber::start(config()).await;
    let code = jobber.code().await;

    let (status, body) = jobber
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ])
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_dead_at_once() {
    let jobber = Jobber::start(config()).await;
    let first = jobber.connect().await;
    jobber.handle().advance_clock(Duration::from_secs(120));

    let (status, body) = jobber.refresh(&first.refresh).await;
    let (reuse, error) = jobber.refresh(&first.refresh).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["access_token", "expires_at", "refresh_token"]);
    let second = tokens(&body);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    let exp = claims(&second.access)["exp"].as_i64().unwrap();
    let expected = chrono::DateTime::from_timestamp(exp, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    assert_eq!(body["expires_at"], expected);
    assert_eq!(reuse, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_grant");
    assert!(error["error_description"]
        .as_str()
        .unwrap()
        .contains("refresh token is not valid"));
    let (again, _) = jobber.refresh(&second.refresh).await;
    assert_eq!(again, StatusCode::OK);
    let stats = jobber.handle().stats();
    assert_eq!(
        (stats.refreshes_succeeded, stats.refreshes_rejected),
        (2, 1)
    );
    assert_eq!(jobber.handle().live_refresh_tokens(1001), 1);
}

#[tokio::test]
async fn with_rotation_off_the_same_refresh_token_comes_back_with_a_warning() {
    let jobber = Jobber::start(JobberSandboxConfig {
        rotation: false,
        ..config()
    })
    .await;
    let first = jobber.connect().await;

    let (status, body) = jobber.refresh(&first.refresh).await;
    let (again, _) = jobber.refresh(&first.refresh).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refresh_token"], first.refresh);
    assert!(body["warning"]
        .as_str()
        .unwrap()
        .contains("rotation is off"));
    assert_eq!(again, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_refresh_token_succeed_exactly_once() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url) = (jobber.http.clone(), jobber.sandbox.token_url());
        let refresh = tokens.refresh.clone();
        attempts.spawn(async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("refresh_token", refresh.as_str()),
            ];
            http.post(url).form(&form).send().await.unwrap().status()
        });
    }

    let statuses = attempts.join_all().await;

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    let stats = jobber.handle().stats();
    assert_eq!(
        (stats.refreshes_succeeded, stats.refreshes_rejected),
        (1, 19)
    );
}

#[tokio::test]
async fn an_access_token_is_refused_with_401_once_the_sandbox_clock_passes_its_exp() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;

    jobber.handle().advance_clock(Duration::from_secs(59 * 60));
    let (before, _) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;
    jobber.handle().advance_clock(Duration::from_secs(61));
    let (after, body) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;

    assert_eq!(before, StatusCode::OK);
    assert_eq!(after, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert_eq!(jobber.handle().stats().graphql_unauthorized, 1);
}

#[tokio::test]
async fn a_token_signed_with_another_key_or_no_token_at_all_gets_401() {
    let jobber = Jobber::start(config()).await;
    let other = Jobber::start(config()).await;
    let foreign = other.connect().await;

    let (forged, _) = jobber.graphql(&foreign.access, ACCOUNT_QUERY).await;
    let (none, _) = read(
        jobber
            .http
            .post(jobber.sandbox.graphql_url())
            .header("X-JOBBER-GRAPHQL-VERSION", CURRENT_VERSION)
            .json(&json!({ "query": ACCOUNT_QUERY }))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(forged, StatusCode::UNAUTHORIZED);
    assert_eq!(none, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_get_401_invalid_client() {
    let jobber = Jobber::start(config()).await;
    let code = jobber.code().await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("client_id", CLIENT_ID), ("client_secret", "wrong")],
        &[("client_id", "other"), ("client_secret", SECRET)],
        &[("client_id", CLIENT_ID)],
    ];
    for credentials in cases {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
        ];
        form.extend_from_slice(credentials);

        let (status, body) = jobber.token(&form).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credentials:?}");
        assert_eq!(body["error"], "invalid_client");
    }
    let (status, _) = jobber.exchange(&code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refused attempts leave the code alone"
    );
}

#[tokio::test]
async fn the_token_endpoint_takes_a_form_body_only() {
    let jobber = Jobber::start(config()).await;
    let code = jobber.code().await;

    let response = jobber
        .http
        .post(jobber.sandbox.token_url())
        .json(&json!({
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "code": code,
            "redirect_uri": CALLBACK,
        }))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn missing_fields_and_unknown_grant_types_are_named_errors() {
    let jobber = Jobber::start(config()).await;
    let auth = [("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "invalid_request"),
        (&[("grant_type", "authorization_code")], "invalid_request"),
        (&[("grant_type", "refresh_token")], "invalid_request"),
        (&[("grant_type", "password")], "unsupported_grant_type"),
    ];
    for (fields, expected) in cases {
        let mut form = auth.to_vec();
        form.extend_from_slice(fields);

        let (status, body) = jobber.token(&form).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert_eq!(body["error"], expected, "{fields:?}");
    }
}

#[tokio::test]
async fn graphql_requires_the_version_header_and_a_json_body() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    let url = jobber.sandbox.graphql_url();

    let no_version = jobber
        .http
        .post(&url)
        .bearer_auth(&tokens.access)
        .json(&json!({ "query": ACCOUNT_QUERY }))
        .send()
        .await
        .unwrap();
    let (no_version, version_body) = read(no_version).await;
    let form = jobber
        .http
        .post(&url)
        .bearer_auth(&tokens.access)
        .header("X-JOBBER-GRAPHQL-VERSION", CURRENT_VERSION)
        .form(&[("query", ACCOUNT_QUERY)])
        .send()
        .await
        .unwrap();

    assert_eq!(no_version, StatusCode::BAD_REQUEST);
    assert!(version_body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("X-JOBBER-GRAPHQL-VERSION"));
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn every_graphql_answer_carries_cost_and_versioning_with_a_warning_for_old_versions() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    let mut answers = Vec::new();
    for version in [CURRENT_VERSION, "2025-01-20", "2023-01-01"] {
        let response = jobber
            .http
            .post(jobber.sandbox.graphql_url())
            .bearer_auth(&tokens.access)
            .header("X-JOBBER-GRAPHQL-VERSION", version)
            .json(&json!({ "query": ACCOUNT_QUERY }))
            .send()
            .await
            .unwrap();
        answers.push(read(response).await.1);
    }

    let versioning: Vec<&Value> = answers
        .iter()
        .map(|a| &a["extensions"]["versioning"])
        .collect();
    assert_eq!(
        versioning[0],
        &json!({ "version": CURRENT_VERSION, "warning": null })
    );
    assert_eq!(versioning[1]["version"], "2025-01-20");
    assert!(versioning[1]["warning"].is_string());
    assert_eq!(versioning[2]["version"], "2025-01-20");
    assert!(versioning[2]["warning"].is_string());
    let cost = &answers[0]["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 3);
    assert_eq!(cost["actualQueryCost"], 3);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 10_000);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 500);
    assert!(
        cost["throttleStatus"]["currentlyAvailable"]
            .as_u64()
            .unwrap()
            <= 9_997
    );
}

#[tokio::test]
async fn unknown_operations_get_graphql_errors_and_never_data() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    for query in [
        "{ clients(first: 10) { nodes { id } } }",
        "{ account { id ...F } }",
        "mutation { clientCreate(input: {}) { client { id } } }",
        "not graphql",
    ] {
        let (status, body) = jobber.graphql(&tokens.access, query).await;

        assert_eq!(status, StatusCode::OK, "{query}");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert!(!body["errors"].as_array().unwrap().is_empty(), "{query}");
        assert!(body["extensions"]["versioning"].is_object(), "{query}");
    }
}

#[tokio::test]
async fn app_disconnect_kills_every_token_of_the_account_and_no_other() {
    let jobber = Jobber::start(config()).await;
    let first = jobber.connect().await;
    let second = jobber.connect().await;
    jobber.handle().sign_in_as(2002).unwrap();
    let other_account = jobber.connect().await;

    let (status, body) = jobber.graphql(&first.access, DISCONNECT).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["appDisconnect"],
        json!({ "app": { "name": "Unified CRM (sandbox)", "author": "Unified CRM" }, "userErrors": [] })
    );
    for access in [&first.access, &second.access] {
        let (status, body) = jobber.graphql(access, ACCOUNT_QUERY).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body["message"],
            "User has disconnected this app from their account. Please delete this token"
        );
    }
    for refresh in [&first.refresh, &second.refresh] {
        let (status, body) = jobber.refresh(refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
    }
    let (status, _) = jobber.graphql(&other_account.access, ACCOUNT_QUERY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobber.handle().live_refresh_tokens(1001), 0);
    assert_eq!(jobber.handle().stats().disconnects, 1);
}

#[tokio::test]
async fn a_disconnect_from_jobbers_side_kills_the_tokens_and_a_new_consent_connects_again() {
    let jobber = Jobber::start(config()).await;
    let old = jobber.connect().await;

    jobber.handle().revoke_account(1001);
    let (refused, _) = jobber.graphql(&old.access, ACCOUNT_QUERY).await;
    jobber.handle().advance_clock(Duration::from_secs(1));
    let new = jobber.connect().await;
    let (accepted, _) = jobber.graphql(&new.access, ACCOUNT_QUERY).await;

    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    assert_eq!(accepted, StatusCode::OK);
}

#[tokio::test]
async fn injected_token_failures_hit_exactly_the_next_requests_and_spare_the_refresh_token() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    let mut seen = Vec::new();
    for status in [400, 401, 403, 500] {
        jobber.handle().fail_next(FaultTarget::Token, 1, status);
        seen.push(jobber.refresh(&tokens.refresh).await);
    }

    let (after, _) = jobber.refresh(&tokens.refresh).await;

    let statuses: Vec<u16> = seen.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(statuses, [400, 401, 403, 500]);
    assert_eq!(seen[0].1["error"], "invalid_grant");
    assert_eq!(seen[1].1["error"], "invalid_client");
    assert!(seen[3].1.as_str().unwrap().contains("<html>"));
    assert_eq!(after, StatusCode::OK);
    let stats = jobber.handle().stats();
    assert_eq!(stats.injected_token_failures, 4);
    assert_eq!(stats.refreshes_succeeded, 1);
    assert_eq!(stats.token_requests, 6);
}

#[tokio::test]
async fn an_injected_graphql_401_looks_like_a_refused_token_once_then_the_token_works() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    jobber.handle().fail_next(FaultTarget::Graphql, 1, 401);

    let (first, _) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;
    let (second, _) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;

    assert_eq!(first, StatusCode::UNAUTHORIZED);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(jobber.handle().stats().injected_graphql_failures, 1);
}

#[tokio::test]
async fn added_latency_holds_answers_back_until_it_is_turned_off() {
    let jobber = Jobber::start(config()).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let send = || {
        impatient
            .post(jobber.sandbox.token_url())
            .form(&[("grant_type", "x")])
            .send()
    };

    jobber.handle().set_latency(Duration::from_secs(5));
    let late = send().await;
    jobber.handle().set_latency(Duration::ZERO);
    let prompt = send().await;

    assert!(late.unwrap_err().is_timeout());
    assert_eq!(prompt.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_query_costing_more_than_the_bucket_holds_is_throttled_and_charged_nothing() {
    let jobber = Jobber::start(config()).await;
    let tokens = jobber.connect().await;
    jobber.handle().set_query_budget(1001, 2);

    let (status, body) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED");
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], 0);
    assert_eq!(
        body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        2
    );
    jobber.handle().advance_clock(Duration::from_secs(1));
    let (_, body) = jobber.graphql(&tokens.access, ACCOUNT_QUERY).await;
    assert_eq!(body["data"]["account"]["name"], "Green Thumb Landscaping");
    assert_eq!(jobber.handle().stats().throttled, 1);
}

#[tokio::test]
async fn the_config_debug_output_never_shows_the_client_or_signing_secret() {
    let config = config();
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("<redacted>"));
}
