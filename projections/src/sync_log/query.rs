//! Reads of the sync log for the API: runs newest started first, paged by limit and offset,
//! and the latest run.

use std::collections::HashMap;

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use domain::{
    CrmSource, RecordFailure, SyncMode, SyncOutcome, SyncResource, SyncStatus, SyncTrigger,
};
use sqlx::Row;

/// A page request of the sync log, validated: `limit` 1 to 200, `offset` at least 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    limit: i64,
    offset: i64,
}

impl Pagination {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    pub fn new(limit: i64, offset: i64) -> Result<Self, InvalidPagination> {
        if (1..=Self::MAX_LIMIT).contains(&limit) && offset >= 0 {
            Ok(Self { limit, offset })
        } else {
            Err(InvalidPagination { limit, offset })
        }
    }

    pub fn limit(self) -> i64 {
        self.limit
    }

    pub fn offset(self) -> i64 {
        self.offset
    }
}

impl Default for Pagination {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// A page request outside the bounds `Pagination` allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "limit must be between 1 and {max} and offset at least 0 (got limit {limit}, offset {offset})",
    max = Pagination::MAX_LIMIT
)]
pub struct InvalidPagination {
    pub limit: i64,
    pub offset: i64,
}

/// One sync run as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRunRow {
    pub run_id: String,
    pub source: CrmSource,
    pub resource: SyncResource,
    pub mode: SyncMode,
    pub trigger: SyncTrigger,
    /// Running until the run ends, then success, partial or failed.
    pub status: SyncStatus,
    pub updated_since: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pages: u32,
    /// So far while running; the whole run's once it ended.
    pub outcome: SyncOutcome,
    /// Why a failed run stopped.
    pub error_message: Option<String>,
    /// The run's first failures (at most `MAX_ERRORS_PER_RUN`), in the order recorded.
    pub errors: Vec<RecordFailure>,
}

/// A page of the log and how many runs it holds in all.
#[derive(Debug, Clone)]
pub struct SyncLogPage {
    pub rows: Vec<SyncRunRow>,
    /// Counted by its own statement, so a run that starts meanwhile may be in one and not
    /// the other.
    pub total: u64,
}

const COLUMNS: &str = "run_id, source, resource, mode, triggered_by, status, updated_since,
    started_at, finished_at, pages, fetched, created, updated, unchanged, failed, vanished,
    error_message";

/// Newest started first; `run_id` breaks ties so that offsets page through a stable order.
const NEWEST_FIRST: &str = "order by started_at desc, run_id desc";

/// One page of runs, newest started first.
pub async fn list(db: &Db, page: Pagination) -> Result<SyncLogPage, StoreError> {
    let total: i64 = db.scalar("select count(*) from sync_runs").await?;
    let sql = format!("select {COLUMNS} from sync_runs {NEWEST_FIRST} limit $1 offset $2");
    let runs = fetch_runs(db, &sql, &[page.limit, page.offset], &[]).await?;
    Ok(SyncLogPage {
        rows: with_errors(db, runs).await?,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// The most recently started run, of one resource or of any.
pub async fn latest(
    db: &Db,
    resource: Option<SyncResource>,
) -> Result<Option<SyncRunRow>, StoreError> {
    let runs = match resource {
        Some(resource) => {
            let sql = format!(
                "select {COLUMNS} from sync_runs where resource = $1 {NEWEST_FIRST} limit 1"
            );
            fetch_runs(db, &sql, &[], &[resource.as_str()]).await?
        }
        None => {
            let sql = format!("select {COLUMNS} from sync_runs {NEWEST_FIRST} limit 1");
            fetch_runs(db, &sql, &[], &[]).await?
        }
    };
    Ok(with_errors(db, runs).await?.into_iter().next())
}

/// Fills in each run's kept failures, with one query for the whole page.
async fn with_errors(db: &Db, mut runs: Vec<SyncRunRow>) -> Result<Vec<SyncRunRow>, StoreError> {
    if runs.is_empty() {
        return Ok(runs);
    }
    let placeholders: Vec<String> = (1..=runs.len()).map(|n| format!("${n}")).collect();
    // At most 200 runs of at most 100 errors each: small enough to read in one go.
    let sql = format!(
        "select run_id, external_id, reason from sync_run_errors
         where run_id in ({}) order by run_id, ordinal",
        placeholders.join(", ")
    );
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let rows: Vec<(String, Option<String>, String)> = match db {
        Db::Postgres(pool) => {
            let mut query = sqlx::query_as(&sql);
            for id in &ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        }
        Db::Sqlite(pool) => {
            let mut query = sqlx::query_as(&sql);
            for id in &ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        }
    };
    let mut by_run: HashMap<String, Vec<RecordFailure>> = HashMap::new();
    for (run_id, external_id, reason) in rows {
        by_run.entry(run_id).or_default().push(RecordFailure {
            external_id,
            reason,
        });
    }
    for run in &mut runs {
        run.errors = by_run.remove(&run.run_id).unwrap_or_default();
    }
    Ok(runs)
}

/// Runs `sql`, binding `ints` then `texts` in that order.
async fn fetch_runs(
    db: &Db,
    sql: &str,
    ints: &[i64],
    texts: &[&str],
) -> Result<Vec<SyncRunRow>, StoreError> {
    macro_rules! bind_all {
        ($query:expr) => {{
            let mut query = $query;
            for value in ints {
                query = query.bind(*value);
            }
            for value in texts {
                query = query.bind(*value);
            }
            query
        }};
    }
    let rows = match db {
        Db::Postgres(pool) => bind_all!(sqlx::query(sql))
            .fetch_all(pool)
            .await?
            .iter()
            .map(run_row)
            .collect::<Result<_, sqlx::Error>>()?,
        Db::Sqlite(pool) => bind_all!(sqlx::query(sql))
            .fetch_all(pool)
            .await?
            .iter()
            .map(run_row)
            .collect::<Result<_, sqlx::Error>>()?,
    };
    Ok(rows)
}

fn run_row<'r, R>(r: &'r R) -> Result<SyncRunRow, sqlx::Error>
where
    R: Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |column: &'static str| -> Result<String, sqlx::Error> { r.try_get(column) };
    let number = |column: &'static str| -> Result<u64, sqlx::Error> {
        let value: i64 = r.try_get(column)?;
        u64::try_from(value).map_err(|e| decode_error(column, e))
    };
    let pages: i64 = r.try_get("pages")?;
    Ok(SyncRunRow {
        run_id: text("run_id")?,
        source: parse(
            "source",
            &text("source")?,
            &[CrmSource::JobNimbus, CrmSource::Jobber],
            CrmSource::as_str,
        )?,
        resource: parse(
            "resource",
            &text("resource")?,
            &[SyncResource::Jobs, SyncResource::Contacts],
            SyncResource::as_str,
        )?,
        mode: parse(
            "mode",
            &text("mode")?,
            &[SyncMode::Full, SyncMode::Incremental, SyncMode::Reconcile],
            SyncMode::as_str,
        )?,
        trigger: parse(
            "triggered_by",
            &text("triggered_by")?,
            &[
                SyncTrigger::Manual,
                SyncTrigger::Scheduled,
                SyncTrigger::Import,
            ],
            SyncTrigger::as_str,
        )?,
        status: parse(
            "status",
            &text("status")?,
            &[
                SyncStatus::Pending,
                SyncStatus::Running,
                SyncStatus::Success,
                SyncStatus::Partial,
                SyncStatus::Failed,
            ],
            SyncStatus::as_str,
        )?,
        updated_since: r.try_get("updated_since")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        pages: u32::try_from(pages).map_err(|e| decode_error("pages", e))?,
        outcome: SyncOutcome {
            fetched: number("fetched")?,
            created: number("created")?,
            updated: number("updated")?,
            unchanged: number("unchanged")?,
            failed: number("failed")?,
            vanished: number("vanished")?,
        },
        error_message: r.try_get("error_message")?,
        errors: Vec::new(),
    })
}

/// The variant of `all` whose stored name is `stored`. The projection writes these names
/// with the same `as_str`, so a miss means a variant is missing from `all`.
fn parse<T: Copy>(
    column: &str,
    stored: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, sqlx::Error> {
    all.iter()
        .copied()
        .find(|v| name(*v) == stored)
        .ok_or_else(|| decode_error(column, UnknownValue(stored.to_string())))
}

#[derive(Debug, thiserror::Error)]
#[error("unknown value {0:?}")]
struct UnknownValue(String);

fn decode_error(
    column: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_takes_limits_of_1_to_200_and_offsets_from_0() {
        for (limit, offset, ok) in [
            (1, 0, true),
            (200, 0, true),
            (50, 1_000_000, true),
            (0, 0, false),
            (201, 0, false),
            (-1, 0, false),
            (50, -1, false),
        ] {
            assert_eq!(
                Pagination::new(limit, offset).is_ok(),
                ok,
                "limit {limit}, offset {offset}"
            );
        }
        assert_eq!(Pagination::default().limit(), 50);
    }
}
