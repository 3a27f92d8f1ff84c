//! Reads of the job mirror for the API: filters, sorting and keyset pagination.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Sort orders the mirror supports; each ends with `job_id` so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobSort {
    /// Most recently updated in the CRM first (when the CRM gave no update time, when we
    /// first saw the job).
    #[default]
    UpdatedDesc,
    UpdatedAsc,
    NameAsc,
    NameDesc,
}

impl JobSort {
    fn key_expression(self) -> &'static str {
        match self {
            JobSort::UpdatedDesc | JobSort::UpdatedAsc => {
                "coalesce(remote_updated_at, first_seen_at)"
            }
            JobSort::NameAsc | JobSort::NameDesc => "name",
        }
    }

    fn descending(self) -> bool {
        matches!(self, JobSort::UpdatedDesc | JobSort::NameDesc)
    }
}

/// Where the previous page ended: its last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Time(DateTime<Utc>),
    Text(String),
}

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
#[derive(Debug, Clone, PartialEq)]
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
    pub is_active: bool,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub version: i64,
}

impl JobRow {
    /// This row's position in `sort`, for the next page's `After`.
    pub fn sort_key(&self, sort: JobSort) -> SortKey {
        match sort {
            JobSort::UpdatedDesc | JobSort::UpdatedAsc => {
                SortKey::Time(self.remote_updated_at.unwrap_or(self.first_seen_at))
            }
            JobSort::NameAsc | JobSort::NameDesc => SortKey::Text(self.name.clone()),
        }
    }
}

/// A page of jobs and where the next one starts (None on the last page).
#[derive(Debug, Clone)]
pub struct JobPage {
    pub rows: Vec<JobRow>,
    pub next: Option<After>,
}

/// A bind value, kept apart from the SQL so the text can be built once per backend.
enum Param {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
    Bool(bool),
}

/// SQL under construction with its parameters; placeholders follow the backend
/// (`$n` on PostgreSQL, `?` on SQLite).
struct Sql {
    postgres: bool,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn new(db: &Db, text: &str) -> Self {
        Self {
            postgres: matches!(db, Db::Postgres(_)),
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        if self.postgres {
            let n = self.params.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }
}

const COLUMNS: &str = "job_id, source, external_id, number, name, description, status, workflow,
    customer_name, contact_external_id, address_line1, address_line2, city, state, zip, country,
    sales_rep_name, remote_created_at, remote_updated_at, status_changed_at, is_active,
    first_seen_at, last_seen_at, version";

/// One page of jobs matching `query`, in its order, after `query.after`.
pub async fn list(db: &Db, query: &JobQuery) -> Result<JobPage, StoreError> {
    let mut sql = Sql::new(db, &format!("select {COLUMNS} from job_mirror where 1 = 1"));
    if !query.include_inactive {
        sql.push(" and is_active = ").bind(Param::Bool(true));
    }
    if !query.statuses.is_empty() {
        sql.push(" and status in (");
        for (i, status) in query.statuses.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Param::Text(status.clone()));
        }
        sql.push(")");
    }
    let updated = JobSort::UpdatedDesc.key_expression();
    if let Some(from) = query.updated_from {
        sql.push(&format!(" and {updated} >= "))
            .bind(Param::Time(from));
    }
    if let Some(to) = query.updated_to {
        sql.push(&format!(" and {updated} < "))
            .bind(Param::Time(to));
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(&text.trim().to_lowercase()));
        sql.push(" and (");
        for (i, column) in ["name", "customer_name", "address_line1", "city"]
            .iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(" or ");
            }
            sql.push(&format!("lower({column}) like "))
                .bind(Param::Text(pattern.clone()))
                .push(" escape '\\'");
        }
        sql.push(")");
    }
    let key = query.sort.key_expression();
    let direction = if query.sort.descending() {
        "desc"
    } else {
        "asc"
    };
    if let Some(after) = &query.after {
        let op = if query.sort.descending() { "<" } else { ">" };
        sql.push(&format!(" and ({key}, job_id) {op} ("));
        sql.bind(match &after.key {
            SortKey::Time(t) => Param::Time(*t),
            SortKey::Text(t) => Param::Text(t.clone()),
        });
        sql.push(", ")
            .bind(Param::Text(after.job_id.clone()))
            .push(")");
    }
    sql.push(&format!(
        " order by {key} {direction}, job_id {direction} limit "
    ));
    // One row more than asked tells whether another page follows.
    sql.bind(Param::Int(i64::from(query.limit) + 1));

    let mut rows = fetch(db, &sql).await?;
    let more = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    let next = more.then(|| rows.last()).flatten().map(|last| After {
        key: last.sort_key(query.sort),
        job_id: last.job_id.clone(),
    });
    Ok(JobPage { rows, next })
}

/// The job with this id, if mirrored.
pub async fn get(db: &Db, job_id: &str) -> Result<Option<JobRow>, StoreError> {
    let mut sql = Sql::new(
        db,
        &format!("select {COLUMNS} from job_mirror where job_id = "),
    );
    sql.bind(Param::Text(job_id.to_string()));
    Ok(fetch(db, &sql).await?.into_iter().next())
}

/// `%`, `_` and `\` match literally in the user's search text.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

async fn fetch(db: &Db, sql: &Sql) -> Result<Vec<JobRow>, StoreError> {
    macro_rules! bind_all {
        ($query:expr) => {{
            let mut query = $query;
            for param in &sql.params {
                query = match param {
                    Param::Text(v) => query.bind(v.as_str()),
                    Param::Time(v) => query.bind(*v),
                    Param::Int(v) => query.bind(*v),
                    Param::Bool(v) => query.bind(*v),
                };
            }
            query
        }};
    }
    match db {
        Db::Postgres(pool) => bind_all!(sqlx::query(&sql.text))
            .fetch_all(pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from),
        Db::Sqlite(pool) => bind_all!(sqlx::query(&sql.text))
            .fetch_all(pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from),
    }
}

fn row<'r, R>(r: &'r R) -> Result<JobRow, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(JobRow {
        job_id: r.try_get("job_id")?,
        source: r.try_get("source")?,
        external_id: r.try_get("external_id")?,
        number: r.try_get("number")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        status: r.try_get("status")?,
        workflow: r.try_get("workflow")?,
        customer_name: r.try_get("customer_name")?,
        contact_external_id: r.try_get("contact_external_id")?,
        address_line1: r.try_get("address_line1")?,
        address_line2: r.try_get("address_line2")?,
        city: r.try_get("city")?,
        state: r.try_get("state")?,
        zip: r.try_get("zip")?,
        country: r.try_get("country")?,
        sales_rep_name: r.try_get("sales_rep_name")?,
        remote_created_at: r.try_get("remote_created_at")?,
        remote_updated_at: r.try_get("remote_updated_at")?,
        status_changed_at: r.try_get("status_changed_at")?,
        is_active: r.try_get("is_active")?,
        first_seen_at: r.try_get("first_seen_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        version: r.try_get("version")?,
    })
}
