//! Embedded panels: `POST /api/v1/embed/links`, `GET /api/v1/embed/session/resolve`, the
//! `/embed/{qc,risk,portal}` pages and `GET /api/v1/portal/internal/jobs/{jobId}`, on a server
//! whose jobs are mirrored from the JobNimbus sandbox.

use std::time::Duration;

use adapters::embed::EmbedSigner;
use adapters::jobnimbus::sandbox::{FaultConfig, Resource, RunningSandbox};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use domain::{JobId, PanelType};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::projections::all_events;
use crate::support::{crm, Backend, TestApp, TestDb, EMBED_SECRET, INTERNAL_KEY};

on_both_backends!(
    a_link_opens_its_panel_and_resolves_to_its_job_and_panel_type,
    each_issued_link_is_an_event_naming_the_caller_and_never_the_token,
    expired_forged_tampered_and_wrong_algorithm_tokens_are_refused_with_stable_codes,
    a_token_for_one_panel_type_opens_no_other,
    a_link_stops_opening_once_its_job_is_deleted_in_the_crm,
    links_are_refused_without_the_key_or_for_unknown_jobs_and_bad_bodies,
    the_portal_shows_customer_safe_fields_and_no_private_photo,
);

async fn mirrored(t: &TestDb, sandbox: &RunningSandbox) -> TestApp {
    let app = TestApp::spawn_with_jobnimbus(t, sandbox).await;
    let synced = app.post_internal("/api/v1/sync/jobs").await;
    assert_eq!(synced.status(), 200);
    app
}

/// A mirrored job's id and its sandbox jnid.
fn some_job(sandbox: &RunningSandbox) -> (String, String) {
    let jnid = sandbox.handle().random_jnid(Resource::Jobs).expect("a job");
    (format!("jobnimbus:{jnid}"), jnid)
}

async fn create_link(app: &TestApp, body: Value, caller: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/api/v1/embed/links", app.address))
        .header("x-internal-api-key", INTERNAL_KEY)
        .json(&body);
    if let Some(caller) = caller {
        request = request.header("x-caller", caller);
    }
    request.send().await.expect("request")
}

/// A link's body, asserting it was issued.
async fn issue(app: &TestApp, job_id: &str, panel: &str) -> Value {
    let response = create_link(app, json!({"jobId": job_id, "panelType": panel}), None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn token_of(link: &Value) -> String {
    let url = link["url"].as_str().expect("url");
    url.split_once("?token=").expect("a token").1.to_string()
}

async fn resolve(app: &TestApp, token: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/embed/session/resolve?token={token}"))
        .await
}

async fn assert_problem(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
}

/// The page at `path` (relative to the server), as its status, headers and body.
async fn page(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn path_of(link: &Value, app: &TestApp) -> String {
    let url = link["url"].as_str().expect("url");
    url.strip_prefix(&app.address)
        .unwrap_or_else(|| panic!("{url} is not on this server"))
        .to_string()
}

async fn a_link_opens_its_panel_and_resolves_to_its_job_and_panel_type(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(6, 4, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, jnid) = some_job(&sandbox);
    let name = sandbox.handle().get(Resource::Jobs, &jnid).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();

    for (panel, page_path, heading) in [
        ("QC_PANEL", "/embed/qc", "Photo QC"),
        ("RISK_VIEW", "/embed/risk", "Risk"),
        ("CUSTOMER_PORTAL_VIEW", "/embed/portal", "Photos"),
    ] {
        let link = issue(&app, &job_id, panel).await;
        assert_eq!(link["jobId"], job_id.as_str());
        assert_eq!(link["panelType"], panel);
        let url = link["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}{page_path}?token=", app.address)),
            "{url}"
        );

        let resolved: Value = resolve(&app, &token_of(&link)).await.json().await.unwrap();
        assert_eq!(resolved["jobId"], job_id.as_str(), "{resolved}");
        assert_eq!(resolved["panelType"], panel);
        let expires_at: chrono::DateTime<Utc> =
            serde_json::from_value(link["expiresAt"].clone()).unwrap();
        assert_eq!(resolved["exp"], expires_at.timestamp());
        let ttl = expires_at - Utc::now();
        assert!(
            ttl > chrono::Duration::minutes(29) && ttl <= chrono::Duration::minutes(30),
            "the default TTL is 30 minutes: {ttl}"
        );

        let (status, headers, html) = page(&app, &path_of(&link, &app)).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(&name), "{panel} page names the job: {html}");
        assert!(html.contains(heading), "{panel} page shows {heading}");
        assert!(
            !html.contains(&token_of(&link)),
            "the page never echoes its token"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors https://app.jobnimbus.com"),
            "{csp}"
        );
        assert!(
            csp.starts_with("default-src 'none'"),
            "no script, no external load: {csp}"
        );
        assert!(headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store"));
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}

async fn each_issued_link_is_an_event_naming_the_caller_and_never_the_token(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, _) = some_job(&sandbox);

    let response = create_link(
        &app,
        json!({"jobId": job_id, "panelType": "RISK_VIEW"}),
        Some("dispatcher@acme.example"),
    )
    .await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    let token = token_of(&link);

    let issued: Vec<_> = all_events(&t.db)
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "EmbedLink")
        .collect();
    assert_eq!(issued.len(), 1, "{issued:?}");
    let event = &issued[0];
    assert_eq!(event.event_type, "EmbedLinkIssued");
    let payload: Value = serde_json::from_str(&event.payload).unwrap();
    let recorded = payload.to_string();
    assert!(recorded.contains(&job_id), "{recorded}");
    assert!(recorded.contains("RISK_VIEW"), "{recorded}");
    let expires_at: chrono::DateTime<Utc> =
        serde_json::from_value(link["expiresAt"].clone()).unwrap();
    let recorded_expiry: chrono::DateTime<Utc> =
        serde_json::from_value(payload["EmbedLinkIssued"]["expires_at"].clone())
            .unwrap_or_else(|e| panic!("the event says until when ({e}): {recorded}"));
    assert_eq!(recorded_expiry, expires_at);
    let metadata: Value = serde_json::from_str(&event.metadata).unwrap();
    assert_eq!(metadata["caller"], "dispatcher@acme.example");
    let signature = token.rsplit('.').next().unwrap();
    for stored in [&event.payload, &event.metadata] {
        assert!(!stored.contains(&token), "the token is never stored");
        assert!(!stored.contains(signature), "nor its signature");
        assert!(!stored.contains(EMBED_SECRET), "nor the secret");
    }
}

/// A token for `job_id`'s QC panel issued at `issued_at`, signed with `secret`.
fn signed_with(secret: &str, job_id: &str, issued_at: chrono::DateTime<Utc>) -> String {
    let signer = EmbedSigner::new(&SecretString::from(secret), Duration::from_secs(30 * 60));
    let job: JobId = job_id.parse().unwrap();
    signer
        .sign(&signer.grant(job, PanelType::QcPanel, issued_at))
        .unwrap()
}

/// `token` with its header replaced by `header` (signature kept).
fn with_header(token: &str, header: Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// `token` with one claim changed (header and signature kept).
fn with_claim(token: &str, claim: &str, value: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims[claim] = value;
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

async fn expired_forged_tampered_and_wrong_algorithm_tokens_are_refused_with_stable_codes(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, _) = some_job(&sandbox);
    let valid = signed_with(EMBED_SECRET, &job_id, Utc::now());
    assert_eq!(
        resolve(&app, &valid).await.status(),
        200,
        "the control opens"
    );

    let expired = signed_with(
        EMBED_SECRET,
        &job_id,
        Utc::now() - chrono::Duration::hours(1),
    );
    assert_problem(resolve(&app, &expired).await, 401, "embed_token_expired").await;

    let forged = signed_with(
        "another-secret-that-is-long-enough-0123456789",
        &job_id,
        Utc::now(),
    );
    let alg_none = {
        let unsigned = with_header(&valid, json!({"alg": "none", "typ": "JWT"}));
        let (head, _) = unsigned.rsplit_once('.').unwrap();
        format!("{head}.")
    };
    let rs256 = with_header(&valid, json!({"alg": "RS256", "typ": "JWT"}));
    let hs512 = with_header(&valid, json!({"alg": "HS512", "typ": "JWT"}));
    let other_job = with_claim(&valid, "sub", json!("jobnimbus:someone-elses-job"));
    let other_panel = with_claim(&valid, "panel", json!("RISK_VIEW"));
    let longer = with_claim(&valid, "exp", json!(Utc::now().timestamp() + 86_400));
    for (case, token) in [
        ("forged signature", forged),
        ("alg none", alg_none),
        ("RS256 header", rs256),
        ("HS512 header", hs512),
        ("tampered job", other_job),
        ("tampered panel", other_panel),
        ("tampered expiry", longer),
        ("not a JWT", "not-a-token".to_string()),
        ("empty", String::new()),
    ] {
        let response = resolve(&app, &token).await;
        assert_eq!(response.status(), 401, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "embed_token_invalid", "{case}: {body}");
        let (status, _, html) = page(&app, &format!("/embed/qc?token={token}")).await;
        assert_eq!(status, 401, "{case}: the page refuses it too");
        assert!(!html.contains(&job_id), "{case}: the refusal shows no job");
    }
    let (status, _, _) = page(&app, "/embed/qc").await;
    assert_eq!(status, 401, "a page without a token is refused");
}

async fn a_token_for_one_panel_type_opens_no_other(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, _) = some_job(&sandbox);

    let qc = token_of(&issue(&app, &job_id, "QC_PANEL").await);
    let portal = token_of(&issue(&app, &job_id, "CUSTOMER_PORTAL_VIEW").await);
    for (token, wrong_page) in [
        (&qc, "/embed/risk"),
        (&qc, "/embed/portal"),
        (&portal, "/embed/qc"),
        (&portal, "/embed/risk"),
    ] {
        let (status, headers, html) = page(&app, &format!("{wrong_page}?token={token}")).await;
        assert_eq!(status, 401, "{wrong_page}: {html}");
        assert!(html.contains("embed_token_wrong_panel"), "{html}");
        assert!(headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store"));
    }
    let (status, _, _) = page(&app, &format!("/embed/qc?token={qc}")).await;
    assert_eq!(status, 200, "the right page opens");
}

async fn a_link_stops_opening_once_its_job_is_deleted_in_the_crm(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, jnid) = some_job(&sandbox);
    let link = issue(&app, &job_id, "QC_PANEL").await;

    sandbox
        .handle()
        .soft_delete(Resource::Jobs, &jnid)
        .expect("delete the job");
    let synced = app.post_internal("/api/v1/sync/jobs").await;
    assert_eq!(synced.status(), 200);

    assert_problem(
        resolve(&app, &token_of(&link)).await,
        401,
        "embed_job_not_found",
    )
    .await;
    let (status, _, html) = page(&app, &path_of(&link, &app)).await;
    assert_eq!(status, 401);
    assert!(html.contains("embed_job_not_found"), "{html}");
    assert_problem(
        create_link(
            &app,
            json!({"jobId": job_id, "panelType": "QC_PANEL"}),
            None,
        )
        .await,
        404,
        "job_not_found",
    )
    .await;
}

async fn links_are_refused_without_the_key_or_for_unknown_jobs_and_bad_bodies(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, _) = some_job(&sandbox);

    let without_key = app
        .client
        .post(format!("{}/api/v1/embed/links", app.address))
        .json(&json!({"jobId": job_id, "panelType": "QC_PANEL"}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_key.status(), 401);
    assert_problem(
        create_link(
            &app,
            json!({"jobId": "jobnimbus:no-such-job", "panelType": "QC_PANEL"}),
            None,
        )
        .await,
        404,
        "job_not_found",
    )
    .await;
    assert_problem(
        create_link(
            &app,
            json!({"jobId": "no-colon", "panelType": "QC_PANEL"}),
            None,
        )
        .await,
        400,
        "invalid_job_id",
    )
    .await;
    let unknown_panel = create_link(
        &app,
        json!({"jobId": job_id, "panelType": "ADMIN_PANEL"}),
        None,
    )
    .await;
    assert_eq!(unknown_panel.status(), 400);
    assert_problem(
        create_link(
            &app,
            json!({"jobId": job_id, "panelType": "QC_PANEL"}),
            Some(&"a".repeat(129)),
        )
        .await,
        400,
        "invalid_caller",
    )
    .await;
    let events = all_events(&t.db).await;
    assert!(
        events.iter().all(|e| e.aggregate_type != "EmbedLink"),
        "no refused request records a link"
    );
}

async fn the_portal_shows_customer_safe_fields_and_no_private_photo(backend: Backend) {
    let t = TestDb::new(backend).await;
    let sandbox = crm::jobnimbus(4, 2, FaultConfig::default()).await;
    let app = mirrored(&t, &sandbox).await;
    let (job_id, jnid) = some_job(&sandbox);
    let handle = sandbox.handle();
    let shared = handle
        .attach_photo(&jnid, "front-before.jpg", "Before: front elevation")
        .unwrap();
    let private = handle
        .attach_photo_with_visibility(
            &jnid,
            "crew-damage.jpg",
            "After: crew note about damage",
            true,
        )
        .unwrap();
    let internal_note = "Internal: customer disputes the last invoice";
    handle
        .update(Resource::Jobs, &jnid, json!({"description": internal_note}))
        .unwrap();
    assert_eq!(app.post_internal("/api/v1/sync/jobs").await.status(), 200);
    let synced = app
        .post_internal(&format!("/api/v1/sync/photos?jobId={job_id}"))
        .await;
    assert_eq!(synced.status(), 200);
    let job = handle.get(Resource::Jobs, &jnid).unwrap();
    let sales_rep = job["sales_rep_name"]
        .as_str()
        .unwrap_or("no-rep")
        .to_string();

    let response = app
        .get_internal(&format!("/api/v1/portal/internal/jobs/{job_id}"))
        .await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["jobId"], job_id.as_str());
    assert_eq!(view["jobName"], job["name"]);
    let photo_ids: Vec<&str> = view["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(photo_ids.contains(&shared.as_str()), "{view}");
    assert!(
        !photo_ids.contains(&private.as_str()),
        "private photo shown: {view}"
    );
    let keys: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for internal in ["description", "salesRep", "risk", "qc", "notes"] {
        assert!(
            keys.iter()
                .all(|k| !k.to_lowercase().contains(&internal.to_lowercase())),
            "{internal} leaked into {keys:?}"
        );
    }
    let rendered = view.to_string();
    assert!(!rendered.contains(internal_note));
    assert!(!rendered.contains(&sales_rep), "{rendered}");

    let link = issue(&app, &job_id, "CUSTOMER_PORTAL_VIEW").await;
    let (status, _, html) = page(&app, &path_of(&link, &app)).await;
    assert_eq!(status, 200);
    assert!(html.contains("front-before.jpg") || html.contains("Before: front elevation"));
    assert!(!html.contains("crew-damage.jpg") && !html.contains("crew note about damage"));
    assert!(!html.contains(internal_note));
    assert!(!html.contains(&sales_rep), "the sales rep is staff data");

    assert_eq!(
        app.get(&format!("/api/v1/portal/internal/jobs/{job_id}"))
            .await
            .status(),
        401,
        "the portal view needs the internal key"
    );
    assert_problem(
        app.get_internal("/api/v1/portal/internal/jobs/jobnimbus:no-such-job")
            .await,
        404,
        "job_not_found",
    )
    .await;
}
