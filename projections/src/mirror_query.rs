//! Reads shared by the CRM mirrors (jobs, contacts): SQL text built once per backend with
//! its binds, the common filters, and keyset pagination over a total order.
//!
//! Each mirror module keeps its own public query and row types; this module only knows a
//! table's shape ([`Table`]) and the filters every mirror offers.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// Sort orders a mirror supports; each ends with the table's id column so the order is
/// total and keyset pages neither skip nor repeat rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MirrorSort {
    /// Most recently updated in the CRM first (when the CRM gave no update time, when we
    /// first saw the record).
    #[default]
    UpdatedDesc,
    UpdatedAsc,
    NameAsc,
    NameDesc,
}

impl MirrorSort {
    fn key_expression(self, table: &Table) -> &'static str {
        match self {
            MirrorSort::UpdatedDesc | MirrorSort::UpdatedAsc => UPDATED,
            MirrorSort::NameAsc | MirrorSort::NameDesc => table.name_column,
        }
    }

    fn descending(self) -> bool {
        matches!(self, MirrorSort::UpdatedDesc | MirrorSort::NameDesc)
    }

    /// Whether this order's key is a time (else it is text).
    pub fn by_time(self) -> bool {
        matches!(self, MirrorSort::UpdatedDesc | MirrorSort::UpdatedAsc)
    }
}

/// The update time the API filters and sorts on. The mirrors index exactly this
/// expression, so it must stay spelled the same as in the migrations.
const UPDATED: &str = "coalesce(remote_updated_at, first_seen_at)";

/// Where the previous page ended: its last row's sort key (the id travels beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Time(DateTime<Utc>),
    Text(String),
}

impl SortKey {
    /// A row's key under `sort`, from its update-order time and its name.
    pub(crate) fn of(sort: MirrorSort, updated: DateTime<Utc>, name: &str) -> SortKey {
        if sort.by_time() {
            SortKey::Time(updated)
        } else {
            SortKey::Text(name.to_string())
        }
    }
}

/// What a mirror table looks like to the shared list query. Every text here is a
/// compile-time constant, never input, so it may be spliced into SQL.
pub(crate) struct Table {
    pub name: &'static str,
    /// The selected columns; the row type decodes them by name.
    pub columns: &'static str,
    /// Primary key: the tie-breaker of every order.
    pub id_column: &'static str,
    /// What the `name` sorts order by.
    pub name_column: &'static str,
    /// Columns searched by the free-text filter.
    pub searched: &'static [&'static str],
    /// What a row must satisfy to be listed unless inactive rows are asked for.
    pub listed_by_default: &'static str,
}

/// The filters, order and page every mirror list offers.
pub(crate) struct ListFilter<'a> {
    pub statuses: &'a [String],
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub text: Option<&'a str>,
    pub include_inactive: bool,
    pub sort: MirrorSort,
    pub limit: u32,
    pub after: Option<(&'a SortKey, &'a str)>,
}

/// A bind value, kept apart from the SQL so the text can be built once per backend.
pub(crate) enum Param {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

/// SQL under construction with its parameters; placeholders follow the backend
/// (`$n` on PostgreSQL, `?` on SQLite).
pub(crate) struct Sql {
    postgres: bool,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    pub(crate) fn new(db: &Db, text: &str) -> Self {
        Self {
            postgres: matches!(db, Db::Postgres(_)),
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, param: Param) -> &mut Self {
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

/// The SQL of one page of `table` matching `filter`, fetching one row more than the
/// limit so the caller can tell whether another page follows.
pub(crate) fn list_sql(db: &Db, table: &Table, filter: &ListFilter<'_>) -> Sql {
    let mut sql = Sql::new(
        db,
        &format!("select {} from {} where 1 = 1", table.columns, table.name),
    );
    if !filter.include_inactive {
        sql.push(&format!(" and ({})", table.listed_by_default));
    }
    if !filter.statuses.is_empty() {
        sql.push(" and status in (");
        for (i, status) in filter.statuses.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Param::Text(status.clone()));
        }
        sql.push(")");
    }
    if let Some(from) = filter.updated_from {
        sql.push(&format!(" and {UPDATED} >= "))
            .bind(Param::Time(from));
    }
    if let Some(to) = filter.updated_to {
        sql.push(&format!(" and {UPDATED} < "))
            .bind(Param::Time(to));
    }
    if let Some(text) = filter.text.filter(|t| !t.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(&text.trim().to_lowercase()));
        sql.push(" and (");
        for (i, column) in table.searched.iter().enumerate() {
            if i > 0 {
                sql.push(" or ");
            }
            sql.push(&format!("lower({column}) like "))
                .bind(Param::Text(pattern.clone()))
                .push(" escape '\\'");
        }
        sql.push(")");
    }
    let key = filter.sort.key_expression(table);
    let id = table.id_column;
    let direction = if filter.sort.descending() {
        "desc"
    } else {
        "asc"
    };
    if let Some((after_key, after_id)) = filter.after {
        let op = if filter.sort.descending() { "<" } else { ">" };
        sql.push(&format!(" and ({key}, {id}) {op} ("));
        sql.bind(match after_key {
            SortKey::Time(t) => Param::Time(*t),
            SortKey::Text(t) => Param::Text(t.clone()),
        });
        sql.push(", ")
            .bind(Param::Text(after_id.to_string()))
            .push(")");
    }
    sql.push(&format!(
        " order by {key} {direction}, {id} {direction} limit "
    ));
    sql.bind(Param::Int(i64::from(filter.limit) + 1));
    sql
}

/// The SQL of the row of `table` with this id.
pub(crate) fn get_sql(db: &Db, table: &Table, id: &str) -> Sql {
    let mut sql = Sql::new(
        db,
        &format!(
            "select {} from {} where {} = ",
            table.columns, table.name, table.id_column
        ),
    );
    sql.bind(Param::Text(id.to_string()));
    sql
}

/// `%`, `_` and `\` match literally in the user's search text.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Runs `sql` and decodes every row by column name.
pub(crate) async fn fetch<T>(db: &Db, sql: &Sql) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
{
    macro_rules! bind_all {
        ($query:expr) => {{
            let mut query = $query;
            for param in &sql.params {
                query = match param {
                    Param::Text(v) => query.bind(v.as_str()),
                    Param::Time(v) => query.bind(*v),
                    Param::Int(v) => query.bind(*v),
                };
            }
            query
        }};
    }
    let rows = match db {
        Db::Postgres(pool) => {
            bind_all!(sqlx::query_as::<_, T>(&sql.text))
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            bind_all!(sqlx::query_as::<_, T>(&sql.text))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows)
}

/// Cuts the extra row `list_sql` fetched and returns whether it was there, i.e. whether
/// another page follows.
pub(crate) fn trim_to_page<T>(rows: &mut Vec<T>, limit: u32) -> bool {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    more
}
