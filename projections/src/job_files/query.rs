//! Reads of `job_files` for the job API: one job's photos or documents.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use domain::{FileKind, QcCategory};

/// One file the CRM lists on a job, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFileRow {
    pub job_id: String,
    pub file_id: String,
    pub kind: FileKind,
    pub filename: String,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub file_type: Option<String>,
    pub is_private: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub captured_at: Option<DateTime<Utc>>,
    /// Photos only.
    pub qc_category: Option<QcCategory>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RawRow {
    job_id: String,
    file_id: String,
    kind: String,
    filename: String,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    description: Option<String>,
    tags: String,
    file_type: Option<String>,
    is_private: bool,
    created_at: Option<DateTime<Utc>>,
    captured_at: Option<DateTime<Utc>>,
    qc_category: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// The files of `kind` the CRM currently lists on `job_id`, oldest upload first (files
/// without an upload time last), then by id so the order is stable.
pub async fn list(db: &Db, job_id: &str, kind: FileKind) -> Result<Vec<JobFileRow>, StoreError> {
    // `created_at is null` sorts the undated last on both backends, whose null orders differ.
    let sql = "select job_id, file_id, kind, filename, content_type, size_bytes, description,
            tags, file_type, is_private, created_at, captured_at, qc_category, first_seen_at,
            last_seen_at
        from job_files
        where job_id = $1 and kind = $2 and removed_at is null
        order by created_at is null, created_at, file_id";
    let raw: Vec<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(sql)
                .bind(job_id)
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(sql)
                .bind(job_id)
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }
    };
    raw.into_iter().map(JobFileRow::try_from).collect()
}

impl TryFrom<RawRow> for JobFileRow {
    type Error = StoreError;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let kind = [FileKind::Photo, FileKind::Document]
            .into_iter()
            .find(|k| k.as_str() == raw.kind)
            .ok_or_else(|| undecodable("kind", &raw.kind))?;
        let tags: Vec<String> =
            serde_json::from_str(&raw.tags).map_err(|_| undecodable("tags", &raw.tags))?;
        let qc_category = raw
            .qc_category
            .map(|text| {
                text.parse::<QcCategory>()
                    .map_err(|_| undecodable("qc_category", &text))
            })
            .transpose()?;
        Ok(JobFileRow {
            job_id: raw.job_id,
            file_id: raw.file_id,
            kind,
            filename: raw.filename,
            content_type: raw.content_type,
            size_bytes: raw.size_bytes,
            description: raw.description,
            tags,
            file_type: raw.file_type,
            is_private: raw.is_private,
            created_at: raw.created_at,
            captured_at: raw.captured_at,
            qc_category,
            first_seen_at: raw.first_seen_at,
            last_seen_at: raw.last_seen_at,
        })
    }
}

fn undecodable(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?} in job_files").into(),
    })
}
