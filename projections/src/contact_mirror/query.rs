//! Reads of the contact mirror for the API: filters, sorting and keyset pagination.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};

use crate::mirror_query::{self, ListFilter, Table};
pub use crate::mirror_query::{MirrorSort as ContactSort, SortKey};

/// Where the previous page ended: its last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub key: SortKey,
    pub contact_id: String,
}

/// Which contacts to list.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<String>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of display name, first or last name, company, email,
    /// address line 1 or city.
    pub text: Option<String>,
    /// Also list contacts the CRM soft-deleted or no longer lists at all.
    pub include_inactive: bool,
    pub sort: ContactSort,
    pub limit: u32,
    pub after: Option<After>,
}

/// One mirrored contact as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContactRow {
    pub contact_id: String,
    pub source: String,
    pub external_id: String,
    pub number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub home_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub work_phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub status: Option<String>,
    pub workflow: Option<String>,
    pub source_name: Option<String>,
    pub sales_rep_name: Option<String>,
    pub remote_created_at: Option<DateTime<Utc>>,
    pub remote_updated_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub vanished_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub version: i64,
}

impl ContactRow {
    /// This row's position in `sort`, for the next page's `After`.
    pub fn sort_key(&self, sort: ContactSort) -> SortKey {
        SortKey::of(
            sort,
            self.remote_updated_at.unwrap_or(self.first_seen_at),
            &self.display_name,
        )
    }
}

/// A page of contacts and where the next one starts (None on the last page).
#[derive(Debug, Clone)]
pub struct ContactPage {
    pub rows: Vec<ContactRow>,
    pub next: Option<After>,
}

const TABLE: Table = Table {
    name: "contact_mirror",
    columns: "contact_id, source, external_id, number, first_name, last_name, display_name,
        company, email, home_phone, mobile_phone, work_phone, address_line1, address_line2,
        city, state, zip, country, status, workflow, source_name, sales_rep_name,
        remote_created_at, remote_updated_at, is_active, vanished_at, first_seen_at,
        last_seen_at, version",
    id_column: "contact_id",
    name_column: "display_name",
    searched: &[
        "display_name",
        "first_name",
        "last_name",
        "company",
        "email",
        "address_line1",
        "city",
    ],
    // A vanished contact is as gone as a soft-deleted one for a default listing.
    listed_by_default: "is_active = true and vanished_at is null",
};

/// One page of contacts matching `query`, in its order, after `query.after`.
pub async fn list(db: &Db, query: &ContactQuery) -> Result<ContactPage, StoreError> {
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
            after: query
                .after
                .as_ref()
                .map(|a| (&a.key, a.contact_id.as_str())),
        },
    );
    let mut rows: Vec<ContactRow> = mirror_query::fetch(db, &sql).await?;
    let more = mirror_query::trim_to_page(&mut rows, query.limit);
    let next = more.then(|| rows.last()).flatten().map(|last| After {
        key: last.sort_key(query.sort),
        contact_id: last.contact_id.clone(),
    });
    Ok(ContactPage { rows, next })
}

/// The contact with this id, if mirrored.
pub async fn get(db: &Db, contact_id: &str) -> Result<Option<ContactRow>, StoreError> {
    let sql = mirror_query::get_sql(db, &TABLE, contact_id);
    Ok(mirror_query::fetch(db, &sql).await?.into_iter().next())
}
