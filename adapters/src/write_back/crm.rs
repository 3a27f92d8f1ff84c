//! What each kind of write-back sends to JobNimbus, and how it is found again: the note,
//! task or file carrying the write's marker, or the job in the requested status.

use crate::jobnimbus::{
    ClientError, JobNimbusClient, NewAttachment, NewNote, NewTask, PulledJob, WriteMarker,
};
use crate::store::Db;
use domain::WriteBackPayload;

use super::uploads;

/// Sends the write; answers the CRM id of what it created (the job's for a status).
pub(super) async fn send(
    client: &JobNimbusClient,
    db: &Db,
    id: &str,
    job: &str,
    payload: &WriteBackPayload,
    marker: &WriteMarker,
) -> Result<(String, Option<PulledJob>), ClientError> {
    match payload {
        WriteBackPayload::Note { text, contact_id } => {
            let note = NewNote {
                text: text.clone(),
                marker: marker.clone(),
                contact_jnid: contact_id.clone(),
            };
            Ok((client.create_note(job, &note).await?.jnid, None))
        }
        WriteBackPayload::Task {
            title,
            description,
            due,
            task_type,
        } => {
            let task = NewTask {
                title: title.clone(),
                description: description.clone(),
                due: *due,
                task_type: task_type.clone(),
                marker: marker.clone(),
            };
            Ok((client.create_task(job, &task).await?.jnid, None))
        }
        WriteBackPayload::Status { status_name } => {
            let saved = client.update_job_status(job, status_name).await?;
            Ok((saved.jnid.clone(), Some(saved)))
        }
        WriteBackPayload::Attachment {
            filename,
            content_type,
            description,
            ..
        } => {
            let bytes = uploads::get(db, id)
                .await
                .map_err(|e| {
                    ClientError::InvalidRequest(format!("the upload's bytes cannot be read: {e}"))
                })?
                .ok_or_else(|| ClientError::InvalidRequest("the upload's bytes are gone".into()))?;
            let upload = NewAttachment {
                filename: filename.clone(),
                content_type: content_type.clone(),
                bytes,
                description: description.clone(),
                file_type: None,
                is_private: false,
                marker: marker.clone(),
            };
            Ok((client.upload_attachment(job, &upload).await?.jnid, None))
        }
    }
}

/// Whether the CRM holds the write: the record carrying the marker (notes, tasks, files),
/// or the job in the requested status.
pub(super) async fn read_back(
    client: &JobNimbusClient,
    job: &str,
    payload: &WriteBackPayload,
    marker: &WriteMarker,
) -> Result<Option<(String, Option<PulledJob>)>, ClientError> {
    Ok(match payload {
        WriteBackPayload::Note { .. } => client
            .find_note_by_marker(job, marker)
            .await?
            .map(|r| (r.jnid, None)),
        WriteBackPayload::Task { .. } => client
            .find_task_by_marker(job, marker)
            .await?
            .map(|r| (r.jnid, None)),
        WriteBackPayload::Status { status_name } => client
            .fetch_job_by_id(job)
            .await?
            .filter(|pulled| pulled.snapshot.status.as_deref() == Some(status_name.as_str()))
            .map(|pulled| (pulled.jnid.clone(), Some(pulled))),
        WriteBackPayload::Attachment { .. } => client
            .find_attachment_by_marker(job, marker)
            .await?
            .map(|f| (f.jnid, None)),
    })
}

/// Failures that may go away: throttling, gateways, timeouts, a lost answer, a 5xx.
/// Refusals (4xx, a bad request, a wrong key) do not.
pub(super) fn is_transient(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::RetriesExhausted { .. }
            | ClientError::Ambiguous { .. }
            | ClientError::Server { .. }
    )
}
