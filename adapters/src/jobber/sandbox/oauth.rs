//! The authorisation server (reference §2.1): the consent redirect and the token endpoint,
//! with Jobber's response shapes (no `expires_in`, `expires_at` only on refresh) and its
//! refresh-token rotation.

use std::collections::HashMap;

use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Form, Query};
use poem::{FromRequest, Request, RequestBody, Response};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::config::RedirectUris;
use super::faults::FaultTarget;
use super::jwt::Claims;
use super::server::{has_content_type, html_error, json, Shared};
use super::state::{Consent, Grantee, State};

const INVALID_GRANT: &str = "The provided authorization grant is invalid, expired, revoked, \
     does not match the redirection URI used in the authorization request, or was issued to \
     another client.";
const INVALID_REFRESH: &str = "The provided refresh token is not valid.";
const INVALID_CLIENT: &str = "Client authentication failed due to unknown client, no client \
     authentication included, or unsupported authentication method.";
const ROTATION_OFF_WARNING: &str = "Refresh token rotation is off. Jobber requires it for \
     apps published in the App Marketplace; turn it on in the Developer Center.";

/// `GET /api/oauth/authorize`: as if the signed-in user had seen the consent screen.
pub(crate) async fn authorize(shared: &Shared, req: &Request) -> Response {
    let params = match Query::<HashMap<String, String>>::from_request_without_body(req).await {
        Ok(Query(params)) => params,
        Err(_) => HashMap::new(),
    };
    let mut state = shared.state();
    let client_ok = params.get("client_id") == Some(&shared.config.client_id);
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|uri| redirect_allowed(&shared.config.redirect_uris, uri));
    // A real provider never redirects to an unverified URI: it shows an error page instead.
    let (true, Some(redirect_uri)) = (client_ok, redirect_uri) else {
        state.stats.authorizations_rejected += 1;
        let reason = if client_ok {
            "The redirect uri included is not valid."
        } else {
            INVALID_CLIENT
        };
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<html><body><h1>An error has occurred</h1><p>{reason}</p></body></html>"
            ));
    };
    let state_param = params.get("state").map(String::as_str);
    if params.get("response_type").map(String::as_str) != Some("code") {
        state.stats.authorizations_rejected += 1;
        return redirect(
            redirect_uri,
            &[
                ("error", Some("unsupported_response_type")),
                ("state", state_param),
            ],
        );
    }
    if state.consent == Consent::Deny {
        state.stats.authorizations_denied += 1;
        return redirect(redirect_uri, &[]);
    }
    let code = state.issue_code(&shared.config.client_id, redirect_uri, shared.clock.now());
    state.stats.authorizations_granted += 1;
    redirect(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    )
}

/// `POST /api/oauth/token`: the code exchange and the refresh.
pub(crate) async fn token(shared: &Shared, mut req: Request) -> Response {
    {
        let mut state = shared.state();
        state.stats.token_requests += 1;
        if let Some(status) = state.faults.take(FaultTarget::Token) {
            state.stats.injected_token_failures += 1;
            return injected_failure(status);
        }
    }
    if !has_content_type(&req, "application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body must be application/x-www-form-urlencoded.",
        );
    }
    let mut body = RequestBody::new(req.take_body());
    let form = match Form::<HashMap<String, String>>::from_request(&req, &mut body).await {
        Ok(Form(form)) => form,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body is not a valid form.",
            )
        }
    };
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let Some(grant_type) = field("grant_type") else {
        return missing("grant_type");
    };
    let mut state = shared.state();
    if !client_authenticated(shared, field("client_id"), field("client_secret")) {
        state.stats.client_auth_failures += 1;
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    }
    let client_id = shared.config.client_id.as_str();
    let now = shared.clock.now();
    match grant_type {
        "authorization_code" => {
            let (Some(code), Some(redirect_uri)) = (field("code"), field("redirect_uri")) else {
                state.stats.code_exchanges_rejected += 1;
                return missing("code and redirect_uri");
            };
            let Some(grantee) = state.redeem_code(code, client_id, redirect_uri, now) else {
                state.stats.code_exchanges_rejected += 1;
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT);
            };
            let Some(access) = mint_access_token(shared, &mut state, grantee, now) else {
                return html_error(StatusCode::INTERNAL_SERVER_ERROR);
            };
            let refresh = state.issue_refresh_token(client_id, grantee);
            state.stats.code_exchanges += 1;
            token_response(json!({ "access_token": access, "refresh_token": refresh }))
        }
        "refresh_token" => {
            let Some(presented) = field("refresh_token") else {
                state.stats.refreshes_rejected += 1;
                return missing("refresh_token");
            };
            let Some(grantee) = state.redeem_refresh_token(presented, client_id) else {
                state.stats.refreshes_rejected += 1;
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_REFRESH);
            };
            let Some(access) = mint_access_token(shared, &mut state, grantee, now) else {
                return html_error(StatusCode::INTERNAL_SERVER_ERROR);
            };
            let expires_at = expires_at(shared, now);
            let mut body = Map::new();
            body.insert("access_token".into(), access.into());
            if state.rotation {
                let refresh = state.issue_refresh_token(client_id, grantee);
                body.insert("refresh_token".into(), refresh.into());
            } else {
                body.insert("refresh_token".into(), presented.into());
                body.insert("warning".into(), ROTATION_OFF_WARNING.into());
            }
            body.insert("expires_at".into(), expires_at.into());
            state.stats.refreshes_succeeded += 1;
            token_response(Value::Object(body))
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
    }
}

fn client_authenticated(shared: &Shared, id: Option<&str>, secret: Option<&str>) -> bool {
    let (Some(id), Some(secret)) = (id, secret) else {
        return false;
    };
    let expected = shared.config.client_secret.expose_secret().as_bytes();
    let secret_ok: bool = secret.as_bytes().ct_eq(expected).into();
    id == shared.config.client_id && secret_ok
}

/// Signs an access token for the grantee and remembers it, so a disconnect can kill it.
fn mint_access_token(
    shared: &Shared,
    state: &mut State,
    grantee: Grantee,
    now: i64,
) -> Option<String> {
    let ttl = i64::try_from(shared.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = Claims {
        exp: now.saturating_add(ttl),
        iat: now,
        app_id: shared.config.app_id.clone(),
        user_id: grantee.user_id,
        account_id: grantee.account_id,
    };
    match shared.signer.sign(&claims) {
        Ok(token) => {
            state.record_access_token(&token, grantee.account_id);
            Some(token)
        }
        Err(e) => {
            tracing::error!(error = %e, "sandbox Jobber cannot sign an access token");
            None
        }
    }
}

/// The new access token's expiry, as Jobber writes it: `2024-04-09 21:04:31 UTC`.
fn expires_at(shared: &Shared, now: i64) -> String {
    let ttl = i64::try_from(shared.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(now.saturating_add(ttl), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn redirect_allowed(allowed: &RedirectUris, uri: &str) -> bool {
    match allowed {
        RedirectUris::Exact(uris) => uris.iter().any(|u| u == uri),
        RedirectUris::AnyLoopback => {
            let Ok(parsed) = uri.parse::<poem::http::Uri>() else {
                return false;
            };
            !uri.contains('#')
                && parsed.scheme_str() == Some("http")
                && matches!(
                    parsed.host(),
                    Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
                )
        }
    }
}

/// `302` to `base` with the given parameters appended (those that are `None` are left out).
fn redirect(base: &str, params: &[(&str, Option<&str>)]) -> Response {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    let location = if query.is_empty() {
        base.to_owned()
    } else {
        let joiner = if base.contains('?') { '&' } else { '?' };
        format!("{base}{joiner}{}", query.join("&"))
    };
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn token_response(body: Value) -> Response {
    let mut response = json(StatusCode::OK, &body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn missing(what: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!("The request is missing a required parameter: {what}."),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

/// 400 and 401 look like the server refusing the grant or the client; anything else like
/// something in front of it, or the app itself, failing.
fn injected_failure(status: u16) -> Response {
    match StatusCode::from_u16(status) {
        Ok(StatusCode::BAD_REQUEST) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_REFRESH)
        }
        Ok(StatusCode::UNAUTHORIZED) => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT)
        }
        Ok(other) => html_error(other),
        Err(_) => html_error(StatusCode::INTERNAL_SERVER_ERROR),
    }
}
