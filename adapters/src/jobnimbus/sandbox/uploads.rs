//! File uploads (reference §1.6): the presigned flow of the files service and the deprecated
//! base64 `POST /api1/files`.
//!
//! The presigned flow, as strict as its parts:
//! 1. `POST /files/v1/uploads/url` (Bearer key; RFC 7807 problem bodies, like the rest of the
//!    newer platform services) checks the links and the file type, reserves a jnid and answers
//!    `{"data": {"url", "jnid"}}` with a URL on the sandbox signed like an S3 presigned PUT,
//!    valid for 15 minutes of sandbox time.
//! 2. `PUT <url>` with the raw bytes and `Content-Type: application/octet-stream` (the signed
//!    header) and no `Authorization`: S3 refuses a second auth mechanism, a changed or
//!    expired signature, and another content type, each with a 403 and an XML error.
//! 3. `POST /files/v1/uploads/{jnid}/complete` turns the uploaded object into a file record;
//!    only then is it listed. Completing again answers the same (one file per jnid);
//!    completing before the bytes arrived is a 400.
//!
//! The file's content type is read from its filename's extension, as the PUT's own is the
//! signed `application/octet-stream`.

use std::collections::HashMap;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use poem::http::{header, StatusCode};
use poem::{Request, Response};
use serde_json::{json, Map, Value};

use super::account;
use super::params::{decode_query, WriteParams};
use super::server::{constant_time_eq, ok_json, read_json_object, Shared, BLOB_PREFIX};
use super::store::Author;

/// Where presigned PUTs go (the sandbox's stand-in for the S3 bucket).
pub(crate) const UPLOAD_PREFIX: &str = "/sandbox-uploads/";
/// How long a presigned URL stays valid, in sandbox seconds.
pub(crate) const URL_LIFETIME_SECS: i64 = 15 * 60;
/// Largest object a single-part upload takes (larger files need the multipart flow).
pub(crate) const MAX_SINGLE_PART_BYTES: usize = 100 * 1024 * 1024;
/// The one content type the presigned PUT is signed for.
const SIGNED_CONTENT_TYPE: &str = "application/octet-stream";
/// `X-Amz-Date`'s format.
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// An upload between its URL and its completion, and the answer once completed.
struct Pending {
    related: Vec<String>,
    file_type: (i64, &'static str),
    filename: String,
    description: String,
    is_private: bool,
    author: Author,
    bytes: Option<Vec<u8>>,
    /// The `data` of the completion answer, repeated to a client that completes again.
    completed: Option<Value>,
}

/// An uploaded file's bytes, served by the blob URL.
struct Blob {
    content_type: String,
    bytes: Vec<u8>,
}

/// Pending uploads, the bytes of finished ones, and the bucket's signing key.
pub(crate) struct Uploads {
    key: EncodingKey,
    pending: HashMap<String, Pending>,
    blobs: HashMap<String, Blob>,
}

impl Uploads {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            key: EncodingKey::from_secret(format!("sandbox-bucket-{seed:016x}").as_bytes()),
            pending: HashMap::new(),
            blobs: HashMap::new(),
        }
    }

    /// The bytes and content type of an uploaded file, if it was uploaded (generated files
    /// have none; the blob URL makes stand-in bytes for them).
    pub(crate) fn blob(&self, jnid: &str) -> Option<(String, Vec<u8>)> {
        self.blobs
            .get(jnid)
            .map(|b| (b.content_type.clone(), b.bytes.clone()))
    }

    fn signature(&self, jnid: &str, amz_date: &str, expires: i64) -> Option<String> {
        let message =
            format!("PUT\n{UPLOAD_PREFIX}{jnid}\n{SIGNED_CONTENT_TYPE}\n{amz_date}\n{expires}");
        jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, Algorithm::HS256).ok()
    }

    fn presigned_url(&self, host: &str, jnid: &str, now: i64) -> Option<String> {
        let amz_date = chrono::DateTime::from_timestamp(now, 0)?
            .format(AMZ_DATE)
            .to_string();
        let signature = self.signature(jnid, &amz_date, URL_LIFETIME_SECS)?;
        Some(format!(
            "http://{host}{UPLOAD_PREFIX}{jnid}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Date={amz_date}&X-Amz-Expires={URL_LIFETIME_SECS}\
             &X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature={signature}"
        ))
    }

    /// Checks a presigned PUT's query string: `Err` is the S3 error (code, message).
    fn check_signature(
        &self,
        jnid: &str,
        query: &str,
        now: i64,
    ) -> Result<(), (&'static str, String)> {
        let pairs = decode_query(query).map_err(|e| ("AuthorizationQueryParametersError", e))?;
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (Some(amz_date), Some(expires), Some(signature)) = (
            get("X-Amz-Date"),
            get("X-Amz-Expires"),
            get("X-Amz-Signature"),
        ) else {
            return Err((
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Date, X-Amz-Expires and \
                 X-Amz-Signature parameters"
                    .into(),
            ));
        };
        let expires: i64 = expires.parse().map_err(|_| {
            (
                "AuthorizationQueryParametersError",
                "X-Amz-Expires should be a number".to_owned(),
            )
        })?;
        let expected = self.signature(jnid, amz_date, expires).unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err((
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided."
                    .into(),
            ));
        }
        let signed_at = chrono::NaiveDateTime::parse_from_str(amz_date, AMZ_DATE)
            .map(|t| t.and_utc().timestamp())
            .map_err(|_| {
                (
                    "AuthorizationQueryParametersError",
                    "X-Amz-Date must be in the ISO8601 Long Format".to_owned(),
                )
            })?;
        if now > signed_at.saturating_add(expires) {
            return Err(("AccessDenied", "Request has expired".into()));
        }
        Ok(())
    }
}

/// `POST /files/v1/uploads/url`.
pub(crate) async fn request_url(shared: &Shared, req: &mut Request) -> Response {
    let host = host_of(req);
    let body = match read_json_object(req).await {
        Ok(body) => body,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let related = match jnid_list(&body, "related") {
        Ok(related) => related,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let file_type = match file_type_of(&body, "type") {
        Ok(file_type) => file_type,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let filename = match body.get("filename").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => return problem(StatusCode::BAD_REQUEST, "filename is required"),
    };
    let description = match optional_text(&body, "description") {
        Ok(description) => description,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let is_private = match body.get("isPrivate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return problem(StatusCode::BAD_REQUEST, "isPrivate must be a boolean"),
    };
    let params = match write_params(req) {
        Ok(params) => params,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let jnid = {
        let mut store = shared.write();
        if let Err(e) = store.check_links(&related) {
            return problem(StatusCode::BAD_REQUEST, &e.to_string());
        }
        store.reserve_jnid()
    };
    let now = shared.clock.now();
    let mut uploads = shared.uploads();
    let Some(url) = uploads.presigned_url(&host, &jnid, now) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot sign the upload URL",
        );
    };
    uploads.pending.insert(
        jnid.clone(),
        Pending {
            related,
            file_type,
            filename,
            description,
            is_private,
            author: params.author,
            bytes: None,
            completed: None,
        },
    );
    ok_json(&json!({ "data": { "url": url, "jnid": jnid } }))
}

/// `PUT /sandbox-uploads/{jnid}?X-Amz-…`: the bucket, not JobNimbus.
pub(crate) async fn put_object(shared: &Shared, req: &mut Request, jnid: &str) -> Response {
    if req.header(header::AUTHORIZATION).is_some() {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        );
    }
    let now = shared.clock.now();
    let query = req.uri().query().unwrap_or("").to_owned();
    if let Err((code, message)) = shared.uploads().check_signature(jnid, &query, now) {
        return s3_error(StatusCode::FORBIDDEN, code, &message);
    }
    let content_type = req.content_type().unwrap_or("").trim().to_ascii_lowercase();
    if content_type != SIGNED_CONTENT_TYPE {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             (content-type is a signed header)",
        );
    }
    let bytes = match req
        .take_body()
        .into_bytes_limit(MAX_SINGLE_PART_BYTES)
        .await
    {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            )
        }
    };
    let mut uploads = shared.uploads();
    let Some(pending) = uploads.pending.get_mut(jnid) else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist",
        );
    };
    if pending.completed.is_some() {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "The upload is complete; request a new URL to upload again",
        );
    }
    pending.bytes = Some(bytes);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, format!("\"{jnid}\""))
        .finish()
}

/// `POST /files/v1/uploads/{jnid}/complete[?generateThumbnail=true]`.
pub(crate) fn complete(shared: &Shared, req: &Request, jnid: &str) -> Response {
    let params = match write_params(req) {
        Ok(params) => params,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let thumbnail = decode_query(req.uri().query().unwrap_or(""))
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| k == "generateThumbnail" && v.eq_ignore_ascii_case("true"));
    let host = host_of(req);
    let mut uploads = shared.uploads();
    let Some(pending) = uploads.pending.get_mut(jnid) else {
        return problem(StatusCode::NOT_FOUND, &format!("upload {jnid} not found"));
    };
    if let Some(answer) = &pending.completed {
        return ok_json(&json!({ "data": answer }));
    }
    let Some(bytes) = pending.bytes.take() else {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("no object was uploaded for {jnid}; PUT the bytes to the upload URL first"),
        );
    };
    let content_type = content_type_for(&pending.filename).to_owned();
    let mut file = Map::new();
    file.insert("filename".into(), json!(pending.filename));
    file.insert("content_type".into(), json!(content_type));
    file.insert("size".into(), json!(bytes.len()));
    file.insert("description".into(), json!(pending.description));
    file.insert("record_type".into(), json!(pending.file_type.0));
    file.insert("record_type_name".into(), json!(pending.file_type.1));
    file.insert("is_private".into(), json!(pending.is_private));
    let (related, author) = (pending.related.clone(), pending.author);
    let now = shared.clock.now();
    let created = shared.apply(params.skip_automation, |store| {
        store.add_file(jnid, file, &related, now, author)
    });
    if let Err(e) = created {
        // The object stays uploaded: completing again may work once the links are fixed.
        pending.bytes = Some(bytes);
        return problem(StatusCode::BAD_REQUEST, &e.to_string());
    }
    let thumbnail_url = (thumbnail && content_type.starts_with("image/"))
        .then(|| format!("http://{host}{BLOB_PREFIX}{jnid}?thumbnail=true"));
    let answer = json!({ "jnid": jnid, "thumbnailUrl": thumbnail_url });
    pending.completed = Some(answer.clone());
    uploads.blobs.insert(
        jnid.to_owned(),
        Blob {
            content_type,
            bytes,
        },
    );
    ok_json(&json!({ "data": answer }))
}

/// The deprecated `POST /api1/files`: `{data: <base64>, filename, description?, type: <int>,
/// related: [jnid], subtype?, is_private?, persist?, date?}`. The file exists at once.
/// `Err` is the message of a 400.
pub(crate) fn legacy_upload(
    shared: &Shared,
    body: &Map<String, Value>,
    params: &WriteParams,
) -> Result<Value, String> {
    let data = body
        .get("data")
        .and_then(Value::as_str)
        .ok_or("data is required (the file's bytes, base64)")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("data is not valid base64: {e}"))?;
    if bytes.len() > MAX_SINGLE_PART_BYTES {
        return Err("data is larger than 100 MB".into());
    }
    let filename = match body.get("filename").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => return Err("filename is required".into()),
    };
    let file_type = file_type_of(body, "type")?;
    let related = jnid_list(body, "related")?;
    let description = optional_text(body, "description")?;
    let is_private = match body.get("is_private") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("is_private must be a boolean".into()),
    };
    let content_type = content_type_for(&filename).to_owned();
    let mut file = Map::new();
    file.insert("filename".into(), json!(filename));
    file.insert("content_type".into(), json!(content_type));
    file.insert("size".into(), json!(bytes.len()));
    file.insert("description".into(), json!(description));
    file.insert("record_type".into(), json!(file_type.0));
    file.insert("record_type_name".into(), json!(file_type.1));
    file.insert("is_private".into(), json!(is_private));
    if let Some(date) = body.get("date").filter(|d| !d.is_null()) {
        let date = date
            .as_i64()
            .ok_or("date must be unix seconds (an integer)")?;
        file.insert("date_file_created".into(), json!(date));
    }
    let now = shared.clock.now();
    let jnid = shared.write().reserve_jnid();
    let file = shared
        .apply(params.skip_automation, |store| {
            store.add_file(&jnid, file, &related, now, params.author)
        })
        .map_err(|e| e.to_string())?;
    shared.uploads().blobs.insert(
        jnid,
        Blob {
            content_type,
            bytes,
        },
    );
    Ok(Value::Object(file))
}

/// The content type JobNimbus would store for `filename`.
fn content_type_for(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// `related`: a non-empty list of jnids (strings, not the `{id}` links other writes take).
fn jnid_list(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let Some(Value::Array(items)) = body.get(key) else {
        return Err(format!("{key} is required: an array of record jnids"));
    };
    if items.is_empty() {
        return Err(format!("{key} must name at least one record"));
    }
    items
        .iter()
        .map(|item| match item.as_str().map(str::trim) {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            _ => Err(format!("{key} must hold jnids (strings), got {item}")),
        })
        .collect()
}

fn file_type_of(body: &Map<String, Value>, key: &str) -> Result<(i64, &'static str), String> {
    let id = body
        .get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{key} is required: a file type id (1 Document, 2 Photo, …)"))?;
    account::file_type(id)
        .map(|name| (id, name))
        .ok_or_else(|| format!("{key} {id} is not a file type of this account"))
}

fn optional_text(body: &Map<String, Value>, key: &str) -> Result<String, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn write_params(req: &Request) -> Result<WriteParams, String> {
    decode_query(req.uri().query().unwrap_or("")).and_then(|pairs| WriteParams::parse(&pairs))
}

fn host_of(req: &Request) -> String {
    req.header(header::HOST).unwrap_or("127.0.0.1").to_owned()
}

/// The newer platform services answer errors as RFC 7807 problem details.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}

/// S3's XML error body.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/xml")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;

    fn signed_query(uploads: &Uploads, jnid: &str, now: i64) -> String {
        let url = uploads.presigned_url("h", jnid, now).unwrap();
        url.split_once('?').unwrap().1.to_owned()
    }

    #[test]
    fn a_presigned_url_is_valid_for_fifteen_minutes_for_its_own_upload_only() {
        let uploads = Uploads::new(1);
        let query = signed_query(&uploads, "f1", NOW);
        assert_eq!(uploads.check_signature("f1", &query, NOW), Ok(()));
        assert_eq!(uploads.check_signature("f1", &query, NOW + 900), Ok(()));
        let expired = uploads
            .check_signature("f1", &query, NOW + 901)
            .unwrap_err();
        assert_eq!(expired.0, "AccessDenied");
        let other = uploads.check_signature("f2", &query, NOW).unwrap_err();
        assert_eq!(other.0, "SignatureDoesNotMatch");
    }

    #[test]
    fn a_tampered_query_no_longer_matches_its_signature() {
        let uploads = Uploads::new(1);
        let query = signed_query(&uploads, "f1", NOW);
        let longer = query.replace("X-Amz-Expires=900", "X-Amz-Expires=90000");
        let later = query.replace("X-Amz-Date=20260101T000000Z", "X-Amz-Date=20260102T000000Z");
        assert_ne!(later, query, "the test must change the date");
        for tampered in [longer, later, format!("{query}x")] {
            let err = uploads.check_signature("f1", &tampered, NOW).unwrap_err();
            assert_eq!(err.0, "SignatureDoesNotMatch", "{tampered}");
        }
        let unsigned = uploads.check_signature("f1", "X-Amz-Date=20260101T000000Z", NOW);
        assert_eq!(unsigned.unwrap_err().0, "AccessDenied");
        let stranger = signed_query(&Uploads::new(2), "f1", NOW);
        assert!(uploads.check_signature("f1", &stranger, NOW).is_err());
    }

    #[test]
    fn content_types_follow_the_filename_extension() {
        for (name, expected) in [
            ("IMG_0001.JPG", "image/jpeg"),
            ("roof.png", "image/png"),
            ("Estimate 2231.pdf", "application/pdf"),
            ("notes", "application/octet-stream"),
        ] {
            assert_eq!(content_type_for(name), expected, "{name}");
        }
    }
}
