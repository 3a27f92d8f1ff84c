//! Reads of the job mirror for the API: filters, sorting and keyset pagination.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};

use crate::mirror_query::{self, ListFilter, Table};
pub use crate::mirror_query::{MirrorSort as JobSort, SortKey};

/// Where the previous page ended: its last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub key: SortKey,
    pub job_id: String,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<String>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of name, customer name, address line 1 or city.
    pub text: Option<String>,
    /// Also list jobs the CRM soft-deleted.
    pub include_inactive: bool,
    pub sort: JobSort,
    pub limit: u32,
    pub after: Option<After>,
}

/// One mirrored job as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRow {
    pub job_id: String,
    pub source: String,
    pub external_id: String,
    pub number: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub status: Option<String>,
    pub workflow: Option<String>,
    pub customer_name: Option<String>,
    pub contact_external_id: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub sales_rep_name: Option<String>,
    pub remote_created_at: Option<DateTime<Utc>>,
    pub remote_updated_at: Option<DateTime<Utc>>,
    pub status_changed_at: Option<DateTime<Utc>>,
    /// When the work started / was completed, per the CRM.
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    /// Archived in the CRM (JobNimbus `is_archived`).
    pub is_archived: bool,
    /// Set while the last complete scan of the CRM did not list the job.
    pub vanished_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub version: i64,
}

impl JobRow {
    /// This row's position in `sort`, for the next page's `After`.
    pub fn sort_key(&self, sort: JobSort) -> SortKey {
        SortKey::of(
            sort,
            self.remote_updated_at.unwrap_or(self.first_seen_at),
            &self.name,
        )
    }
}

/// A page of jobs and where the next one starts (None on the last page).
#[derive(Debug, Clone)]
pub struct JobPage {
    pub rows: Vec<JobRow>,
    pub next: Option<After>,
}

const TABLE: Table = Table {
    name: "job_mirror",
    columns: "job_id, source, external_id, number, name, description, status, workflow,
        customer_name, contact_external_id, address_line1, address_line2, city, state, zip,
        country, sales_rep_name, remote_created_at, remote_updated_at, status_changed_at,
        started_at, completed_at, is_active, is_archived, vanished_at, first_seen_at,
        last_seen_at, version",
    id_column: "job_id",
    name_column: "name",
    searched: &["name", "customer_name", "address_line1", "city"],
    // A vanished job is as gone as a soft-deleted one for a default listing.
    listed_by_default: "is_active = true and vanished_at is null",
};

/// One page of jobs matching `query`, in its order, after `query.after`.
pub async fn list(db: &Db, query: &JobQuery) -> Result<JobPage, StoreError> {
    let sql = mirror_query::list_sql(
        db,
        &TABLE,
        &ListFilter {
            statuses: &query.statuses,
            updated_from: query.updated_from,
            updated_to: query.updated_to,
            text: query.text.as_deref(),
            include_inactive: query.include_inactive,
            sort: query.sort,
            limit: query.limit,
            after: query.after.as_ref().map(|a| (&a.key, a.job_id.as_str())),
        },
    );
    let mut rows: Vec<JobRow> = mirror_query::fetch(db, &sql).await?;
    let more = mirror_query::trim_to_page(&mut rows, query.limit);
    let next = more.then(|| rows.last()).flatten().map(|last| After {
        key: last.sort_key(query.sort),
        job_id: last.job_id.clone(),
    });
    Ok(JobPage { rows, next })
}

/// The job with this id, if mirrored.
pub async fn get(db: &Db, job_id: &str) -> Result<Option<JobRow>, StoreError> {
    let sql = mirror_query::get_sql(db, &TABLE, job_id);
    Ok(mirror_query::fetch(db, &sql).await?.into_iter().next())
}
