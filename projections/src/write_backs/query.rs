//! Reads of `write_backs` for the API: one job's write-backs of a kind, one by id, and the
//! ids of a job's write-backs for its history.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use domain::{WriteBackKind, WriteBackPayload, WriteBackState};

/// One write-back as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBackRow {
    pub write_back_id: String,
    pub job_id: String,
    pub kind: WriteBackKind,
    pub state: WriteBackState,
    pub payload: WriteBackPayload,
    pub marker: String,
    pub remote_id: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub retryable: Option<bool>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub confirmed_by_read_back: bool,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RawRow {
    write_back_id: String,
    job_id: String,
    kind: String,
    state: String,
    payload: String,
    marker: String,
    remote_id: Option<String>,
    attempts: i64,
    last_error: Option<String>,
    retryable: Option<bool>,
    next_attempt_at: Option<DateTime<Utc>>,
    confirmed_by_read_back: bool,
    requested_at: DateTime<Utc>,
    settled_at: Option<DateTime<Utc>>,
    requested_by: Option<String>,
}

const COLUMNS: &str = "write_back_id, job_id, kind, state, payload, marker, remote_id,
    attempts::bigint as attempts, last_error, retryable, next_attempt_at, confirmed_by_read_back,
    requested_at, settled_at, requested_by";

/// SQLite has no `::` casts; its integers are 64-bit already.
fn columns(db: &Db) -> String {
    match db {
        Db::Postgres(_) => COLUMNS.to_string(),
        Db::Sqlite(_) => COLUMNS.replace("attempts::bigint as attempts", "attempts"),
    }
}

/// The job's write-backs of `kind`, oldest request first.
pub async fn list(
    db: &Db,
    job_id: &str,
    kind: WriteBackKind,
) -> Result<Vec<WriteBackRow>, StoreError> {
    let sql = format!(
        "select {} from write_backs where job_id = $1 and kind = $2
         order by requested_at, write_back_id",
        columns(db)
    );
    let raw: Vec<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&sql)
                .bind(job_id)
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(&sql)
                .bind(job_id)
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }
    };
    raw.into_iter().map(WriteBackRow::try_from).collect()
}

/// One write-back by id.
pub async fn get(db: &Db, write_back_id: &str) -> Result<Option<WriteBackRow>, StoreError> {
    let sql = format!(
        "select {} from write_backs where write_back_id = $1",
        columns(db)
    );
    let raw: Option<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&sql)
                .bind(write_back_id)
                .fetch_optional(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(&sql)
                .bind(write_back_id)
                .fetch_optional(pool)
                .await?
        }
    };
    raw.map(WriteBackRow::try_from).transpose()
}

/// The ids of every write-back of the job, for its history.
pub async fn ids_of_job(db: &Db, job_id: &str) -> Result<Vec<String>, StoreError> {
    let sql = "select write_back_id from write_backs where job_id = $1";
    let rows: Vec<(String,)> = match db {
        Db::Postgres(pool) => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await?,
        Db::Sqlite(pool) => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await?,
    };
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

impl TryFrom<RawRow> for WriteBackRow {
    type Error = StoreError;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let unknown = |what: &str, value: &str| {
            StoreError::Database(sqlx::Error::Decode(
                format!("write_backs.{what} holds an unknown value {value:?}").into(),
            ))
        };
        let kind = WriteBackKind::parse(&raw.kind).ok_or_else(|| unknown("kind", &raw.kind))?;
        let state = match raw.state.as_str() {
            "pending" => WriteBackState::Pending,
            "succeeded" => WriteBackState::Succeeded,
            "failed" => WriteBackState::Failed,
            other => return Err(unknown("state", other)),
        };
        Ok(WriteBackRow {
            write_back_id: raw.write_back_id,
            job_id: raw.job_id,
            kind,
            state,
            payload: serde_json::from_str(&raw.payload)?,
            marker: raw.marker,
            remote_id: raw.remote_id,
            attempts: raw.attempts,
            last_error: raw.last_error,
            retryable: raw.retryable,
            next_attempt_at: raw.next_attempt_at,
            confirmed_by_read_back: raw.confirmed_by_read_back,
            requested_at: raw.requested_at,
            settled_at: raw.settled_at,
            requested_by: raw.requested_by,
        })
    }
}
