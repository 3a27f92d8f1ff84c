//! Write-backs to JobNimbus (the seed's "Push": `createNote`, `createTask`, `updateJobStatus`,
//! `uploadAttachment`), exactly once, and what was written to each job.
//!
//! `POST` records the intent, tries the write once, and answers 201 when JobNimbus holds it
//! or 202 while it is pending (retried in the background). With an `Idempotency-Key`, the
//! same request again answers that write's current state instead of writing twice.

mod dto;
mod history;
mod input;

pub use history::JobHistoryApi;

use std::collections::HashMap;

use adapters::write_back::{RequestError, WriteBacks, WriteRequest};
use chrono::Utc;
use domain::{CrmSource, JobId, WriteBackKind, WriteBackPayload, WriteBackState};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use projections::job_mirror::query as mirror;
use projections::write_backs::query as write_backs;

use self::dto::{
    AttachmentForm, NoteRequest, StatusRequest, TaskRequest, WriteBackDto, WriteBackListDto,
};
use self::input::{
    bounded_text, checked_key, contact_jnid, too_large, unprocessable, MAX_TEXT_CHARS,
    MAX_TITLE_CHARS, MAX_UPLOAD_BYTES,
};
use crate::auth::InternalApiKey;
use crate::{ApiError, AppState};

#[derive(Tags)]
enum WriteBackTags {
    /// Notes, tasks, status changes and files written to JobNimbus, exactly once
    WriteBacks,
}

pub struct WriteBacksApi;

#[derive(ApiResponse)]
enum WriteResponse {
    /// JobNimbus holds the write (`remoteId`). `Idempotent-Replayed: true` when an earlier
    /// request with this `Idempotency-Key` made it.
    #[oai(status = 201)]
    Created(
        Json<WriteBackDto>,
        #[oai(header = "Idempotent-Replayed")] bool,
    ),
    /// Recorded, not yet settled: JobNimbus failed transiently or its answer was lost. It is
    /// retried in the background (`nextAttemptAt`), after reading the job back when the
    /// answer was lost; repeat the request with the same `Idempotency-Key` to see where it
    /// stands.
    #[oai(status = 202)]
    Accepted(
        Json<WriteBackDto>,
        #[oai(header = "Idempotent-Replayed")] bool,
    ),
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<WriteBackListDto>),
}

#[OpenApi(prefix_path = "/api/v1/jobs", tag = "WriteBackTags::WriteBacks")]
impl WriteBacksApi {
    /// Adds a note to the job in JobNimbus (the seed's `createNote`).
    ///
    /// 404 `job_not_found` when the job is not mirrored; 422 `idempotency_key_reused` when
    /// the `Idempotency-Key` was used for another request; 422 `crm_rejected` when JobNimbus
    /// refused the note; 502 `write_back_failed` when every attempt failed and none applied;
    /// 503 `jobnimbus_not_configured`.
    #[oai(path = "/:id/notes", method = "post", operation_id = "create_job_note")]
    async fn create_note(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        /// `jobnimbus:<jnid>` or the bare jnid.
        id: Path<String>,
        /// Makes retries safe: the same key with the same body answers the same write
        /// (kept at least 24 h); with another body, 422.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// Who asks, kept in the events' metadata.
        #[oai(name = "x-caller")]
        caller: Header<Option<String>>,
        body: Json<NoteRequest>,
    ) -> Result<WriteResponse, ApiError> {
        let text = bounded_text("text", &body.text, MAX_TEXT_CHARS)?
            .ok_or_else(|| ApiError::bad_request("invalid_text", "text must not be blank"))?;
        let contact_id = body.contact_id.as_deref().map(contact_jnid).transpose()?;
        let payload = WriteBackPayload::Note { text, contact_id };
        submit(&state, &id.0, idempotency_key.0, caller.0, payload, None).await
    }

    /// The notes written to the job, oldest first, each with its state.
    #[oai(path = "/:id/notes", method = "get", operation_id = "list_job_notes")]
    async fn list_notes(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<ListResponse, ApiError> {
        list(&state, &id.0, WriteBackKind::Note).await
    }

    /// Creates a task on the job in JobNimbus (the seed's `createTask`). Errors as for notes.
    #[oai(path = "/:id/tasks", method = "post", operation_id = "create_job_task")]
    async fn create_task(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        #[oai(name = "x-caller")] caller: Header<Option<String>>,
        body: Json<TaskRequest>,
    ) -> Result<WriteResponse, ApiError> {
        let title = bounded_text("title", &body.title, MAX_TITLE_CHARS)?
            .ok_or_else(|| ApiError::bad_request("invalid_title", "title must not be blank"))?;
        let description = match &body.description {
            Some(text) => bounded_text("description", text, MAX_TEXT_CHARS)?,
            None => None,
        };
        let write_backs = configured(&state)?;
        let task_type = match &body.task_type {
            Some(t) => bounded_text("taskType", t, MAX_TITLE_CHARS)?,
            None => None,
        }
        .unwrap_or_else(|| write_backs.settings().task_type.clone());
        let payload = WriteBackPayload::Task {
            title,
            description,
            due: body.due_date,
            task_type,
        };
        submit(&state, &id.0, idempotency_key.0, caller.0, payload, None).await
    }

    /// The tasks written to the job, oldest first.
    #[oai(path = "/:id/tasks", method = "get", operation_id = "list_job_tasks")]
    async fn list_tasks(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<ListResponse, ApiError> {
        list(&state, &id.0, WriteBackKind::Task).await
    }

    /// Moves the job to another status of its workflow in JobNimbus (the seed's
    /// `updateJobStatus`). 422 `unknown_status` naming the workflow's statuses when the
    /// status is not one of them; 502 `jobnimbus_unavailable` when the workflows cannot be
    /// read; otherwise errors as for notes.
    #[oai(
        path = "/:id/status",
        method = "post",
        operation_id = "update_job_status"
    )]
    async fn update_status(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        #[oai(name = "x-caller")] caller: Header<Option<String>>,
        body: Json<StatusRequest>,
    ) -> Result<WriteResponse, ApiError> {
        let status = bounded_text("status", &body.status, MAX_TITLE_CHARS)?
            .ok_or_else(|| ApiError::bad_request("invalid_status", "status must not be blank"))?;
        let write_backs = configured(&state)?;
        let (_, job) = mirrored_job(&state, &id.0).await?;
        let workflows = write_backs
            .client()
            .fetch_job_workflows()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot read the JobNimbus workflows");
                ApiError::bad_gateway(
                    "jobnimbus_unavailable",
                    "cannot read the account's workflows from JobNimbus; try again later",
                )
            })?;
        let workflow_name = job.workflow.clone().unwrap_or_default();
        let Some(workflow) = workflows.iter().find(|w| w.name == workflow_name) else {
            return Err(unprocessable(
                "unknown_workflow",
                format!("the job's workflow {workflow_name:?} is not an active job workflow of the account"),
            ));
        };
        if !workflow.has_status(&status) {
            return Err(unprocessable(
                "unknown_status",
                format!(
                    "{status:?} is not a status of the workflow {:?}; valid statuses: {}",
                    workflow.name,
                    workflow
                        .statuses
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let payload = WriteBackPayload::Status {
            status_name: status,
        };
        submit(&state, &id.0, idempotency_key.0, caller.0, payload, None).await
    }

    /// The status changes written to the job, oldest first.
    #[oai(
        path = "/:id/status",
        method = "get",
        operation_id = "list_job_status_changes"
    )]
    async fn list_status(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<ListResponse, ApiError> {
        list(&state, &id.0, WriteBackKind::Status).await
    }

    /// Uploads a file to the job in JobNimbus (the seed's `uploadAttachment`), through the
    /// presigned three-step flow. 422 `file_too_large` over 20 MiB, 400 `invalid_file`
    /// without a filename; otherwise errors as for notes.
    #[oai(
        path = "/:id/attachments",
        method = "post",
        operation_id = "upload_job_attachment"
    )]
    async fn upload_attachment(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        #[oai(name = "x-caller")] caller: Header<Option<String>>,
        form: AttachmentForm,
    ) -> Result<WriteResponse, ApiError> {
        let filename = form
            .file
            .file_name()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty() && name.chars().count() <= MAX_TITLE_CHARS)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_file",
                    "the file part needs a filename (1 to 500 characters)",
                )
            })?;
        let content_type = form
            .file
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        if form.file.size() > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        let description = match &form.description {
            Some(text) => bounded_text("description", text, MAX_TEXT_CHARS)?,
            None => None,
        };
        let bytes = form.file.into_vec().await.map_err(|e| {
            ApiError::bad_request("invalid_file", format!("cannot read the file: {e}"))
        })?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        if bytes.is_empty() {
            return Err(ApiError::bad_request("invalid_file", "the file is empty"));
        }
        let payload = WriteBackPayload::Attachment {
            filename,
            content_type,
            size_bytes: bytes.len() as u64,
            sha256: adapters::write_back::sha256_hex(&bytes),
            description,
        };
        submit(
            &state,
            &id.0,
            idempotency_key.0,
            caller.0,
            payload,
            Some(bytes),
        )
        .await
    }

    /// The files uploaded to the job, oldest first.
    #[oai(
        path = "/:id/attachments",
        method = "get",
        operation_id = "list_job_attachments"
    )]
    async fn list_attachments(
        &self,
        state: Data<&AppState>,
        _auth: InternalApiKey,
        id: Path<String>,
    ) -> Result<ListResponse, ApiError> {
        list(&state, &id.0, WriteBackKind::Attachment).await
    }
}

/// Records and attempts one write, then answers from the read model.
async fn submit(
    state: &AppState,
    raw_job_id: &str,
    idempotency_key: Option<String>,
    caller: Option<String>,
    payload: WriteBackPayload,
    upload: Option<Vec<u8>>,
) -> Result<WriteResponse, ApiError> {
    let write_backs = configured(state)?;
    let idempotency_key = idempotency_key.map(checked_key).transpose()?;
    let caller = crate::caller::caller_of(caller)?;
    let (job_id, _) = mirrored_job(state, raw_job_id).await?;
    if job_id.source() != CrmSource::JobNimbus {
        return Err(unprocessable(
            "write_back_unsupported",
            format!("{job_id} is not a JobNimbus job: only JobNimbus takes write-backs"),
        ));
    }
    let metadata = HashMap::from([
        ("actor".to_string(), "api".to_string()),
        ("caller".to_string(), caller),
        ("request_id".to_string(), uuid::Uuid::new_v4().to_string()),
    ]);
    // On a task of its own: poem drops the handler when the caller hangs up, and an attempt
    // cut between sending and recording would leave the write waiting for its lease to end.
    let service = write_backs.clone();
    let request = WriteRequest {
        job_id,
        payload,
        idempotency_key,
        upload,
        metadata,
    };
    let requested = tokio::spawn(async move { service.request(request, Utc::now()).await })
        .await
        .map_err(|join| ApiError::internal(&join))?
        .map_err(|error| match error {
            RequestError::KeyReused => unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request (another job, kind or \
                 body); use a new key for a new write",
            ),
            other => ApiError::internal(&other),
        })?;
    state
        .wait_for_read_models(requested.position, "a write-back")
        .await;
    let row = write_backs::get(&state.db, &requested.write_back_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::unavailable(
                "read_model_lagging",
                "the write-back is recorded but not yet listed; repeat the request with the \
                 same Idempotency-Key to see where it stands",
            )
        })?;
    let replayed = requested.replayed;
    match row.state {
        WriteBackState::Succeeded => Ok(WriteResponse::Created(Json(row.into()), replayed)),
        WriteBackState::Pending => Ok(WriteResponse::Accepted(Json(row.into()), replayed)),
        WriteBackState::Failed => {
            let reason = row.last_error.clone().unwrap_or_default();
            Err(if row.retryable == Some(false) {
                unprocessable(
                    "crm_rejected",
                    format!(
                        "JobNimbus refused write-back {}: {reason}",
                        row.write_back_id
                    ),
                )
            } else {
                ApiError::bad_gateway(
                    "write_back_failed",
                    format!("write-back {} failed: {reason}", row.write_back_id),
                )
            })
        }
    }
}

async fn list(
    state: &AppState,
    raw_job_id: &str,
    kind: WriteBackKind,
) -> Result<ListResponse, ApiError> {
    let (job_id, _) = mirrored_job(state, raw_job_id).await?;
    let rows = write_backs::list(&state.db, job_id.as_str(), kind)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(ListResponse::Ok(Json(WriteBackListDto {
        job_id: job_id.to_string(),
        items: rows.into_iter().map(WriteBackDto::from).collect(),
    })))
}

fn configured(state: &AppState) -> Result<&WriteBacks, ApiError> {
    state.write_backs.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "jobnimbus_not_configured",
            "JOBNIMBUS_API_KEY is not set: there is no JobNimbus to write to",
        )
    })
}

/// Our id (`jobnimbus:<jnid>`) or a bare jnid, of a job the mirror holds (and that the last
/// complete scan still listed).
pub(crate) async fn mirrored_job(
    state: &AppState,
    raw: &str,
) -> Result<(JobId, mirror::JobRow), ApiError> {
    let parsed = if raw.contains(':') {
        raw.parse::<JobId>()
    } else {
        JobId::jobnimbus(raw)
    };
    let job_id = parsed.map_err(|e| ApiError::bad_request("invalid_job_id", e.to_string()))?;
    let row = mirror::get(&state.db, job_id.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .filter(|row| row.vanished_at.is_none())
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no mirrored job {job_id}")))?;
    Ok((job_id, row))
}
