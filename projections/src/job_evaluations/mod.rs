//! Each job's latest QC photo check and risk assessment, beside what the QC and risk lists
//! filter and show of the job: one row per mirrored job, outcome columns null until the job
//! is first evaluated.
//!
//! Three streams feed it: `Job` events (name, status, deep-link inputs), `JobEvaluation`
//! events (an outcome changed) and `EvaluationRun` events (a pass checked jobs, which moves
//! their "checked at" even when nothing changed and nothing was appended to them). A pass
//! over every job is one row of `job_evaluation_passes`; a job's "checked at" is the later
//! of its own and that pass's.

pub mod query;

use std::collections::HashMap;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::qc::QcCheck;
use domain::risk::{RiskAssessment, RiskLevel};
use domain::{
    EvaluationRun, EvaluationRunEvent, EvaluationScope, Job, JobEvaluation, JobEvaluationEvent,
    JobEvent, JobId,
};
use serde::de::DeserializeOwned;

use crate::{Projection, ProjectionError};

pub struct JobEvaluations;

pub const NAME: &str = "job_evaluations";

#[async_trait]
impl Projection for JobEvaluations {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["job_evaluations", "job_evaluation_passes"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let writes = fold(events)?;
        match tx {
            DbTx::Postgres(tx) => postgres::write(tx, &writes).await?,
            DbTx::Sqlite(tx) => sqlite::write(tx, &writes).await?,
        }
        Ok(())
    }
}

/// The job's fields the lists show and filter by.
struct JobPart {
    ids: Ids,
    name: String,
    number: Option<String>,
    customer_name: Option<String>,
    status: Option<String>,
    position: i64,
}

/// The row key and the deep-link inputs, all derived from the aggregate id, so a row can be
/// created by whichever part arrives first.
#[derive(Clone)]
struct Ids {
    job_id: String,
    source: String,
    external_id: String,
}

struct QcPart {
    ids: Ids,
    check: QcCheck,
    evaluated_at: DateTime<Utc>,
    position: i64,
}

struct RiskPart {
    ids: Ids,
    assessment: RiskAssessment,
    evaluated_at: DateTime<Utc>,
    position: i64,
}

/// A pass that checked jobs at `at`: every job, or the listed ones.
struct Checked {
    jobs: Option<Vec<String>>,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Writes {
    jobs: Vec<JobPart>,
    qc: Vec<QcPart>,
    risk: Vec<RiskPart>,
    checked: Vec<Checked>,
}

fn decode<T: DeserializeOwned>(stored: &StoredEvent) -> Result<T, ProjectionError> {
    serde_json::from_str(&stored.payload).map_err(|source| ProjectionError::Decode {
        event_type: stored.event_type.clone(),
        aggregate_id: stored.aggregate_id.clone(),
        source,
    })
}

fn ids(aggregate_id: &str) -> Result<Ids, ProjectionError> {
    let id = aggregate_id
        .parse::<JobId>()
        .map_err(|_| ProjectionError::InvalidId {
            aggregate_id: aggregate_id.to_string(),
        })?;
    Ok(Ids {
        job_id: id.as_str().to_string(),
        source: id.source().as_str().to_string(),
        external_id: id.external_id().to_string(),
    })
}

/// Folds a batch into at most one write per job and part (the last event of each wins: they
/// come in global order), so a busy job costs one statement row, not one per event.
fn fold(events: &[StoredEvent]) -> Result<Writes, ProjectionError> {
    let mut jobs: HashMap<&str, JobPart> = HashMap::new();
    let mut qc: HashMap<&str, QcPart> = HashMap::new();
    let mut risk: HashMap<&str, RiskPart> = HashMap::new();
    let mut checked = Vec::new();
    for stored in events {
        let id = stored.aggregate_id.as_str();
        let position = stored.position.global_position;
        match stored.aggregate_type.as_str() {
            Job::TYPE => {
                // Only snapshots carry what this view shows; file events leave it alone.
                if !matches!(
                    stored.event_type.as_str(),
                    "JobSnapshotRecorded" | "JobSnapshotChanged"
                ) {
                    continue;
                }
                let snapshot = match decode::<JobEvent>(stored)? {
                    JobEvent::JobSnapshotRecorded { snapshot, .. }
                    | JobEvent::JobSnapshotChanged { snapshot, .. } => snapshot,
                    _ => continue,
                };
                jobs.insert(
                    id,
                    JobPart {
                        ids: ids(id)?,
                        name: snapshot.name,
                        number: snapshot.number,
                        customer_name: snapshot.customer_name,
                        status: snapshot.status,
                        position,
                    },
                );
            }
            JobEvaluation::TYPE => match decode::<JobEvaluationEvent>(stored)? {
                JobEvaluationEvent::QcCheckChanged {
                    check,
                    evaluated_at,
                } => {
                    qc.insert(
                        id,
                        QcPart {
                            ids: ids(id)?,
                            check,
                            evaluated_at,
                            position,
                        },
                    );
                }
                JobEvaluationEvent::RiskAssessmentChanged {
                    assessment,
                    evaluated_at,
                } => {
                    risk.insert(
                        id,
                        RiskPart {
                            ids: ids(id)?,
                            assessment,
                            evaluated_at,
                            position,
                        },
                    );
                }
            },
            EvaluationRun::TYPE => match decode::<EvaluationRunEvent>(stored)? {
                EvaluationRunEvent::EvaluationRunCompleted {
                    scope,
                    evaluated_at,
                    ..
                } => checked.push(Checked {
                    jobs: match scope {
                        EvaluationScope::AllJobs => None,
                        EvaluationScope::Jobs(jobs) => Some(jobs),
                    },
                    at: evaluated_at,
                }),
            },
            _ => {}
        }
    }
    let mut writes = Writes {
        jobs: jobs.into_values().collect(),
        qc: qc.into_values().collect(),
        risk: risk.into_values().collect(),
        checked,
    };
    // A stable order keeps concurrent PostgreSQL writers (a rebuild and a live runner, both
    // refused but only after locking) from deadlocking on row locks taken in random order.
    writes.jobs.sort_by(|a, b| a.ids.job_id.cmp(&b.ids.job_id));
    writes.qc.sort_by(|a, b| a.ids.job_id.cmp(&b.ids.job_id));
    writes.risk.sort_by(|a, b| a.ids.job_id.cmp(&b.ids.job_id));
    Ok(writes)
}

/// What "sort by level" orders by.
fn rank(level: RiskLevel) -> i32 {
    match level {
        RiskLevel::Low => 0,
        RiskLevel::Medium => 1,
        RiskLevel::High => 2,
    }
}

fn missing_json(check: &QcCheck) -> String {
    let missing: Vec<serde_json::Value> = check
        .missing
        .iter()
        .map(|gap| {
            serde_json::json!({
                "category": gap.category.as_str(),
                "required": gap.required,
                "current": gap.current,
                "missing": gap.missing,
            })
        })
        .collect();
    serde_json::Value::Array(missing).to_string()
}

fn reasons_json(assessment: &RiskAssessment) -> String {
    let reasons: Vec<serde_json::Value> = assessment
        .reasons
        .iter()
        .map(|reason| {
            serde_json::json!({
                "rule": reason.rule.as_str(),
                "severity": reason.severity.as_str(),
                "message": reason.message,
            })
        })
        .collect();
    serde_json::Value::Array(reasons).to_string()
}

/// `,RULE_A,RULE_B,` (empty rules: `,`), so `like '%,RULE,%'` finds a rule exactly.
fn rules_column(assessment: &RiskAssessment) -> String {
    let mut rules: Vec<&str> = assessment.reasons.iter().map(|r| r.rule.as_str()).collect();
    rules.dedup();
    format!(
        ",{}",
        rules.iter().map(|r| format!("{r},")).collect::<String>()
    )
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

mod postgres {
    use sqlx::{PgConnection, Postgres, Transaction};

    use super::*;

    fn col<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
        items.iter().map(f).collect()
    }

    pub(super) async fn write(
        tx: &mut Transaction<'static, Postgres>,
        writes: &Writes,
    ) -> Result<(), sqlx::Error> {
        let conn: &mut PgConnection = tx;
        if !writes.jobs.is_empty() {
            let rows = &writes.jobs;
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, job_number,
                     customer_name, job_status, job_position)
                 select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::bigint[])
                 on conflict (job_id) do update set
                     job_name = excluded.job_name, job_number = excluded.job_number,
                     customer_name = excluded.customer_name, job_status = excluded.job_status,
                     job_position = excluded.job_position
                 where job_evaluations.job_position < excluded.job_position",
            )
            .bind(col(rows, |r| r.ids.job_id.clone()))
            .bind(col(rows, |r| r.ids.source.clone()))
            .bind(col(rows, |r| r.ids.external_id.clone()))
            .bind(col(rows, |r| r.name.clone()))
            .bind(col(rows, |r| r.number.clone()))
            .bind(col(rows, |r| r.customer_name.clone()))
            .bind(col(rows, |r| r.status.clone()))
            .bind(col(rows, |r| r.position))
            .execute(&mut *conn)
            .await?;
        }
        if !writes.qc.is_empty() {
            let rows = &writes.qc;
            // A row first created here (no snapshot folded yet) gets an empty name that the
            // job's snapshot fills in; `checked_at` only ever moves forward.
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, qc_status,
                     qc_before, qc_during, qc_after, qc_unclassified, qc_total, qc_missing,
                     qc_evaluated_at, checked_at, qc_position)
                 select t.job_id, t.source, t.external_id, '', t.qc_status, t.qc_before,
                     t.qc_during, t.qc_after, t.qc_unclassified, t.qc_total, t.qc_missing,
                     t.at, t.at, t.position
                 from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                     $6::int[], $7::int[], $8::int[], $9::int[], $10::text[],
                     $11::timestamptz[], $12::bigint[])
                     as t(job_id, source, external_id, qc_status, qc_before, qc_during,
                          qc_after, qc_unclassified, qc_total, qc_missing, at, position)
                 on conflict (job_id) do update set
                     qc_status = excluded.qc_status, qc_before = excluded.qc_before,
                     qc_during = excluded.qc_during, qc_after = excluded.qc_after,
                     qc_unclassified = excluded.qc_unclassified, qc_total = excluded.qc_total,
                     qc_missing = excluded.qc_missing,
                     qc_evaluated_at = excluded.qc_evaluated_at,
                     checked_at = greatest(job_evaluations.checked_at, excluded.checked_at),
                     qc_position = excluded.qc_position
                 where job_evaluations.qc_position < excluded.qc_position",
            )
            .bind(col(rows, |r| r.ids.job_id.clone()))
            .bind(col(rows, |r| r.ids.source.clone()))
            .bind(col(rows, |r| r.ids.external_id.clone()))
            .bind(col(rows, |r| r.check.status.as_str().to_string()))
            .bind(col(rows, |r| count(r.check.photos.before)))
            .bind(col(rows, |r| count(r.check.photos.during)))
            .bind(col(rows, |r| count(r.check.photos.after)))
            .bind(col(rows, |r| count(r.check.photos.unclassified)))
            .bind(col(rows, |r| count(r.check.photos.total())))
            .bind(col(rows, |r| missing_json(&r.check)))
            .bind(col(rows, |r| r.evaluated_at))
            .bind(col(rows, |r| r.position))
            .execute(&mut *conn)
            .await?;
        }
        if !writes.risk.is_empty() {
            let rows = &writes.risk;
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, risk_level,
                     risk_rank, risk_reasons, risk_rules, risk_evaluated_at, checked_at,
                     risk_position)
                 select t.job_id, t.source, t.external_id, '', t.risk_level, t.risk_rank,
                     t.risk_reasons, t.risk_rules, t.at, t.at, t.position
                 from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                     $6::text[], $7::text[], $8::timestamptz[], $9::bigint[])
                     as t(job_id, source, external_id, risk_level, risk_rank, risk_reasons,
                          risk_rules, at, position)
                 on conflict (job_id) do update set
                     risk_level = excluded.risk_level, risk_rank = excluded.risk_rank,
                     risk_reasons = excluded.risk_reasons, risk_rules = excluded.risk_rules,
                     risk_evaluated_at = excluded.risk_evaluated_at,
                     checked_at = greatest(job_evaluations.checked_at, excluded.checked_at),
                     risk_position = excluded.risk_position
                 where job_evaluations.risk_position < excluded.risk_position",
            )
            .bind(col(rows, |r| r.ids.job_id.clone()))
            .bind(col(rows, |r| r.ids.source.clone()))
            .bind(col(rows, |r| r.ids.external_id.clone()))
            .bind(col(rows, |r| r.assessment.level.as_str().to_string()))
            .bind(col(rows, |r| rank(r.assessment.level)))
            .bind(col(rows, |r| reasons_json(&r.assessment)))
            .bind(col(rows, |r| rules_column(&r.assessment)))
            .bind(col(rows, |r| r.evaluated_at))
            .bind(col(rows, |r| r.position))
            .execute(&mut *conn)
            .await?;
        }
        for checked in &writes.checked {
            // Only moves forward, so applying it again changes nothing. Rows never evaluated
            // were not checked by the pass either (it evaluates what it checks).
            match &checked.jobs {
                None => {
                    sqlx::query(
                        "insert into job_evaluation_passes (scope, checked_at) values ('all', $1)
                         on conflict (scope) do update
                         set checked_at = greatest(job_evaluation_passes.checked_at,
                                                   excluded.checked_at)",
                    )
                    .bind(checked.at)
                    .execute(&mut *conn)
                    .await?;
                }
                Some(jobs) => {
                    sqlx::query(
                        "update job_evaluations set checked_at = $1
                         where job_id = any($2)
                           and (qc_status is not null or risk_level is not null)
                           and (checked_at is null or checked_at < $1)",
                    )
                    .bind(checked.at)
                    .bind(jobs)
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

    use super::*;

    pub(super) async fn write(
        tx: &mut Transaction<'static, Sqlite>,
        writes: &Writes,
    ) -> Result<(), sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        for r in &writes.jobs {
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, job_number,
                     customer_name, job_status, job_position)
                 values (?, ?, ?, ?, ?, ?, ?, ?)
                 on conflict (job_id) do update set
                     job_name = excluded.job_name, job_number = excluded.job_number,
                     customer_name = excluded.customer_name, job_status = excluded.job_status,
                     job_position = excluded.job_position
                 where job_evaluations.job_position < excluded.job_position",
            )
            .bind(&r.ids.job_id)
            .bind(&r.ids.source)
            .bind(&r.ids.external_id)
            .bind(&r.name)
            .bind(&r.number)
            .bind(&r.customer_name)
            .bind(&r.status)
            .bind(r.position)
            .execute(&mut *conn)
            .await?;
        }
        for r in &writes.qc {
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, qc_status,
                     qc_before, qc_during, qc_after, qc_unclassified, qc_total, qc_missing,
                     qc_evaluated_at, checked_at, qc_position)
                 values (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 on conflict (job_id) do update set
                     qc_status = excluded.qc_status, qc_before = excluded.qc_before,
                     qc_during = excluded.qc_during, qc_after = excluded.qc_after,
                     qc_unclassified = excluded.qc_unclassified, qc_total = excluded.qc_total,
                     qc_missing = excluded.qc_missing,
                     qc_evaluated_at = excluded.qc_evaluated_at,
                     checked_at = max(coalesce(job_evaluations.checked_at, excluded.checked_at),
                                      excluded.checked_at),
                     qc_position = excluded.qc_position
                 where job_evaluations.qc_position < excluded.qc_position",
            )
            .bind(&r.ids.job_id)
            .bind(&r.ids.source)
            .bind(&r.ids.external_id)
            .bind(r.check.status.as_str())
            .bind(count(r.check.photos.before))
            .bind(count(r.check.photos.during))
            .bind(count(r.check.photos.after))
            .bind(count(r.check.photos.unclassified))
            .bind(count(r.check.photos.total()))
            .bind(missing_json(&r.check))
            .bind(r.evaluated_at)
            .bind(r.evaluated_at)
            .bind(r.position)
            .execute(&mut *conn)
            .await?;
        }
        for r in &writes.risk {
            sqlx::query(
                "insert into job_evaluations (job_id, source, external_id, job_name, risk_level,
                     risk_rank, risk_reasons, risk_rules, risk_evaluated_at, checked_at,
                     risk_position)
                 values (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)
                 on conflict (job_id) do update set
                     risk_level = excluded.risk_level, risk_rank = excluded.risk_rank,
                     risk_reasons = excluded.risk_reasons, risk_rules = excluded.risk_rules,
                     risk_evaluated_at = excluded.risk_evaluated_at,
                     checked_at = max(coalesce(job_evaluations.checked_at, excluded.checked_at),
                                      excluded.checked_at),
                     risk_position = excluded.risk_position
                 where job_evaluations.risk_position < excluded.risk_position",
            )
            .bind(&r.ids.job_id)
            .bind(&r.ids.source)
            .bind(&r.ids.external_id)
            .bind(r.assessment.level.as_str())
            .bind(rank(r.assessment.level))
            .bind(reasons_json(&r.assessment))
            .bind(rules_column(&r.assessment))
            .bind(r.evaluated_at)
            .bind(r.evaluated_at)
            .bind(r.position)
            .execute(&mut *conn)
            .await?;
        }
        for checked in &writes.checked {
            match &checked.jobs {
                None => {
                    sqlx::query(
                        "insert into job_evaluation_passes (scope, checked_at) values ('all', ?1)
                         on conflict (scope) do update
                         set checked_at = max(job_evaluation_passes.checked_at,
                                              excluded.checked_at)",
                    )
                    .bind(checked.at)
                    .execute(&mut *conn)
                    .await?;
                }
                Some(jobs) => {
                    // SQLite has no array parameters; a JSON array expands through json_each.
                    sqlx::query(
                        "update job_evaluations set checked_at = ?1
                         where job_id in (select value from json_each(?2))
                           and (qc_status is not null or risk_level is not null)
                           and (checked_at is null or checked_at < ?1)",
                    )
                    .bind(checked.at)
                    .bind(serde_json::to_string(jobs).unwrap_or_else(|_| "[]".into()))
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}
