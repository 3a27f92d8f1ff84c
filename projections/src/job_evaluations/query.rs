//! Reads of `job_evaluations` for the QC and risk endpoints: one job, or a filtered, sorted
//! page with a keyset cursor.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use domain::qc::{MissingCategory, PhotoCounts, QcStatus};
use domain::risk::{RiskLevel, RiskReason, RiskRule};
use domain::QcCategory;

use crate::mirror_query::{fetch, trim_to_page, Param, Sql};

/// A job's evaluations as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRow {
    pub job_id: String,
    pub source: String,
    pub external_id: String,
    pub job_name: String,
    pub job_number: Option<String>,
    pub customer_name: Option<String>,
    pub job_status: Option<String>,
    /// `None` until the job's first QC check.
    pub qc: Option<QcRow>,
    /// `None` until the job's first risk assessment.
    pub risk: Option<RiskRow>,
    /// The latest instant an evaluation looked at the job, changed or not.
    pub checked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcRow {
    pub status: QcStatus,
    pub photos: PhotoCounts,
    pub missing: Vec<MissingCategory>,
    /// When this outcome was recorded (the check's outcome changed then).
    pub evaluated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRow {
    pub level: RiskLevel,
    pub reasons: Vec<RiskReason>,
    pub evaluated_at: DateTime<Utc>,
}

/// Which outcome a list is about; rows without it are not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Qc,
    Risk,
}

/// Orders of the lists; each ends with the job id, so pages neither skip nor repeat rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationSort {
    /// Highest risk first.
    LevelDesc,
    LevelAsc,
    /// Most recently checked first.
    CheckedDesc,
    CheckedAsc,
    NameAsc,
    NameDesc,
}

impl EvaluationSort {
    fn column(self, db: &Db) -> &'static str {
        match self {
            EvaluationSort::LevelDesc | EvaluationSort::LevelAsc => "risk_rank",
            EvaluationSort::CheckedDesc | EvaluationSort::CheckedAsc => checked_at(db),
            EvaluationSort::NameAsc | EvaluationSort::NameDesc => "job_name",
        }
    }

    fn descending(self) -> bool {
        matches!(
            self,
            EvaluationSort::LevelDesc | EvaluationSort::CheckedDesc | EvaluationSort::NameDesc
        )
    }

    /// A row's key under this order.
    pub fn key_of(self, row: &EvaluationRow) -> EvaluationKey {
        match self {
            EvaluationSort::LevelDesc | EvaluationSort::LevelAsc => {
                EvaluationKey::Rank(row.risk.as_ref().map_or(0, |r| rank(r.level)))
            }
            EvaluationSort::CheckedDesc | EvaluationSort::CheckedAsc => {
                EvaluationKey::Time(row.checked_at.unwrap_or(DateTime::<Utc>::MIN_UTC))
            }
            EvaluationSort::NameAsc | EvaluationSort::NameDesc => {
                EvaluationKey::Text(row.job_name.clone())
            }
        }
    }
}

/// A row's sort key: where a page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvaluationKey {
    Rank(i64),
    Time(DateTime<Utc>),
    Text(String),
}

fn rank(level: RiskLevel) -> i64 {
    match level {
        RiskLevel::Low => 0,
        RiskLevel::Medium => 1,
        RiskLevel::High => 2,
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct EvaluationQuery {
    pub outcome: Outcome,
    pub qc_status: Option<QcStatus>,
    pub level: Option<RiskLevel>,
    pub rule: Option<RiskRule>,
    /// The job's status in its CRM.
    pub job_status: Option<String>,
    pub sort: EvaluationSort,
    pub limit: u32,
    /// The key and job id of the previous page's last row.
    pub after: Option<(EvaluationKey, String)>,
}

#[derive(Debug, Clone)]
pub struct EvaluationPage {
    pub rows: Vec<EvaluationRow>,
    /// The key and id of the last row when another page follows.
    pub next: Option<(EvaluationKey, String)>,
}

/// The columns read, with "checked at" as the later of the row's own and the latest pass
/// over every job (which checked every evaluated row; see the migration).
fn columns(db: &Db) -> String {
    format!(
        "job_id, source, external_id, job_name, job_number, customer_name, job_status,
         qc_status, qc_before, qc_during, qc_after, qc_unclassified, qc_missing,
         qc_evaluated_at, risk_level, risk_reasons, risk_evaluated_at, {} as checked_at",
        checked_at(db)
    )
}

/// The effective "checked at". PostgreSQL's `greatest` skips nulls; SQLite's `max` does not.
fn checked_at(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => {
            "greatest(checked_at,
                 (select p.checked_at from job_evaluation_passes p where p.scope = 'all'))"
        }
        Db::Sqlite(_) => {
            "nullif(max(coalesce(checked_at, (select p.checked_at from job_evaluation_passes p
                                               where p.scope = 'all'), ''),
                        coalesce((select p.checked_at from job_evaluation_passes p
                                  where p.scope = 'all'), checked_at, '')), '')"
        }
    }
}

pub async fn get(db: &Db, job_id: &str) -> Result<Option<EvaluationRow>, StoreError> {
    let mut sql = Sql::new(
        db,
        &format!(
            "select {} from job_evaluations where job_id = ",
            columns(db)
        ),
    );
    sql.bind(Param::Text(job_id.to_string()));
    let rows: Vec<RawRow> = fetch(db, &sql).await?;
    rows.into_iter()
        .next()
        .map(EvaluationRow::try_from)
        .transpose()
}

pub async fn list(db: &Db, query: &EvaluationQuery) -> Result<EvaluationPage, StoreError> {
    let mut sql = Sql::new(
        db,
        &format!("select {} from job_evaluations where ", columns(db)),
    );
    sql.push(match query.outcome {
        Outcome::Qc => "qc_status is not null",
        Outcome::Risk => "risk_level is not null",
    });
    if let Some(status) = query.qc_status {
        sql.push(" and qc_status = ")
            .bind(Param::Text(status.as_str().to_string()));
    }
    if let Some(level) = query.level {
        sql.push(" and risk_level = ")
            .bind(Param::Text(level.as_str().to_string()));
    }
    if let Some(rule) = query.rule {
        // Rule names are upper-case letters and `_`; `_` matches itself as well as any
        // character, and no other rule name differs from one only there.
        sql.push(" and risk_rules like ")
            .bind(Param::Text(format!("%,{},%", rule.as_str())));
    }
    if let Some(status) = &query.job_status {
        sql.push(" and job_status = ")
            .bind(Param::Text(status.clone()));
    }
    let column = query.sort.column(db);
    let descending = query.sort.descending();
    if let Some((key, id)) = &query.after {
        // Row values compare lexicographically on both backends: (key, id) past the cursor
        // in the list's direction.
        sql.push(&format!(
            " and ({column}, job_id) {} (",
            if descending { "<" } else { ">" }
        ));
        sql.bind(match key {
            EvaluationKey::Rank(rank) => Param::Int(*rank),
            EvaluationKey::Time(at) => Param::Time(*at),
            EvaluationKey::Text(text) => Param::Text(text.clone()),
        });
        sql.push(", ").bind(Param::Text(id.clone())).push(")");
    }
    let direction = if descending { "desc" } else { "asc" };
    sql.push(&format!(
        " order by {column} {direction}, job_id {direction} limit "
    ));
    sql.bind(Param::Int(i64::from(query.limit) + 1));
    let raw: Vec<RawRow> = fetch(db, &sql).await?;
    let mut rows = raw
        .into_iter()
        .map(EvaluationRow::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let more = trim_to_page(&mut rows, query.limit);
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|row| (query.sort.key_of(row), row.job_id.clone()));
    Ok(EvaluationPage { rows, next })
}

#[derive(sqlx::FromRow)]
struct RawRow {
    job_id: String,
    source: String,
    external_id: String,
    job_name: String,
    job_number: Option<String>,
    customer_name: Option<String>,
    job_status: Option<String>,
    qc_status: Option<String>,
    qc_before: Option<i32>,
    qc_during: Option<i32>,
    qc_after: Option<i32>,
    qc_unclassified: Option<i32>,
    qc_missing: Option<String>,
    qc_evaluated_at: Option<DateTime<Utc>>,
    risk_level: Option<String>,
    risk_reasons: Option<String>,
    risk_evaluated_at: Option<DateTime<Utc>>,
    checked_at: Option<DateTime<Utc>>,
}

fn undecodable(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?} in job_evaluations").into(),
    })
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct StoredGap {
    category: String,
    required: u32,
    current: u32,
    missing: u32,
}

#[derive(serde::Deserialize)]
struct StoredReason {
    rule: String,
    severity: String,
    message: String,
}

impl TryFrom<RawRow> for EvaluationRow {
    type Error = StoreError;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let qc = match (raw.qc_status, raw.qc_evaluated_at) {
            (Some(status), Some(evaluated_at)) => {
                let missing_text = raw.qc_missing.unwrap_or_else(|| "[]".into());
                let gaps: Vec<StoredGap> = serde_json::from_str(&missing_text)
                    .map_err(|_| undecodable("qc_missing", &missing_text))?;
                let missing = gaps
                    .into_iter()
                    .map(|gap| {
                        Ok(MissingCategory {
                            category: gap
                                .category
                                .parse::<QcCategory>()
                                .map_err(|_| undecodable("qc_missing", &gap.category))?,
                            required: gap.required,
                            current: gap.current,
                            missing: gap.missing,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Some(QcRow {
                    status: status
                        .parse()
                        .map_err(|_| undecodable("qc_status", &status))?,
                    photos: PhotoCounts {
                        before: count(raw.qc_before),
                        during: count(raw.qc_during),
                        after: count(raw.qc_after),
                        unclassified: count(raw.qc_unclassified),
                    },
                    missing,
                    evaluated_at,
                })
            }
            _ => None,
        };
        let risk = match (raw.risk_level, raw.risk_evaluated_at) {
            (Some(level), Some(evaluated_at)) => {
                let reasons_text = raw.risk_reasons.unwrap_or_else(|| "[]".into());
                let stored: Vec<StoredReason> = serde_json::from_str(&reasons_text)
                    .map_err(|_| undecodable("risk_reasons", &reasons_text))?;
                let reasons = stored
                    .into_iter()
                    .map(|reason| {
                        Ok(RiskReason {
                            rule: parse_rule(&reason.rule)
                                .ok_or_else(|| undecodable("risk_reasons", &reason.rule))?,
                            severity: parse_level(&reason.severity)
                                .ok_or_else(|| undecodable("risk_reasons", &reason.severity))?,
                            message: reason.message,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Some(RiskRow {
                    level: parse_level(&level).ok_or_else(|| undecodable("risk_level", &level))?,
                    reasons,
                    evaluated_at,
                })
            }
            _ => None,
        };
        Ok(EvaluationRow {
            job_id: raw.job_id,
            source: raw.source,
            external_id: raw.external_id,
            job_name: raw.job_name,
            job_number: raw.job_number,
            customer_name: raw.customer_name,
            job_status: raw.job_status,
            qc,
            risk,
            checked_at: raw.checked_at,
        })
    }
}

pub fn parse_level(text: &str) -> Option<RiskLevel> {
    RiskLevel::ALL
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(text))
}

pub fn parse_rule(text: &str) -> Option<RiskRule> {
    RiskRule::ALL
        .into_iter()
        .find(|rule| rule.as_str().eq_ignore_ascii_case(text))
}
