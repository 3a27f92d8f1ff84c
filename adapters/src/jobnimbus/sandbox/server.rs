//! The HTTP surface: faults first (they happen "in front of" the API), then auth, routing,
//! and JobNimbus-shaped responses. Faults that strike after a write (a lost answer, a 5xx
//! from a gateway whose backend finished) let the request through and replace its answer.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, Request, Response};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::account;
use super::faults::{Faults, Outcome};
use super::net::KillSwitches;
use super::params::{decode_query, ListParams, WriteParams};
use super::record::Record;
use super::store::Store;
use super::uploads::{self, Uploads, UPLOAD_PREFIX};
use super::webhooks::Webhooks;
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
///
/// Lock order, where two are held: `uploads` before `store`.
pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) store: RwLock<Store>,
    pub(crate) uploads: Mutex<Uploads>,
    pub(crate) faults: Faults,
    pub(crate) clock: Clock,
    pub(crate) kills: KillSwitches,
    pub(crate) webhooks: Webhooks,
}

impl Shared {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// For changes that are not record writes (reserving ids, picking records); record
    /// writes go through [`Shared::apply`] so their webhooks fire.
    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a write on the store, then hands the records it created or saved to the
    /// automation (after the lock is released; delivery happens in the background).
    pub(crate) fn apply<T>(&self, skip_automation: bool, write: impl FnOnce(&mut Store) -> T) -> T {
        let (result, changes) = {
            let mut store = self.write();
            let result = write(&mut store);
            (result, store.take_changes())
        };
        self.webhooks.announce(&changes, skip_automation);
        result
    }

    pub(crate) fn uploads(&self) -> MutexGuard<'_, Uploads> {
        self.uploads.lock().unwrap_or_else(PoisonError::into_inner)
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
        let is_write = !matches!(*req.method(), Method::GET | Method::HEAD);
        let plan = self.shared.faults.plan(is_write);
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let peer = req.remote_addr().clone();
        match plan.outcome {
            Outcome::Drop => return Ok(self.drop_connection(&peer)),
            Outcome::RateLimited { retry_after } => {
                let mut response = Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .content_type("text/plain; charset=utf-8");
                if let Some(seconds) = retry_after {
                    response = response.header(header::RETRY_AFTER, seconds.to_string());
                }
                return Ok(response.body("Too Many Requests"));
            }
            Outcome::ServerError {
                code,
                after_write: false,
            } => return Ok(server_error(code)),
            Outcome::Pass | Outcome::ServerError { .. } | Outcome::DropAfterWrite => {}
        }
        let response = self.route(&mut req, plan.churn).await;
        Ok(match plan.outcome {
            // The write went through; its answer does not.
            Outcome::ServerError { code, .. } => server_error(code),
            Outcome::DropAfterWrite => self.drop_connection(&peer),
            _ => response,
        })
    }
}

impl SandboxEndpoint {
    /// Marks the connection for closing; the response returned is never written.
    fn drop_connection(&self, peer: &poem::web::RemoteAddr) -> Response {
        if !self.shared.kills.kill(peer) {
            tracing::warn!("sandbox fault: cannot find the connection to drop");
        }
        Response::builder().status(StatusCode::OK).finish()
    }

    async fn route(&self, req: &mut Request, churn: Option<(usize, usize)>) -> Response {
        let path = req.uri().path().to_owned();
        if let Some(jnid) = path.strip_prefix(BLOB_PREFIX) {
            return self.blob(req, jnid);
        }
        if let Some(jnid) = path.strip_prefix(UPLOAD_PREFIX) {
            return match *req.method() {
                Method::PUT => uploads::put_object(&self.shared, req, jnid).await,
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            };
        }
        if let Some(rest) = path.strip_prefix("/files/v1/") {
            return self.files_service(req, rest).await;
        }
        let Some(rest) = path.strip_prefix("/api1/") else {
            return error(StatusCode::NOT_FOUND, "Not found");
        };
        if !self.authorised(req) {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .content_type("text/plain; charset=utf-8")
                .body("Authentication required");
        }
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or("").to_owned();
        match (segments.as_slice(), &method) {
            (["account", "settings"], &Method::GET) => ok_json(&account::settings()),
            ([name], m) => match Resource::from_path(name) {
                None => error(StatusCode::NOT_FOUND, "Not found"),
                Some(resource) if m == Method::GET => self.list(resource, &query, churn),
                Some(resource) if m == Method::POST => {
                    let (body, params) = match read_write(req, &query).await {
                        Ok(read) => read,
                        Err(response) => return response,
                    };
                    if resource == Resource::Files {
                        return match uploads::legacy_upload(&self.shared, &body, &params) {
                            Ok(file) => ok_json(&file),
                            Err(message) => error(StatusCode::BAD_REQUEST, &message),
                        };
                    }
                    self.create(resource, &body, &params)
                }
                Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            },
            ([name, jnid], m) => match Resource::from_path(name) {
                None => error(StatusCode::NOT_FOUND, "Not found"),
                Some(resource) if m == Method::GET => self.get(req, resource, jnid),
                Some(resource) if m == Method::PUT => {
                    let (body, params) = match read_write(req, &query).await {
                        Ok(read) => read,
                        Err(response) => return response,
                    };
                    self.update(resource, jnid, &body, &params)
                }
                Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            },
            _ => error(StatusCode::NOT_FOUND, "Not found"),
        }
    }

    /// `/files/v1/…`: the newer files service, same key, problem-details errors.
    async fn files_service(&self, req: &mut Request, rest: &str) -> Response {
        if !self.authorised(req) {
            return uploads::problem(StatusCode::UNAUTHORIZED, "Authentication required");
        }
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (segments.as_slice(), req.method() == Method::POST) {
            (["uploads", "url"], true) => uploads::request_url(&self.shared, req).await,
            (["uploads", jnid, "complete"], true) => {
                let jnid = (*jnid).to_owned();
                uploads::complete(&self.shared, req, &jnid)
            }
            (["uploads", ..], false) => {
                uploads::problem(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
            }
            _ => uploads::problem(StatusCode::NOT_FOUND, "Not found"),
        }
    }

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
            let changed = self
                .shared
                .apply(false, |store| store.churn(resource, edits, inserts, now));
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

    fn update(
        &self,
        resource: Resource,
        jnid: &str,
        body: &Map<String, Value>,
        params: &WriteParams,
    ) -> Response {
        let now = self.shared.clock.now();
        let result = self.shared.apply(params.skip_automation, |store| {
            store.update(resource, jnid, body, now)
        });
        write_result(result)
    }

    fn create(
        &self,
        resource: Resource,
        body: &Map<String, Value>,
        params: &WriteParams,
    ) -> Response {
        let now = self.shared.clock.now();
        let result = self.shared.apply(params.skip_automation, |store| {
            store.create(resource, body, now, params.author)
        });
        write_result(result)
    }

    /// Stand-in file bytes: the right magic number for the type, then filler, `size` long.
    fn blob(&self, req: &Request, jnid: &str) -> Response {
        if req.method() != Method::GET {
            return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        }
        if let Some((content_type, bytes)) = self.shared.uploads().blob(jnid) {
            return Response::builder()
                .status(StatusCode::OK)
                .content_type(content_type)
                .body(bytes);
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

/// The body and query parameters of an `/api1` write, or the 400 refusing them.
async fn read_write(
    req: &mut Request,
    query: &str,
) -> Result<(Map<String, Value>, WriteParams), Response> {
    let params = decode_query(query)
        .and_then(|pairs| WriteParams::parse(&pairs))
        .map_err(|message| error(StatusCode::BAD_REQUEST, &message))?;
    let body = read_json_object(req)
        .await
        .map_err(|message| error(StatusCode::BAD_REQUEST, &message))?;
    Ok((body, params))
}

/// The body of a write: must be a JSON object. `Err` is the message of the 400.
pub(crate) async fn read_json_object(req: &mut Request) -> Result<Map<String, Value>, String> {
    let bytes = req
        .take_body()
        .into_bytes()
        .await
        .map_err(|e| format!("cannot read body: {e}"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("body must be a JSON object".into()),
        Err(e) => Err(format!("body is not valid JSON: {e}")),
    }
}

pub(crate) fn ok_json(value: &impl serde::Serialize) -> Response {
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

/// A 5xx: the application's own JSON for a 500, a gateway's HTML page otherwise.
fn server_error(code: StatusCode) -> Response {
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        error(code, "An unexpected error occurred")
    } else {
        gateway_page(code)
    }
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

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
