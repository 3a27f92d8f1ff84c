//! What the rules read of a page of jobs, gathered from the mirror and the files view in
//! one query each.

use std::collections::HashMap;

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use domain::qc::{PhotoCounts, QcCategory};
use domain::JobDates;

/// One mirrored job as the rules see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobFacts {
    pub job_id: String,
    pub status: Option<String>,
    pub workflow: Option<String>,
    /// Active in the CRM, not archived there, and still listed by it.
    pub is_active: bool,
    pub status_changed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub dates: JobDates,
    /// The job's files were listed at least once (a row exists, even a removed one).
    pub files_pulled: bool,
    pub photos: PhotoCounts,
    pub documents: Vec<Document>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub file_type: Option<String>,
    pub filename: String,
    pub description: Option<String>,
}

/// Which jobs a page holds.
pub(crate) enum Selection<'a> {
    /// The next `limit` jobs in id order after `after` (every job, page by page).
    After { after: Option<&'a str>, limit: i64 },
    /// Exactly these jobs (those the mirror holds).
    Ids(&'a [String]),
}

#[derive(sqlx::FromRow)]
struct MirrorRow {
    job_id: String,
    status: Option<String>,
    workflow: Option<String>,
    is_active: bool,
    is_archived: bool,
    vanished_at: Option<DateTime<Utc>>,
    status_changed_at: Option<DateTime<Utc>>,
    remote_updated_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct FileCount {
    job_id: String,
    kind: String,
    qc_category: Option<String>,
    listed: bool,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    job_id: String,
    file_type: Option<String>,
    filename: String,
    description: Option<String>,
}

const MIRROR_COLUMNS: &str = "job_id, status, workflow, is_active, is_archived, vanished_at,
    status_changed_at, remote_updated_at, started_at, completed_at";

/// The facts of the selected jobs, in job id order. Documents are read only when
/// `with_documents` (some document requirement is configured).
pub(crate) async fn load(
    db: &Db,
    selection: Selection<'_>,
    with_documents: bool,
) -> Result<Vec<JobFacts>, StoreError> {
    let mirror: Vec<MirrorRow> = match (db, &selection) {
        (Db::Postgres(pool), Selection::After { after, limit }) => {
            sqlx::query_as(&format!(
                "select {MIRROR_COLUMNS} from job_mirror
                 where ($1::text is null or job_id > $1) order by job_id limit $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        (Db::Postgres(pool), Selection::Ids(ids)) => {
            sqlx::query_as(&format!(
                "select {MIRROR_COLUMNS} from job_mirror where job_id = any($1) order by job_id"
            ))
            .bind(*ids)
            .fetch_all(pool)
            .await?
        }
        (Db::Sqlite(pool), Selection::After { after, limit }) => {
            sqlx::query_as(&format!(
                "select {MIRROR_COLUMNS} from job_mirror
                 where (?1 is null or job_id > ?1) order by job_id limit ?2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        (Db::Sqlite(pool), Selection::Ids(ids)) => {
            sqlx::query_as(&format!(
                "select {MIRROR_COLUMNS} from job_mirror
                 where job_id in (select value from json_each(?)) order by job_id"
            ))
            .bind(serde_json::to_string(ids)?)
            .fetch_all(pool)
            .await?
        }
    };
    if mirror.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = mirror.iter().map(|row| row.job_id.clone()).collect();
    let counts = file_counts(db, &ids).await?;
    let mut documents = if with_documents {
        documents_of(db, &ids).await?
    } else {
        HashMap::new()
    };
    let mut facts: HashMap<String, JobFacts> = mirror
        .into_iter()
        .map(|row| {
            let facts = JobFacts {
                job_id: row.job_id.clone(),
                status: row.status,
                workflow: row.workflow,
                // Archived in the CRM is done with, as deleted is: no risk to flag.
                is_active: row.is_active && !row.is_archived && row.vanished_at.is_none(),
                status_changed_at: row.status_changed_at,
                updated_at: row.remote_updated_at,
                dates: JobDates {
                    started_at: row.started_at,
                    completed_at: row.completed_at,
                },
                documents: documents.remove(&row.job_id).unwrap_or_default(),
                ..JobFacts::default()
            };
            (row.job_id, facts)
        })
        .collect();
    for count in counts {
        let Some(job) = facts.get_mut(&count.job_id) else {
            continue;
        };
        job.files_pulled = true;
        if count.kind != "photo" || !count.listed {
            continue;
        }
        let category = count
            .qc_category
            .as_deref()
            .and_then(|c| c.parse::<QcCategory>().ok())
            .unwrap_or(QcCategory::Unclassified);
        for _ in 0..count.n.max(0) {
            job.photos.add(category);
        }
    }
    Ok(ids.into_iter().filter_map(|id| facts.remove(&id)).collect())
}

/// Files per job, kind, category and whether still listed: one grouped query per page.
async fn file_counts(db: &Db, ids: &[String]) -> Result<Vec<FileCount>, StoreError> {
    Ok(match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "select job_id, kind, qc_category, removed_at is null as listed, count(*) as n
                 from job_files where job_id = any($1)
                 group by job_id, kind, qc_category, removed_at is null",
            )
            .bind(ids)
            .fetch_all(pool)
            .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "select job_id, kind, qc_category, removed_at is null as listed, count(*) as n
                 from job_files where job_id in (select value from json_each(?))
                 group by job_id, kind, qc_category, removed_at is null",
            )
            .bind(serde_json::to_string(ids)?)
            .fetch_all(pool)
            .await?
        }
    })
}

async fn documents_of(
    db: &Db,
    ids: &[String],
) -> Result<HashMap<String, Vec<Document>>, StoreError> {
    let rows: Vec<DocumentRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "select job_id, file_type, filename, description from job_files
                 where job_id = any($1) and kind = 'document' and removed_at is null",
            )
            .bind(ids)
            .fetch_all(pool)
            .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "select job_id, file_type, filename, description from job_files
                 where job_id in (select value from json_each(?)) and kind = 'document'
                   and removed_at is null",
            )
            .bind(serde_json::to_string(ids)?)
            .fetch_all(pool)
            .await?
        }
    };
    let mut by_job: HashMap<String, Vec<Document>> = HashMap::new();
    for row in rows {
        by_job.entry(row.job_id).or_default().push(Document {
            file_type: row.file_type,
            filename: row.filename,
            description: row.description,
        });
    }
    Ok(by_job)
}
