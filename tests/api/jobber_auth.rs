//! Jobber connections end to end against the sandbox Jobber: the OAuth flow through our
//! endpoints, automatic and concurrent refreshes, and every way a callback can be refused.

use std::collections::HashMap;
use std::time::Duration;

use adapters::jobber::oauth_state::OAuthStates;
use adapters::jobber::sandbox::{
    Consent, JobberSandboxConfig, RunningJobberSandbox, SandboxJobber,
};
use adapters::vault::{Keyring, TokenSet, TokenVault};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::{ConnectionId, UserId};
use reqwest::redirect::Policy;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use unified_crm::config::JobberApp;
use unified_crm::scheduler::refresh_jobber_tokens_once;

use crate::projections::all_events;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    the_whole_flow_connects_and_the_scheduler_refreshes_before_expiry,
    fifty_concurrent_refreshes_over_two_instances_make_one_refresh_at_jobber,
    no_token_is_stored_or_answered_in_plain_text,
    forged_replayed_expired_and_denied_callbacks_are_400_and_store_nothing,
    disconnect_tells_jobber_shreds_the_tokens_and_keeps_the_history,
    a_dead_grant_marks_the_connection_needs_reauth_with_a_cooldown,
    a_signed_app_disconnect_webhook_revokes_once_and_a_forged_one_nothing,
);

const CLIENT_ID: &str = "test-jobber-app";
const CLIENT_SECRET: &str = "test-jobber-client-secret-value";

fn encryption_key() -> SecretString {
    SecretString::from(format!("k1:{}", STANDARD.encode([7u8; 32])))
}

async fn jobber_sandbox() -> RunningJobberSandbox {
    SandboxJobber::start(JobberSandboxConfig::new(
        CLIENT_ID,
        SecretString::from(CLIENT_SECRET),
    ))
    .await
    .expect("start the sandbox Jobber")
}

/// An app instance on `t` connected to `sandbox` as its Jobber. The redirect URI is never
/// followed by a browser here: tests carry the callback's query to the app themselves.
async fn app_with_jobber(t: &TestDb, sandbox: &RunningJobberSandbox) -> TestApp {
    app_coalescing_within(t, sandbox, Duration::ZERO).await
}

/// As `app_with_jobber`, reusing a refresh made less than `coalesce` ago.
async fn app_coalescing_within(
    t: &TestDb,
    sandbox: &RunningJobberSandbox,
    coalesce: Duration,
) -> TestApp {
    let mut settings = t.settings();
    settings.jobber.app = Some(JobberApp {
        client_id: CLIENT_ID.to_string(),
        client_secret: SecretString::from(CLIENT_SECRET),
        redirect_uri: "http://127.0.0.1:9/auth/jobber/callback".to_string(),
    });
    settings.jobber.api_url = sandbox.graphql_url();
    settings.jobber.tokens_url = sandbox.token_url();
    settings.jobber.authorize_url = sandbox.authorize_url();
    settings.jobber.token_encryption_key = Some(encryption_key());
    // Tests drive refreshes themselves.
    settings.jobber.refresh_check_every = Duration::from_secs(3_600);
    settings.jobber.refresh_coalesce = coalesce;
    TestApp::spawn_with(settings).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Follows our authorize endpoint to the sandbox's consent page and returns where the
/// sandbox sends the browser back: the callback's query string (empty on a denial).
async fn consent(app: &TestApp, user: &str) -> String {
    let client = no_redirects();
    let ours = client
        .get(format!(
            "{}/auth/jobber/authorize?userid={user}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 302, "authorize redirects to Jobber");
    let to_jobber = ours.headers()["location"].to_str().unwrap().to_string();
    let theirs = client.get(&to_jobber).send().await.unwrap();
    assert_eq!(theirs.status(), 302, "the sandbox redirects back");
    let back = reqwest::Url::parse(theirs.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/auth/jobber/callback");
    back.query().unwrap_or_default().to_string()
}

async fn callback(app: &TestApp, query: &str) -> reqwest::Response {
    app.get(&format!("/auth/jobber/callback?{query}")).await
}

async fn connect(app: &TestApp, user: &str) -> Value {
    let query = consent(app, user).await;
    let response = callback(app, &query).await;
    assert_eq!(
        response.status(),
        200,
        "callback: {:?}",
        response.text().await
    );
    response.json().await.unwrap()
}

async fn status(app: &TestApp, user: &str) -> Value {
    let response = app
        .get_internal(&format!("/auth/jobber/status/{user}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn vault(t: &TestDb) -> TokenVault {
    TokenVault::new(t.db.clone(), Keyring::parse(&encryption_key()).unwrap())
}

async fn stored_tokens(t: &TestDb, user: &str) -> Option<TokenSet> {
    let id = ConnectionId::jobber_user(&user.parse::<UserId>().unwrap());
    vault(t).load(&id).await.unwrap().map(|(_, tokens)| tokens)
}

async fn connection_events(t: &TestDb) -> Vec<String> {
    all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "Connection")
        .map(|e| e.event_type)
        .collect()
}

async fn the_whole_flow_connects_and_the_scheduler_refreshes_before_expiry(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    let jobber = app.state.jobber.clone().expect("Jobber configured");

    let connected = connect(&app, "42").await;
    assert_eq!(connected["status"], "authenticated");
    assert_eq!(connected["userId"], "42");
    assert_eq!(connected["accountName"], "Sandbox Landscaping");
    let before = status(&app, "42").await;
    assert_eq!(before["status"], "authenticated");
    assert_eq!(before["hasValidToken"], true);
    let first = stored_tokens(&t, "42").await.unwrap();

    // 57 minutes later the token is within the 5-minute margin of its 60-minute life.
    sandbox.handle().advance_clock(Duration::from_secs(57 * 60));
    let sweep = refresh_jobber_tokens_once(&t.db, &jobber, sandbox.handle().now())
        .await
        .unwrap();

    assert_eq!((sweep.due, sweep.refreshed, sweep.failed), (1, 1, 0));
    assert_eq!(sandbox.handle().stats().refreshes_succeeded, 1);
    let after = status(&app, "42").await;
    assert_eq!(after["status"], "authenticated");
    assert!(
        after["expiresAt"].as_str() > before["expiresAt"].as_str(),
        "the new token lives longer: {before} → {after}"
    );
    let second = stored_tokens(&t, "42").await.unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret(),
        "Jobber rotated the refresh token and we kept the new one"
    );
    // The rotated-out refresh token is dead at Jobber; ours still works: a second sweep
    // later refreshes again without a rejection.
    sandbox.handle().advance_clock(Duration::from_secs(57 * 60));
    let sweep = refresh_jobber_tokens_once(&t.db, &jobber, sandbox.handle().now())
        .await
        .unwrap();
    assert_eq!(sweep.refreshed, 1);
    assert_eq!(sandbox.handle().stats().refreshes_rejected, 0);
    assert_eq!(
        connection_events(&t).await,
        ["TokensGranted", "TokensRefreshed", "TokensRefreshed"]
    );
}

async fn fifty_concurrent_refreshes_over_two_instances_make_one_refresh_at_jobber(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let coalesce = Duration::from_secs(2);
    let first = app_coalescing_within(&t, &sandbox, coalesce).await;
    let second = app_coalescing_within(&t, &sandbox, coalesce).await;
    connect(&first, "7").await;
    // Let the grant age past the coalescing window, so a refresh is really due.
    tokio::time::sleep(coalesce + Duration::from_millis(500)).await;
    // Slow Jobber down so the requests really overlap the one refresh in flight.
    sandbox.handle().set_latency(Duration::from_millis(200));

    let requests = (0..50).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        async move {
            let response = app.post_internal("/auth/jobber/refresh/7").await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let answers = futures::future::join_all(requests).await;

    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["status"], "authenticated");
        assert_eq!(body["hasValidToken"], true);
    }
    let refreshed = answers
        .iter()
        .filter(|(_, b)| b["refreshed"] == true)
        .count();
    assert_eq!(
        refreshed, 1,
        "exactly one request refreshed, the rest reused it"
    );
    let stats = sandbox.handle().stats();
    assert_eq!(stats.refreshes_succeeded, 1, "one refresh reached Jobber");
    assert_eq!(
        stats.refreshes_rejected, 0,
        "no request used a rotated-out token"
    );
    // The connection stays valid: the stored access token is accepted by Jobber.
    sandbox.handle().set_latency(Duration::ZERO);
    let tokens = stored_tokens(&t, "7").await.unwrap();
    let account = adapters::jobber::GraphqlClient::new(
        sandbox.graphql_url(),
        adapters::jobber::DEFAULT_GRAPHQL_VERSION,
        Duration::from_secs(5),
    )
    .unwrap()
    .account(&tokens.access_token)
    .await;
    assert!(account.is_ok(), "the stored token works: {account:?}");
}

async fn no_token_is_stored_or_answered_in_plain_text(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    let mut answers = vec![connect(&app, "9").await.to_string()];
    let granted = stored_tokens(&t, "9").await.unwrap();
    sandbox.handle().advance_clock(Duration::from_secs(61 * 60));
    let refresh = app.post_internal("/auth/jobber/refresh/9").await;
    answers.push(refresh.text().await.unwrap());
    answers.push(status(&app, "9").await.to_string());
    let refreshed = stored_tokens(&t, "9").await.unwrap();
    let disconnect = app
        .client
        .delete(format!("{}/auth/jobber/connections/9", app.address))
        .header("x-internal-api-key", crate::support::INTERNAL_KEY)
        .send()
        .await
        .unwrap();
    answers.push(disconnect.text().await.unwrap());

    let secrets: Vec<String> = [granted, refreshed]
        .iter()
        .flat_map(|t| {
            [
                t.access_token.expose_secret().to_string(),
                t.refresh_token.expose_secret().to_string(),
            ]
        })
        .collect();
    let stored = everything_stored(&t).await;
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "a token is in the database"
        );
        for answer in &answers {
            assert!(
                !answer.contains(secret.as_str()),
                "a token is in a response: {answer}"
            );
        }
    }
    assert!(
        stored.contains("TokensRefreshed"),
        "the dump covers the events"
    );
}

/// Every row of every table, as text: events, read models, the vault, OAuth states.
async fn everything_stored(t: &TestDb) -> String {
    let tables = [
        "events",
        "jobber_connections",
        "connection_secrets",
        "oauth_states",
        "projection_checkpoints",
    ];
    let mut dump = String::new();
    for table in tables {
        let rows: Vec<(String,)> = match &t.db {
            adapters::store::Db::Postgres(pool) => {
                sqlx::query_as(&format!("select t::text from {table} t"))
                    .fetch_all(pool)
                    .await
                    .unwrap()
            }
            adapters::store::Db::Sqlite(pool) => {
                // SQLite has no row-to-text cast: concatenate every column by name.
                let columns: Vec<(String,)> =
                    sqlx::query_as(&format!("select name from pragma_table_info('{table}')"))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let joined = columns
                    .iter()
                    .map(|(c,)| format!("coalesce(cast({c} as text), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                sqlx::query_as(&format!("select {joined} from {table}"))
                    .fetch_all(pool)
                    .await
                    .unwrap()
            }
        };
        for (row,) in rows {
            dump.push_str(&row);
            dump.push('\n');
        }
    }
    dump
}

async fn forged_replayed_expired_and_denied_callbacks_are_400_and_store_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    let expect_400 = |code: &'static str| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), 400);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], code, "{body}");
            body
        }
    };

    // Forged: a state we never issued, with a real code from the sandbox.
    let genuine = consent(&app, "5").await;
    let code = genuine
        .split('&')
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap()
        .to_string();
    expect_400("oauth_state_unknown")(callback(&app, &format!("code={code}&state=forged")).await)
        .await;

    // Denied: Jobber redirects back with no parameters at all.
    sandbox.handle().set_consent(Consent::Deny);
    let denied = consent(&app, "5").await;
    assert_eq!(denied, "", "a denial carries no parameters");
    let body = expect_400("oauth_callback_incomplete")(callback(&app, &denied).await).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("Missing code or state in callback"));
    sandbox.handle().set_consent(Consent::Grant);

    // Expired: a state issued eleven minutes ago.
    let states = OAuthStates::new(&t.db, "jobber");
    let old = states
        .issue("5", chrono::Utc::now() - chrono::Duration::minutes(11))
        .await
        .unwrap();
    expect_400("oauth_state_expired")(callback(&app, &format!("code={code}&state={old}")).await)
        .await;

    // Mismatched: the callback names another user than the state was issued for.
    let other = consent(&app, "5").await;
    expect_400("oauth_state_mismatch")(callback(&app, &format!("{other}&userid=6")).await).await;

    assert!(connection_events(&t).await.is_empty(), "nothing recorded");
    assert!(stored_tokens(&t, "5").await.is_none(), "nothing stored");
    assert_eq!(
        sandbox.handle().stats().code_exchanges,
        0,
        "no refused callback spent a code"
    );

    // Replayed: the genuine callback works once, then never again.
    let first = callback(&app, &genuine).await;
    assert_eq!(first.status(), 200);
    expect_400("oauth_state_reused")(callback(&app, &genuine).await).await;
    assert_eq!(connection_events(&t).await, ["TokensGranted"]);
}

async fn disconnect_tells_jobber_shreds_the_tokens_and_keeps_the_history(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    connect(&app, "11").await;
    // Past expiry: the disconnect must refresh first (a 401 from appDisconnect) and still
    // reach Jobber.
    sandbox
        .handle()
        .advance_clock(Duration::from_secs(2 * 3_600));

    let response = app
        .client
        .delete(format!("{}/auth/jobber/connections/11", app.address))
        .header("x-internal-api-key", crate::support::INTERNAL_KEY)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["jobberNotified"], true);
    assert_eq!(sandbox.handle().stats().disconnects, 1);
    assert!(stored_tokens(&t, "11").await.is_none(), "tokens shredded");
    assert_eq!(status(&app, "11").await["status"], "revoked");
    let history = connection_events(&t).await;
    assert_eq!(history.first().map(String::as_str), Some("TokensGranted"));
    assert_eq!(
        history.last().map(String::as_str),
        Some("ConnectionRevoked")
    );
    let again = app
        .client
        .delete(format!("{}/auth/jobber/connections/11", app.address))
        .header("x-internal-api-key", crate::support::INTERNAL_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

async fn a_dead_grant_marks_the_connection_needs_reauth_with_a_cooldown(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    connect(&app, "13").await;
    // The user removed the app on Jobber's side: every token of the account is dead.
    let account = 1001;
    sandbox.handle().revoke_account(account);
    sandbox.handle().advance_clock(Duration::from_secs(61 * 60));

    let refresh = app.post_internal("/auth/jobber/refresh/13").await;
    assert_eq!(refresh.status(), 502);
    let body: Value = refresh.json().await.unwrap();
    assert_eq!(body["code"], "jobber_grant_rejected");

    let now = status(&app, "13").await;
    assert_eq!(now["status"], "needs_reauth");
    assert_eq!(now["hasValidToken"], false);
    let again = app.post_internal("/auth/jobber/refresh/13").await;
    assert_eq!(again.status(), 409, "no hammering Jobber with a dead grant");
    assert_eq!(sandbox.handle().stats().refreshes_rejected, 1);
    let events: HashMap<String, usize> =
        connection_events(&t)
            .await
            .into_iter()
            .fold(HashMap::new(), |mut m, e| {
                *m.entry(e).or_default() += 1;
                m
            });
    assert_eq!(events.get("RefreshFailed"), Some(&1));
    assert_eq!(events.get("ConnectionNeedsReauth"), Some(&1));
}

async fn a_signed_app_disconnect_webhook_revokes_once_and_a_forged_one_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = jobber_sandbox().await;
    let app = app_with_jobber(&t, &sandbox).await;
    connect(&app, "21").await;
    let account = sandbox.handle().account_encoded_id(1001);
    // Old apps get the misspelt key: it must be read too.
    let body = format!(
        r#"{{"data":{{"webHookEvent":{{"topic":"APP_DISCONNECT","appId":"app","accountId":"{account}","itemId":"{account}","occuredAt":"2026-11-22T03:00:00Z"}}}}}}"#
    );
    let deliver = |signature: String| {
        let request = app
            .client
            .post(format!("{}/api/v1/webhooks/jobber", app.address))
            .header("content-type", "application/json")
            .header("X-Jobber-Hmac-SHA256", signature)
            .body(body.clone());
        async move { request.send().await.unwrap() }
    };
    let forged =
        adapters::jobber::webhook::sign(&SecretString::from("not-ours"), body.as_bytes()).unwrap();
    let genuine =
        adapters::jobber::webhook::sign(&SecretString::from(CLIENT_SECRET), body.as_bytes())
            .unwrap();

    let refused = deliver(forged).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(status(&app, "21").await["status"], "authenticated");

    let first: Value = deliver(genuine.clone()).await.json().await.unwrap();
    let again: Value = deliver(genuine).await.json().await.unwrap();

    assert_eq!(first["action"], "revoked", "{first}");
    assert_eq!(again["action"], "already_revoked", "{again}");
    assert_eq!(status(&app, "21").await["status"], "revoked");
    assert!(stored_tokens(&t, "21").await.is_none(), "tokens shredded");
    assert_eq!(
        connection_events(&t).await,
        ["TokensGranted", "ConnectionRevoked"],
        "a repeated delivery changes nothing"
    );
}

/// The acceptance line "no token in the logs" needs the logs a real server writes: this runs
/// `unified-crm serve` as a child at debug level, walks grant → refresh → status →
/// disconnect against the sandbox Jobber, and greps everything it printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_appears_in_the_server_logs_even_at_debug_level() {
    let t = TestDb::new(Backend::Sqlite).await;
    let sandbox = jobber_sandbox().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let adapters::store::DatabaseTarget::Sqlite(path) = t.target() else {
        unreachable!("a SQLite test database")
    };
    let logs = tempfile::NamedTempFile::new().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_unified-crm"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", format!("sqlite:{}", path.display()))
        .env("PORT", port.to_string())
        .env("INTERNAL_API_KEY", crate::support::INTERNAL_KEY)
        .env("EMBED_SIGNING_SECRET", crate::support::EMBED_SECRET)
        .env("RUST_LOG", "debug")
        .env("JOBBER_CLIENT_ID", CLIENT_ID)
        .env("JOBBER_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "JOBBER_REDIRECT_URI",
            format!("{base}/auth/jobber/callback"),
        )
        .env("JOBBER_API_URL", sandbox.graphql_url())
        .env("JOBBER_TOKENS_URL", sandbox.token_url())
        .env("JOBBER_REFRESH_COALESCE_SECONDS", "0")
        .env("RATE_LIMIT_ENABLED", "false")
        .env("TOKEN_ENCRYPTION_KEY", encryption_key().expose_secret())
        .current_dir(std::env::temp_dir())
        .stdout(logs.reopen().unwrap())
        .stderr(logs.reopen().unwrap())
        .spawn()
        .expect("start the server");
    let client = no_redirects();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/health/live")).send().await {
            ready = r.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server came up");

    let internal = |request: reqwest::RequestBuilder| {
        request.header("x-internal-api-key", crate::support::INTERNAL_KEY)
    };
    let to_jobber = client
        .get(format!("{base}/auth/jobber/authorize?userid=77"))
        .send()
        .await
        .unwrap();
    let consent = client
        .get(to_jobber.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    let mut answers = vec![client
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()];
    let granted = stored_tokens(&t, "77").await.expect("tokens stored");
    sandbox.handle().advance_clock(Duration::from_secs(61 * 60));
    for request in [
        internal(client.get(format!("{base}/auth/jobber/refresh/77"))),
        internal(client.get(format!("{base}/auth/jobber/status/77"))),
    ] {
        answers.push(request.send().await.unwrap().text().await.unwrap());
    }
    let refreshed = stored_tokens(&t, "77").await.expect("tokens stored");
    answers.push(
        internal(client.delete(format!("{base}/auth/jobber/connections/77")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    server.kill().unwrap();
    server.wait().unwrap();

    let printed = std::fs::read_to_string(logs.path()).unwrap();
    assert!(
        printed.contains("DEBUG"),
        "the server logged at debug level"
    );
    assert!(answers[0].contains("authenticated"), "{answers:?}");
    assert_ne!(
        granted.refresh_token.expose_secret(),
        refreshed.refresh_token.expose_secret(),
        "the refresh happened"
    );
    for tokens in [&granted, &refreshed] {
        for secret in [&tokens.access_token, &tokens.refresh_token] {
            let secret = secret.expose_secret();
            assert!(!printed.contains(secret), "a token is in the logs");
            assert!(
                answers.iter().all(|a| !a.contains(secret)),
                "a token is in a response"
            );
        }
    }
    assert!(
        !printed.contains(CLIENT_SECRET),
        "the client secret is in the logs"
    );
}
