//! The files (photos and documents) each job's CRM lists, one row per file, with the QC
//! category recorded for photos. Fed by the `Job` aggregate's file events.
//!
//! A file the CRM stops listing keeps its row with `removed_at` set: every write is then an
//! upsert or update guarded by the job's event sequence, so a replayed batch is a no-op.

pub mod query;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Job, JobEvent, JobFile, QcCategory};

use crate::{Projection, ProjectionError};

pub struct JobFiles;

pub const NAME: &str = "job_files";

#[async_trait]
impl Projection for JobFiles {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["job_files"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let writes = writes_of(events)?;
        match tx {
            DbTx::Postgres(tx) => postgres::apply(tx, &writes).await?,
            DbTx::Sqlite(tx) => sqlite::apply(tx, &writes).await?,
        }
        Ok(())
    }
}

/// One change to one file's row, in log order.
enum Write {
    /// The whole row as the file was listed (attached or changed).
    Upsert {
        job_id: String,
        file: JobFile,
        qc_category: Option<QcCategory>,
        observed_at: DateTime<Utc>,
        version: i64,
        position: i64,
    },
    Reclassify {
        job_id: String,
        file_id: String,
        to: QcCategory,
        version: i64,
        position: i64,
    },
    Remove {
        job_id: String,
        file_id: String,
        observed_at: DateTime<Utc>,
        version: i64,
        position: i64,
    },
}

/// The writes of a batch, one per file event. File events are rare next to job snapshots
/// (a job's files change a few times in its life), so they are not folded.
fn writes_of(events: &[StoredEvent]) -> Result<Vec<Write>, ProjectionError> {
    let mut writes = Vec::new();
    for stored in events.iter().filter(|e| e.aggregate_type == Job::TYPE) {
        // Skip the bulk of the log without decoding it.
        if !matches!(
            stored.event_type.as_str(),
            "JobFileAttached" | "JobFileChanged" | "JobFileRemoved" | "JobPhotoReclassified"
        ) {
            continue;
        }
        let event: JobEvent =
            serde_json::from_str(&stored.payload).map_err(|source| ProjectionError::Decode {
                event_type: stored.event_type.clone(),
                aggregate_id: stored.aggregate_id.clone(),
                source,
            })?;
        let job_id = stored.aggregate_id.clone();
        let version = stored.sequence;
        let position = stored.position.global_position;
        match event {
            JobEvent::JobFileAttached {
                file,
                qc_category,
                observed_at,
            }
            | JobEvent::JobFileChanged {
                file,
                qc_category,
                observed_at,
                ..
            } => writes.push(Write::Upsert {
                job_id,
                file,
                qc_category,
                observed_at,
                version,
                position,
            }),
            JobEvent::JobPhotoReclassified { file_id, to, .. } => writes.push(Write::Reclassify {
                job_id,
                file_id,
                to,
                version,
                position,
            }),
            JobEvent::JobFileRemoved { file, observed_at } => writes.push(Write::Remove {
                job_id,
                file_id: file.file_id,
                observed_at,
                version,
                position,
            }),
            JobEvent::JobSnapshotRecorded { .. }
            | JobEvent::JobSnapshotChanged { .. }
            | JobEvent::JobDeactivated { .. }
            | JobEvent::JobReactivated { .. }
            | JobEvent::JobVanished { .. }
            | JobEvent::JobReappeared { .. } => {}
        }
    }
    Ok(writes)
}

/// The tags as a JSON array (a `Value` renders without a fallible serializer).
fn tags_json(file: &JobFile) -> String {
    serde_json::Value::from(file.tags.clone()).to_string()
}

/// A size JobNimbus could send but a signed column cannot hold is kept as the largest one.
fn size_column(file: &JobFile) -> Option<i64> {
    file.size_bytes
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

/// The upsert, shared by both backends (placeholders differ): every listed field takes the
/// new value, `first_seen_at` keeps its own, a re-listed file is no longer removed, and the
/// version guard makes a replayed batch a no-op.
macro_rules! upsert_file {
    ($values:literal) => {
        concat!(
            "insert into job_files (job_id, file_id, kind, filename, content_type, size_bytes,
                 description, tags, file_type, is_private, created_at, captured_at, qc_category,
                 first_seen_at, last_seen_at, removed_at, version, last_position) ",
            $values,
            " on conflict (job_id, file_id) do update set
                 kind = excluded.kind, filename = excluded.filename,
                 content_type = excluded.content_type, size_bytes = excluded.size_bytes,
                 description = excluded.description, tags = excluded.tags,
                 file_type = excluded.file_type, is_private = excluded.is_private,
                 created_at = excluded.created_at, captured_at = excluded.captured_at,
                 qc_category = excluded.qc_category, last_seen_at = excluded.last_seen_at,
                 removed_at = null, version = excluded.version,
                 last_position = excluded.last_position
             where job_files.version < excluded.version"
        )
    };
}

mod postgres {
    use sqlx::{PgConnection, Postgres, Transaction};

    use super::{size_column, tags_json, Write};
    use crate::ProjectionError;

    pub(super) async fn apply(
        tx: &mut Transaction<'static, Postgres>,
        writes: &[Write],
    ) -> Result<(), ProjectionError> {
        let conn: &mut PgConnection = tx;
        for write in writes {
            match write {
                Write::Upsert {
                    job_id,
                    file,
                    qc_category,
                    observed_at,
                    version,
                    position,
                } => {
                    sqlx::query(upsert_file!(
                        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                             $14, null, $15, $16)"
                    ))
                    .bind(job_id)
                    .bind(&file.file_id)
                    .bind(file.kind.as_str())
                    .bind(&file.filename)
                    .bind(&file.content_type)
                    .bind(size_column(file))
                    .bind(&file.description)
                    .bind(tags_json(file))
                    .bind(&file.file_type)
                    .bind(file.is_private)
                    .bind(file.created_at)
                    .bind(file.captured_at)
                    .bind(qc_category.map(|c| c.as_str()))
                    .bind(observed_at)
                    .bind(version)
                    .bind(position)
                    .execute(&mut *conn)
                    .await?;
                }
                Write::Reclassify {
                    job_id,
                    file_id,
                    to,
                    version,
                    position,
                } => {
                    sqlx::query(
                        "update job_files set qc_category = $1, version = $2, last_position = $3
                         where job_id = $4 and file_id = $5 and version < $2",
                    )
                    .bind(to.as_str())
                    .bind(version)
                    .bind(position)
                    .bind(job_id)
                    .bind(file_id)
                    .execute(&mut *conn)
                    .await?;
                }
                Write::Remove {
                    job_id,
                    file_id,
                    observed_at,
                    version,
                    position,
                } => {
                    sqlx::query(
                        "update job_files set removed_at = $1, version = $2, last_position = $3
                         where job_id = $4 and file_id = $5 and version < $2",
                    )
                    .bind(observed_at)
                    .bind(version)
                    .bind(position)
                    .bind(job_id)
                    .bind(file_id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

mod sqlite {
    use sqlx::{Sqlite, SqliteConnection, Transaction};

    use super::{size_column, tags_json, Write};
    use crate::ProjectionError;

    pub(super) async fn apply(
        tx: &mut Transaction<'static, Sqlite>,
        writes: &[Write],
    ) -> Result<(), ProjectionError> {
        let conn: &mut SqliteConnection = tx;
        for write in writes {
            match write {
                Write::Upsert {
                    job_id,
                    file,
                    qc_category,
                    observed_at,
                    version,
                    position,
                } => {
                    sqlx::query(upsert_file!(
                        "values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14,
                             null, ?15, ?16)"
                    ))
                    .bind(job_id)
                    .bind(&file.file_id)
                    .bind(file.kind.as_str())
                    .bind(&file.filename)
                    .bind(&file.content_type)
                    .bind(size_column(file))
                    .bind(&file.description)
                    .bind(tags_json(file))
                    .bind(&file.file_type)
                    .bind(file.is_private)
                    .bind(file.created_at)
                    .bind(file.captured_at)
                    .bind(qc_category.map(|c| c.as_str()))
                    .bind(observed_at)
                    .bind(version)
                    .bind(position)
                    .execute(&mut *conn)
                    .await?;
                }
                Write::Reclassify {
                    job_id,
                    file_id,
                    to,
                    version,
                    position,
                } => {
                    sqlx::query(
                        "update job_files set qc_category = ?1, version = ?2, last_position = ?3
                         where job_id = ?4 and file_id = ?5 and version < ?2",
                    )
                    .bind(to.as_str())
                    .bind(version)
                    .bind(position)
                    .bind(job_id)
                    .bind(file_id)
                    .execute(&mut *conn)
                    .await?;
                }
                Write::Remove {
                    job_id,
                    file_id,
                    observed_at,
                    version,
                    position,
                } => {
                    sqlx::query(
                        "update job_files set removed_at = ?1, version = ?2, last_position = ?3
                         where job_id = ?4 and file_id = ?5 and version < ?2",
                    )
                    .bind(observed_at)
                    .bind(version)
                    .bind(position)
                    .bind(job_id)
                    .bind(file_id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}
