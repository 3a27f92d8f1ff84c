//! `POST /api/graphql` (reference §2.2, §2.3, §2.7): JSON only, a bearer token checked
//! against the sandbox clock and disconnects, the version header, the query-cost bucket, and
//! `extensions.cost` / `extensions.versioning` on every answer the GraphQL engine gives.
//!
//! Chosen where the reference is silent: a missing or malformed `X-JOBBER-GRAPHQL-VERSION` is a
//! 400 with a GraphQL `errors[]` body; a body that is not `application/json` is a 415; token
//! problems are 401 with `{"message": …}` (the shape Jobber documents for a disconnected app)
//! and `WWW-Authenticate: Bearer error="invalid_token"`; `THROTTLED` comes back as a 200.

use base64::Engine as _;
use poem::http::{header, StatusCode};
use poem::{Request, Response};
use serde_json::{json, Map, Value};

use super::faults::FaultTarget;
use super::jwt::Claims;
use super::query::{self, Field, Kind};
use super::server::{has_content_type, html_error, json, Shared};
use super::state::{AccessStatus, MAX_AVAILABLE, RESTORE_RATE};

pub(crate) const VERSION_HEADER: &str = "X-JOBBER-GRAPHQL-VERSION";
const DISCONNECTED: &str =
    "User has disconnected this app from their account. Please delete this token";
const THROTTLE_DOCS: &str =
    "https://developer.getjobber.com/docs/using_jobbers_api/api_rate_limits";

pub(crate) async fn serve(shared: &Shared, mut req: Request) -> Response {
    {
        let mut state = shared.state();
        state.stats.graphql_requests += 1;
        if let Some(status) = state.faults.take(FaultTarget::Graphql) {
            state.stats.injected_graphql_failures += 1;
            return injected_failure(status);
        }
    }
    if !has_content_type(&req, "application/json") {
        return errors_only(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let claims = match authenticate(shared, &req) {
        Ok(claims) => claims,
        Err(message) => {
            shared.state().stats.graphql_unauthorized += 1;
            let mut response = json(StatusCode::UNAUTHORIZED, &json!({ "message": message }));
            if let Ok(value) = "Bearer error=\"invalid_token\"".parse() {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            return response;
        }
    };
    let Some(versioning) = versioning(shared, req.header(VERSION_HEADER)) else {
        return errors_only(
            StatusCode::BAD_REQUEST,
            &format!("The {VERSION_HEADER} header is required, as a date like 2025-04-16"),
        );
    };
    let body = match req.take_body().into_bytes().await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).ok(),
        Err(_) => None,
    };
    let Some(body) = body else {
        return errors_only(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
        );
    };
    let Some(source) = body.get("query").and_then(Value::as_str) else {
        return answer(
            shared,
            &claims,
            versioning,
            Err(vec!["No query string was present".into()]),
        );
    };
    let operation = query::parse(source).map_err(|e| vec![e]).and_then(|op| {
        let errors = query::validate(&op);
        if errors.is_empty() {
            Ok(op)
        } else {
            Err(errors)
        }
    });
    answer(shared, &claims, versioning, operation)
}

/// Charges and runs a valid operation, or reports why it cannot run; `extensions` either way.
fn answer(
    shared: &Shared,
    claims: &Claims,
    versioning: Value,
    operation: Result<query::Operation, Vec<String>>,
) -> Response {
    let now = shared.clock.now();
    let mut state = shared.state();
    let operation = match operation {
        Ok(operation) => operation,
        Err(messages) => {
            let available = state.charge(claims.account_id, 0, now).unwrap_or_default();
            let errors: Vec<Value> = messages.iter().map(|m| json!({ "message": m })).collect();
            let extensions = extensions(0, 0, available, versioning);
            return json(
                StatusCode::OK,
                &json!({ "errors": errors, "extensions": extensions }),
            );
        }
    };
    let requested = query::cost(&operation.fields);
    let available = match state.charge(claims.account_id, requested, now) {
        Ok(available) => available,
        Err(available) => {
            state.stats.throttled += 1;
            let error = json!({
                "message": "Throttled",
                "extensions": { "code": "THROTTLED", "documentation": THROTTLE_DOCS },
            });
            let extensions = extensions(requested, 0, available, versioning);
            return json(
                StatusCode::OK,
                &json!({ "errors": [error], "extensions": extensions }),
            );
        }
    };
    // appDisconnect is the only mutation the schema has: validation let nothing else through.
    if operation.kind == Kind::Mutation {
        state.disconnect(claims.account_id);
    }
    drop(state);
    let data = resolve(
        shared,
        claims,
        operation.kind.root_type(),
        &operation.fields,
    );
    let extensions = extensions(requested, requested, available, versioning);
    json(
        StatusCode::OK,
        &json!({ "data": data, "extensions": extensions }),
    )
}

/// The bearer token's claims, or the 401 message.
fn authenticate(shared: &Shared, req: &Request) -> Result<Claims, &'static str> {
    let token = req
        .header(header::AUTHORIZATION)
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or("Unauthorized: no bearer access token")?;
    let claims = shared
        .signer
        .verify(token)
        .ok_or("Unauthorized: the access token is invalid")?;
    match shared.state().access_status(token) {
        AccessStatus::Live => {}
        AccessStatus::Disconnected => return Err(DISCONNECTED),
        AccessStatus::Unknown => return Err("Unauthorized: the access token is invalid"),
    }
    if claims.exp <= shared.clock.now() {
        return Err("Unauthorized: the access token has expired");
    }
    Ok(claims)
}

/// `extensions.versioning` for the requested version, or `None` when the header is missing or
/// not a date. Versions the sandbox does not serve get the oldest one, as Jobber upgrades
/// removed versions silently, and a warning saying so.
fn versioning(shared: &Shared, requested: Option<&str>) -> Option<Value> {
    let requested = requested?.trim();
    chrono::NaiveDate::parse_from_str(requested, "%Y-%m-%d").ok()?;
    let versions = &shared.config.versions;
    let (version, warning) = match versions.iter().find(|v| v.name == requested) {
        Some(v) if v.sunsetting => (
            v.name.clone(),
            Some(format!(
                "Version {} will lose support within three months; move to a newer version",
                v.name
            )),
        ),
        Some(v) => (v.name.clone(), None),
        None => {
            let oldest = versions.first().map(|v| v.name.clone()).unwrap_or_default();
            let warning = format!(
                "Version {requested} is not supported; this request was served by {oldest}"
            );
            (oldest, Some(warning))
        }
    };
    Some(json!({ "version": version, "warning": warning }))
}

fn extensions(requested: u32, actual: u32, available: u32, versioning: Value) -> Value {
    json!({
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": MAX_AVAILABLE,
                "currentlyAvailable": available,
                "restoreRate": RESTORE_RATE,
            },
        },
        "versioning": versioning,
    })
}

/// The selection over one object of the sandbox's schema (already validated).
fn resolve(shared: &Shared, claims: &Claims, ty: &str, fields: &[Field]) -> Value {
    let config = &shared.config;
    let mut out = Map::new();
    for field in fields {
        let value = match (ty, field.name.as_str()) {
            (_, "__typename") => Value::from(ty),
            ("Query", "account") => resolve(shared, claims, "Account", &field.selection),
            ("Account", "id") => encoded_id("Account", claims.account_id).into(),
            ("Account", "name") => config
                .accounts
                .iter()
                .find(|a| a.id == claims.account_id)
                .map(|a| Value::from(a.name.as_str()))
                .unwrap_or(Value::Null),
            ("Mutation", "appDisconnect") => {
                resolve(shared, claims, "AppDisconnectPayload", &field.selection)
            }
            ("AppDisconnectPayload", "app") => {
                resolve(shared, claims, "Application", &field.selection)
            }
            ("AppDisconnectPayload", "userErrors") => Value::Array(Vec::new()),
            ("Application", "name") => config.app_name.as_str().into(),
            ("Application", "author") => config.app_author.as_str().into(),
            _ => Value::Null,
        };
        out.insert(field.key().to_owned(), value);
    }
    Value::Object(out)
}

/// Reference §2.5: base64 of `gid://Jobber/<Type>/<n>`.
pub(crate) fn encoded_id(ty: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("gid://Jobber/{ty}/{id}"))
}

fn errors_only(status: StatusCode, message: &str) -> Response {
    json(status, &json!({ "errors": [{ "message": message }] }))
}

/// 401 looks like a token the API stopped accepting, 503 like Jobber's documented backend
/// trouble, 429 like the request cap; anything else like a gateway page.
fn injected_failure(status: u16) -> Response {
    match StatusCode::from_u16(status) {
        Ok(StatusCode::UNAUTHORIZED) => json(
            StatusCode::UNAUTHORIZED,
            &json!({ "message": "Unauthorized: the access token is invalid" }),
        ),
        Ok(StatusCode::SERVICE_UNAVAILABLE) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "message": "Service temporarily unavailable" }),
        ),
        Ok(StatusCode::TOO_MANY_REQUESTS) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .content_type("text/plain; charset=utf-8")
            .body("Retry later\n"),
        Ok(other) => html_error(other),
        Err(_) => html_error(StatusCode::INTERNAL_SERVER_ERROR),
    }
}
