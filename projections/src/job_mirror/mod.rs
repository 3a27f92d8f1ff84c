//! The local mirror of CRM jobs: one row per `Job` aggregate, the fields as the CRM last
//! showed them, plus whether the CRM still has the job active.

pub mod query;

use std::collections::HashMap;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Job, JobEvent, JobId, JobSnapshot};

use crate::{Projection, ProjectionError};

pub struct JobMirror;

pub const NAME: &str = "job_mirror";

#[async_trait]
impl Projection for JobMirror {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["job_mirror"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let (rows, flags) = fold(events)?;
        match tx {
            DbTx::Postgres(tx) => {
                postgres::upsert_rows(tx, &rows).await?;
                postgres::set_active_flags(tx, &flags).await?;
            }
            DbTx::Sqlite(tx) => {
                sqlite::upsert_rows(tx, &rows).await?;
                sqlite::set_active_flags(tx, &flags).await?;
            }
        }
        Ok(())
    }
}

/// The insert half of the mirror's upsert, shared by both backends; `is_active` comes last
/// because new rows always start active.
macro_rules! insert_into_mirror {
    () => {
        "insert into job_mirror (job_id, source, external_id, number, name, description,
             status, workflow, customer_name, contact_external_id, address_line1, address_line2,
             city, state, zip, country, sales_rep_name, remote_created_at, remote_updated_at,
             status_changed_at, first_seen_at, last_seen_at, version, last_position, started_at,
             completed_at, is_archived, is_active)"
    };
}

/// The update half of the mirror's upsert, shared by both backends: every mirrored field
/// takes the new value, `first_seen_at` and `is_active` keep theirs, and the version guard
/// makes a replayed batch a no-op.
macro_rules! upsert_on_conflict {
    () => {
        "on conflict (job_id) do update set
             number = excluded.number, name = excluded.name,
             description = excluded.description, status = excluded.status,
             workflow = excluded.workflow, customer_name = excluded.customer_name,
             contact_external_id = excluded.contact_external_id,
             address_line1 = excluded.address_line1, address_line2 = excluded.address_line2,
             city = excluded.city, state = excluded.state, zip = excluded.zip,
             country = excluded.country, sales_rep_name = excluded.sales_rep_name,
             remote_created_at = excluded.remote_created_at,
             remote_updated_at = excluded.remote_updated_at,
             status_changed_at = excluded.status_changed_at,
             started_at = excluded.started_at, completed_at = excluded.completed_at,
             is_archived = excluded.is_archived,
             last_seen_at = excluded.last_seen_at, version = excluded.version,
             last_position = excluded.last_position
         where job_mirror.version < excluded.version"
    };
}

/// A job's full row, written when the batch holds a snapshot event for it.
struct RowWrite {
    id: JobId,
    snapshot: JobSnapshot,
    /// When first recorded; only used if the row does not exist yet.
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    version: i64,
    position: i64,
}

/// A change of the CRM's active flag or of the vanished mark, applied after the row writes of
/// the same batch. `None` leaves the column as it is.
struct FlagWrite {
    job_id: String,
    is_active: Option<bool>,
    /// `Some(Some(at))`: vanished at `at`; `Some(None)`: listed again.
    vanished_at: Option<Option<DateTime<Utc>>>,
    last_seen_at: Option<DateTime<Utc>>,
    version: i64,
    position: i64,
}

#[derive(Default)]
struct Pending {
    snapshot: Option<(JobSnapshot, DateTime<Utc>)>,
    is_active: Option<bool>,
    vanished_at: Option<Option<DateTime<Utc>>>,
    last_seen_at: Option<DateTime<Utc>>,
    /// Events that leave the row's fields alone but count in its version (the job's files).
    touched: bool,
    version: i64,
    position: i64,
}

/// Folds a batch into at most one row write and one flag write per job, so a job touched
/// many times in a batch costs one statement row, not many.
fn fold(events: &[StoredEvent]) -> Result<(Vec<RowWrite>, Vec<FlagWrite>), ProjectionError> {
    let mut pending: HashMap<&str, Pending> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for stored in events.iter().filter(|e| e.aggregate_type == Job::TYPE) {
        let event: JobEvent =
            serde_json::from_str(&stored.payload).map_err(|source| ProjectionError::Decode {
                event_type: stored.event_type.clone(),
                aggregate_id: stored.aggregate_id.clone(),
                source,
            })?;
        let entry = pending.entry(&stored.aggregate_id).or_insert_with(|| {
            order.push(&stored.aggregate_id);
            Pending::default()
        });
        entry.version = stored.sequence;
        entry.position = stored.position.global_position;
        match event {
            JobEvent::JobSnapshotRecorded {
                snapshot,
                observed_at,
            } => {
                // A new row is inserted active; only later toggles need a flag write.
                entry.snapshot = Some((snapshot, observed_at));
                entry.last_seen_at = Some(observed_at);
            }
            JobEvent::JobSnapshotChanged {
                snapshot,
                observed_at,
                ..
            } => {
                let first_seen = entry.snapshot.as_ref().map_or(observed_at, |s| s.1);
                entry.snapshot = Some((snapshot, first_seen));
                entry.last_seen_at = Some(observed_at);
            }
            JobEvent::JobDeactivated { observed_at } => {
                entry.is_active = Some(false);
                entry.last_seen_at = Some(observed_at);
            }
            JobEvent::JobReactivated { observed_at } => {
                entry.is_active = Some(true);
                entry.last_seen_at = Some(observed_at);
            }
            // Not listed is not seen: last_seen_at stays.
            JobEvent::JobVanished { observed_at } => entry.vanished_at = Some(Some(observed_at)),
            JobEvent::JobReappeared { observed_at } => {
                entry.vanished_at = Some(None);
                entry.last_seen_at = Some(observed_at);
            }
            // The job's files have their own read model (`job_files`); here they only move
            // the version, which stays the length of the job's event stream.
            JobEvent::JobFileAttached { .. }
            | JobEvent::JobFileChanged { .. }
            | JobEvent::JobFileRemoved { .. }
            | JobEvent::JobPhotoReclassified { .. } => entry.touched = true,
        }
    }

    let mut rows = Vec::new();
    let mut flags = Vec::new();
    for job_id in order {
        let Some(p) = pending.remove(job_id) else {
            continue;
        };
        if let Some((snapshot, first_seen_at)) = p.snapshot {
            // Every snapshot event also sets last_seen_at.
            let last_seen_at = p.last_seen_at.unwrap_or(first_seen_at);
            let id = job_id
                .parse::<JobId>()
                .map_err(|_| ProjectionError::InvalidId {
                    aggregate_id: job_id.to_string(),
                })?;
            rows.push(RowWrite {
                id,
                snapshot,
                first_seen_at,
                last_seen_at,
                version: p.version,
                position: p.position,
            });
        }
        if p.is_active.is_some() || p.vanished_at.is_some() || p.touched {
            flags.push(FlagWrite {
                job_id: job_id.to_string(),
                is_active: p.is_active,
                vanished_at: p.vanished_at,
                last_seen_at: p.last_seen_at,
                version: p.version,
                position: p.position,
            });
        }
    }
    Ok((rows, flags))
}

mod postgres {
    use sqlx::{PgConnection, Postgres, Transaction};

    use super::{FlagWrite, RowWrite};

    fn col<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
        items.iter().map(f).collect()
    }

    pub(super) async fn upsert_rows(
        tx: &mut Transaction<'static, Postgres>,
        rows: &[RowWrite],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let conn: &mut PgConnection = tx;
        // One statement for the whole batch (arrays through unnest). New rows start active;
        // the flag writes that follow set the batch's final flag. The version guard makes a
        // replayed batch a no-op.
        sqlx::query(concat!(
            insert_into_mirror!(),
            " select t.*, true from unnest($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                 $17::text[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[],
                 $21::timestamptz[], $22::timestamptz[], $23::bigint[], $24::bigint[],
                 $25::timestamptz[], $26::timestamptz[], $27::boolean[]) as t
             ",
            upsert_on_conflict!()
        ))
        .bind(col(rows, |r| r.id.as_str().to_string()))
        .bind(col(rows, |r| r.id.source().as_str().to_string()))
        .bind(col(rows, |r| r.id.external_id().to_string()))
        .bind(col(rows, |r| r.snapshot.number.clone()))
        .bind(col(rows, |r| r.snapshot.name.clone()))
        .bind(col(rows, |r| r.snapshot.description.clone()))
        .bind(col(rows, |r| r.snapshot.status.clone()))
        .bind(col(rows, |r| r.snapshot.workflow.clone()))
        .bind(col(rows, |r| r.snapshot.customer_name.clone()))
        .bind(col(rows, |r| r.snapshot.contact_external_id.clone()))
        .bind(col(rows, |r| r.snapshot.address.line1.clone()))
        .bind(col(rows, |r| r.snapshot.address.line2.clone()))
        .bind(col(rows, |r| r.snapshot.address.city.clone()))
        .bind(col(rows, |r| r.snapshot.address.state.clone()))
        .bind(col(rows, |r| r.snapshot.address.zip.clone()))
        .bind(col(rows, |r| r.snapshot.address.country.clone()))
        .bind(col(rows, |r| r.snapshot.sales_rep_name.clone()))
        .bind(col(rows, |r| r.snapshot.remote_created_at))
        .bind(col(rows, |r| r.snapshot.remote_updated_at))
        .bind(col(rows, |r| r.snapshot.status_changed_at))
        .bind(col(rows, |r| r.first_seen_at))
        .bind(col(rows, |r| r.last_seen_at))
        .bind(col(rows, |r| r.version))
        .bind(col(rows, |r| r.position))
        .bind(col(rows, |r| r.snapshot.started_at))
        .bind(col(rows, |r| r.snapshot.completed_at))
        .bind(col(rows, |r| r.snapshot.is_archived))
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(super) async fn set_active_flags(
        tx: &mut Transaction<'static, Postgres>,
        flags: &[FlagWrite],
    ) -> Result<(), sqlx::Error> {
        if flags.is_empty() {
            return Ok(());
        }
        let conn: &mut PgConnection = tx;
        // `<=`: the row write of the same batch may already have moved the version here.
        // Nulls in `is_active` / `last_seen_at` keep the column; `set_vanished` says whether
        // `vanished_at` (null meaning "listed again") applies.
        sqlx::query(
            "update job_mirror m
             set is_active = coalesce(t.is_active, m.is_active),
                 vanished_at = case when t.set_vanished then t.vanished_at else m.vanished_at end,
                 last_seen_at = coalesce(t.last_seen_at, m.last_seen_at),
                 version = t.version, last_position = t.last_position
             from unnest($1::text[], $2::bool[], $3::bool[], $4::timestamptz[],
                         $5::timestamptz[], $6::bigint[], $7::bigint[])
                  as t(job_id, is_active, set_vanished, vanished_at, last_seen_at, version,
                       last_position)
             where m.job_id = t.job_id and m.version <= t.version",
        )
        .bind(col(flags, |f| f.job_id.clone()))
        .bind(col(flags, |f| f.is_active))
        .bind(col(flags, |f| f.vanished_at.is_some()))
        .bind(col(flags, |f| f.vanished_at.flatten()))
        .bind(col(flags, |f| f.last_seen_at))
        .bind(col(flags, |f| f.version))
        .bind(col(flags, |f| f.position))
        .execute(conn)
        .await?;
        Ok(())
    }
}

mod sqlite {
    use sqlx::{Sqlite, SqliteConnection, Transaction};

    use super::{FlagWrite, RowWrite};

    pub(super) async fn upsert_rows(
        tx: &mut Transaction<'static, Sqlite>,
        rows: &[RowWrite],
    ) -> Result<(), sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        for r in rows {
            let s = &r.snapshot;
            sqlx::query(concat!(
                insert_into_mirror!(),
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     ?, 1)
                 ",
                upsert_on_conflict!()
            ))
            .bind(r.id.as_str())
            .bind(r.id.source().as_str())
            .bind(r.id.external_id())
            .bind(&s.number)
            .bind(&s.name)
            .bind(&s.description)
            .bind(&s.status)
            .bind(&s.workflow)
            .bind(&s.customer_name)
            .bind(&s.contact_external_id)
            .bind(&s.address.line1)
            .bind(&s.address.line2)
            .bind(&s.address.city)
            .bind(&s.address.state)
            .bind(&s.address.zip)
            .bind(&s.address.country)
            .bind(&s.sales_rep_name)
            .bind(s.remote_created_at)
            .bind(s.remote_updated_at)
            .bind(s.status_changed_at)
            .bind(r.first_seen_at)
            .bind(r.last_seen_at)
            .bind(r.version)
            .bind(r.position)
            .bind(s.started_at)
            .bind(s.completed_at)
            .bind(s.is_archived)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn set_active_flags(
        tx: &mut Transaction<'static, Sqlite>,
        flags: &[FlagWrite],
    ) -> Result<(), sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        for f in flags {
            sqlx::query(
                "update job_mirror
                 set is_active = coalesce(?, is_active),
                     vanished_at = case when ? then ? else vanished_at end,
                     last_seen_at = coalesce(?, last_seen_at),
                     version = ?, last_position = ?
                 where job_id = ? and version <= ?",
            )
            .bind(f.is_active)
            .bind(f.vanished_at.is_some())
            .bind(f.vanished_at.flatten())
            .bind(f.last_seen_at)
            .bind(f.version)
            .bind(f.position)
            .bind(&f.job_id)
            .bind(f.version)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
