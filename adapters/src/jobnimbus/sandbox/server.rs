//! The HTTP surface: faults first (they happen "in front of" the API), then auth, routing,
//! and JobNimbus-shaped responses.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, Request, Response};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::account;
use super::faults::{Faults, Outcome};
use super::net::KillSwitches;
use super::params::{decode_query, ListParams};
use super::record::Record;
use super::store::Store;
use super::{Resource, SandboxError};

/// Where `GET /api1/files/{jnid}` redirects to for the bytes (like a presigned S3 URL, it
/// needs no auth header).
pub(crate) const BLOB_PREFIX: &str = "/sandbox-blobs/";

/// The sandbox's clock: real time plus a test-controlled offset, never before the anchor.
pub(crate) struct Clock {
    anchor: i64,
    offset: AtomicI64,
}

impl Clock {
    pub(crate) fn new(anchor: i64) -> Self {
        Self {
            anchor,
            offset: AtomicI64::new(0),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        let real = chrono::Utc::now().timestamp();
        real.saturating_add(self.offset.load(Ordering::SeqCst))
            .max(self.anchor)
    }

    pub(crate) fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

/// Everything the endpoint and the test handle share.
pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) store: RwLock<Store>,
    pub(crate) faults: Faults,
    pub(crate) clock: Clock,
    pub(crate) kills: KillSwitches,
}

impl Shared {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One endpoint for the whole API: routing by hand keeps every error body in the JobNimbus
/// shape instead of poem's defaults.
pub(crate) struct SandboxEndpoint {
    pub(crate) shared: Arc<Shared>,
}

impl Endpoint for SandboxEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let plan = self.shared.faults.plan();
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        match plan.outcome {
            Outcome::Pass => {}
            Outcome::Drop => {
                if !self.shared.kills.kill(req.remote_addr()) {
                    tracing::warn!("sandbox fault: cannot find the connection to drop");
                }
                // Never written: the stream fails the first write and hyper closes it.
                return Ok(Response::builder().status(StatusCode::OK).finish());
            }
            Outcome::RateLimited { retry_after } => {
                let mut response = Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .content_type("text/plain; charset=utf-8");
                if let Some(seconds) = retry_after {
                    response = response.header(header::RETRY_AFTER, seconds.to_string());
                }
                return Ok(response.body("Too Many Requests"));
            }
            Outcome::ServerError(code) => return Ok(gateway_page(code)),
        }

        let path = req.uri().path().to_owned();
        if let Some(jnid) = path.strip_prefix(BLOB_PREFIX) {
            return Ok(self.blob(&req, jnid));
        }
        let Some(rest) = path.strip_prefix("/api1/") else {
            return Ok(error(StatusCode::NOT_FOUND, "Not found"));
        };
        if !self.authorised(&req) {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .content_type("text/plain; charset=utf-8")
                .body("Authentication required"));
        }
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let method = req.method().clone();
        let response = match (segments.as_slice(), &method) {
            (["account", "settings"], &Method::GET) => ok_json(&account::settings()),
            ([name], m) => match Resource::from_path(name) {
                None => error(StatusCode::NOT_FOUND, "Not found"),
                Some(resource) if m == Method::GET => {
                    self.list(resource, req.uri().query().unwrap_or(""), plan.churn)
                }
                Some(resource) if m == Method::POST => {
                    let body = read_object(&mut req).await;
                    match body {
                        Ok(body) => self.create(resource, &body),
                        Err(response) => response,
                    }
                }
                Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            },
            ([name, jnid], m) => match Resource::from_path(name) {
                None => error(StatusCode::NOT_FOUND, "Not found"),
                Some(resource) if m == Method::GET => self.get(&req, resource, jnid),
                Some(resource) if m == Method::PUT => {
                    let body = read_object(&mut req).await;
                    match body {
                        Ok(body) => self.update(resource, jnid, &body),
                        Err(response) => response,
                    }
                }
                Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            },
            _ => error(StatusCode::NOT_FOUND, "Not found"),
        };
        Ok(response)
    }
}

impl SandboxEndpoint {
    /// `Authorization: Bearer <key>`, scheme case-insensitive, key compared in constant time.
    fn authorised(&self, req: &Request) -> bool {
        let Some(value) = req.header(header::AUTHORIZATION) else {
            return false;
        };
        let Some((scheme, key)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(key.trim().as_bytes(), self.shared.api_key.as_bytes())
    }

    fn list(&self, resource: Resource, query: &str, churn: Option<(usize, usize)>) -> Response {
        let params = match decode_query(query).and_then(|pairs| ListParams::parse(&pairs)) {
            Ok(params) => params,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        };
        if let Some((edits, inserts)) = churn {
            let now = self.shared.clock.now();
            let changed = self.shared.write().churn(resource, edits, inserts, now);
            self.shared.faults.record_churn(changed);
        }
        let page = self.shared.read().list(resource, &params);
        // A generated record serialises to at most about 1.2 KB: sized up front, a
        // 1,000-record page is not copied through ten reallocations on its way to 1 MB.
        let capacity = 64 + page.results.len() * 1_280;
        ok_json_sized(
            &Envelope {
                count: page.count,
                key: resource.envelope_key(),
                records: &page.results,
            },
            capacity,
        )
    }

    fn get(&self, req: &Request, resource: Resource, jnid: &str) -> Response {
        let store = self.shared.read();
        let Some(record) = store.get(resource, jnid) else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("{} not found", resource.record_type()),
            );
        };
        if resource == Resource::Files {
            // The real API answers a file GET with a redirect to the bytes.
            let host = req.header(header::HOST).unwrap_or("127.0.0.1");
            let location = format!("http://{host}{BLOB_PREFIX}{jnid}");
            return Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, location)
                .finish();
        }
        ok_json(&record)
    }

    fn update(&self, resource: Resource, jnid: &str, body: &Map<String, Value>) -> Response {
        let now = self.shared.clock.now();
        let result = self.shared.write().update(resource, jnid, body, now);
        write_result(result)
    }

    fn create(&self, resource: Resource, body: &Map<String, Value>) -> Response {
        let now = self.shared.clock.now();
        let result = self.shared.write().create(resource, body, now);
        write_result(result)
    }

    /// Stand-in file bytes: the right magic number for the type, then filler, `size` long.
    fn blob(&self, req: &Request, jnid: &str) -> Response {
        if req.method() != Method::GET {
            return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        }
        let store = self.shared.read();
        let Some(file) = store.get(Resource::Files, jnid) else {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("application/xml")
                .body("<Error><Code>NoSuchKey</Code></Error>");
        };
        let content_type = file.text("content_type").to_owned();
        let size = file.int("size").unwrap_or(0).clamp(0, 64 << 20) as usize;
        let magic: &[u8] = match content_type.as_str() {
            "image/jpeg" => &[0xFF, 0xD8, 0xFF, 0xE0],
            "image/png" => b"\x89PNG\r\n\x1a\n",
            "application/pdf" => b"%PDF-1.4\n",
            _ => b"",
        };
        let mut bytes = Vec::with_capacity(size.max(magic.len()));
        bytes.extend_from_slice(magic);
        bytes.resize(size.max(magic.len()), b'.');
        Response::builder()
            .status(StatusCode::OK)
            .content_type(content_type)
            .body(bytes)
    }
}

/// A list response: `count` and the records under the resource's key, keys sorted as
/// `serde_json::Map` sorts them (`activity` comes before `count`), so the bytes are what a
/// `Value` envelope produced.
struct Envelope<'a> {
    count: usize,
    key: &'static str,
    records: &'a [Record],
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        if self.key < "count" {
            map.serialize_entry(self.key, self.records)?;
            map.serialize_entry("count", &self.count)?;
        } else {
            map.serialize_entry("count", &self.count)?;
            map.serialize_entry(self.key, self.records)?;
        }
        map.end()
    }
}

fn write_result(result: Result<Map<String, Value>, SandboxError>) -> Response {
    match result {
        Ok(record) => ok_json(&Value::Object(record)),
        Err(SandboxError::NotFound { resource, .. }) => error(
            StatusCode::NOT_FOUND,
            &format!("{} not found", resource.record_type()),
        ),
        Err(SandboxError::NotAllowed(message)) => error(StatusCode::METHOD_NOT_ALLOWED, &message),
        Err(other) => error(StatusCode::BAD_REQUEST, &other.to_string()),
    }
}

/// The body of a write: must be a JSON object.
async fn read_object(req: &mut Request) -> Result<Map<String, Value>, Response> {
    let bytes = req
        .take_body()
        .into_bytes()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(StatusCode::BAD_REQUEST, "body must be a JSON object")),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("body is not valid JSON: {e}"),
        )),
    }
}

fn ok_json(value: &impl serde::Serialize) -> Response {
    ok_json_sized(value, 128)
}

fn ok_json_sized(value: &impl serde::Serialize, capacity: usize) -> Response {
    let mut bytes = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut bytes, value) {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json; charset=utf-8")
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "sandbox cannot serialise a response");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .finish()
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": message }).to_string();
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body)
}

/// What a load balancer in front of the API sends: HTML, not JSON.
fn gateway_page(code: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Error")
    );
    Response::builder()
        .status(code)
        .content_type("text/html")
        .body(format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_envelope_serialises_like_the_value_it_replaces() {
        let records: Vec<Record> = [
            json!({"jnid": "a", "n": 1, "x": 2.5, "l": [null, true, "é\"\n"], "o": {"z": 1, "a": {}}}),
            json!({"jnid": "b"}),
        ]
        .iter()
        .map(|v| Record::from_map(v.as_object().unwrap()))
        .collect();
        for key in ["results", "files", "activity"] {
            for page in [&records[..], &[]] {
                let envelope = Envelope {
                    count: 7,
                    key,
                    records: page,
                };
                let values: Vec<Value> = page.iter().map(Record::to_value).collect();
                let expected = json!({ "count": 7, key: values });
                assert_eq!(
                    serde_json::to_string(&envelope).unwrap(),
                    expected.to_string(),
                    "{key}"
                );
            }
        }
    }
}
