//! The local mirror of CRM contacts: one row per `Contact` aggregate, the fields as the CRM
//! last showed them, whether the CRM still has the contact active, and when a complete scan
//! last failed to list it.

pub mod query;

use std::collections::HashMap;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Contact, ContactEvent, ContactId, ContactSnapshot};

use crate::{Projection, ProjectionError};

pub struct ContactMirror;

pub const NAME: &str = "contact_mirror";

#[async_trait]
impl Projection for ContactMirror {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["contact_mirror"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let (rows, flags) = fold(events)?;
        match tx {
            DbTx::Postgres(tx) => {
                postgres::upsert_rows(tx, &rows).await?;
                postgres::set_flags(tx, &flags).await?;
            }
            DbTx::Sqlite(tx) => {
                sqlite::upsert_rows(tx, &rows).await?;
                sqlite::set_flags(tx, &flags).await?;
            }
        }
        Ok(())
    }
}

/// The insert half of the mirror's upsert, shared by both backends; `is_active` comes last
/// because new rows always start active, and `vanished_at` is left out because new rows
/// are always listed.
macro_rules! insert_into_mirror {
    () => {
        "insert into contact_mirror (contact_id, source, external_id, number, first_name,
             last_name, display_name, company, email, home_phone, mobile_phone, work_phone,
             address_line1, address_line2, city, state, zip, country, status, workflow,
             source_name, sales_rep_name, remote_created_at, remote_updated_at, first_seen_at,
             last_seen_at, version, last_position, is_active)"
    };
}

/// The update half of the mirror's upsert, shared by both backends: every mirrored field
/// takes the new value, `first_seen_at`, `is_active` and `vanished_at` keep theirs, and the
/// version guard makes a replayed batch a no-op.
macro_rules! upsert_on_conflict {
    () => {
        "on conflict (contact_id) do update set
             number = excluded.number, first_name = excluded.first_name,
             last_name = excluded.last_name, display_name = excluded.display_name,
             company = excluded.company, email = excluded.email,
             home_phone = excluded.home_phone, mobile_phone = excluded.mobile_phone,
             work_phone = excluded.work_phone,
             address_line1 = excluded.address_line1, address_line2 = excluded.address_line2,
             city = excluded.city, state = excluded.state, zip = excluded.zip,
             country = excluded.country, status = excluded.status,
             workflow = excluded.workflow, source_name = excluded.source_name,
             sales_rep_name = excluded.sales_rep_name,
             remote_created_at = excluded.remote_created_at,
             remote_updated_at = excluded.remote_updated_at,
             last_seen_at = excluded.last_seen_at, version = excluded.version,
             last_position = excluded.last_position
         where contact_mirror.version < excluded.version"
    };
}

/// A contact's full row, written when the batch holds a snapshot event for it.
struct RowWrite {
    id: ContactId,
    snapshot: ContactSnapshot,
    /// When first recorded; only used if the row does not exist yet.
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    version: i64,
    position: i64,
}

/// A change of the CRM's active flag or of the vanished mark, applied after the row writes
/// of the same batch. `None` leaves the column as it is.
struct FlagWrite {
    contact_id: String,
    is_active: Option<bool>,
    /// `Some(Some(at))`: vanished at `at`; `Some(None)`: listed again.
    vanished_at: Option<Option<DateTime<Utc>>>,
    last_seen_at: Option<DateTime<Utc>>,
    version: i64,
    position: i64,
}

#[derive(Default)]
struct Pending {
    snapshot: Option<(ContactSnapshot, DateTime<Utc>)>,
    is_active: Option<bool>,
    vanished_at: Option<Option<DateTime<Utc>>>,
    last_seen_at: Option<DateTime<Utc>>,
    version: i64,
    position: i64,
}

/// Folds a batch into at most one row write and one flag write per contact, so a contact
/// touched many times in a batch costs one statement row, not many.
fn fold(events: &[StoredEvent]) -> Result<(Vec<RowWrite>, Vec<FlagWrite>), ProjectionError> {
    let mut pending: HashMap<&str, Pending> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for stored in events.iter().filter(|e| e.aggregate_type == Contact::TYPE) {
        let event: ContactEvent =
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
            ContactEvent::ContactSnapshotRecorded {
                snapshot,
                observed_at,
            } => {
                // A new row is inserted active and listed; only later toggles need a flag
                // write.
                entry.snapshot = Some((snapshot, observed_at));
                entry.last_seen_at = Some(observed_at);
            }
            ContactEvent::ContactSnapshotChanged {
                snapshot,
                observed_at,
                ..
            } => {
                let first_seen = entry.snapshot.as_ref().map_or(observed_at, |s| s.1);
                entry.snapshot = Some((snapshot, first_seen));
                entry.last_seen_at = Some(observed_at);
            }
            ContactEvent::ContactDeactivated { observed_at } => {
                entry.is_active = Some(false);
                entry.last_seen_at = Some(observed_at);
            }
            ContactEvent::ContactReactivated { observed_at } => {
                entry.is_active = Some(true);
                entry.last_seen_at = Some(observed_at);
            }
            // Not listed is not seen: last_seen_at stays.
            ContactEvent::ContactVanished { observed_at } => {
                entry.vanished_at = Some(Some(observed_at))
            }
            ContactEvent::ContactReappeared { observed_at } => {
                entry.vanished_at = Some(None);
                entry.last_seen_at = Some(observed_at);
            }
        }
    }

    let mut rows = Vec::new();
    let mut flags = Vec::new();
    for contact_id in order {
        let Some(p) = pending.remove(contact_id) else {
            continue;
        };
        if let Some((snapshot, first_seen_at)) = p.snapshot {
            // Every snapshot event also sets last_seen_at.
            let last_seen_at = p.last_seen_at.unwrap_or(first_seen_at);
            let id = contact_id
                .parse::<ContactId>()
                .map_err(|_| ProjectionError::InvalidId {
                    aggregate_id: contact_id.to_string(),
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
        if p.is_active.is_some() || p.vanished_at.is_some() {
            flags.push(FlagWrite {
                contact_id: contact_id.to_string(),
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
        // One statement for the whole batch (arrays through unnest). New rows start active
        // and listed; the flag writes that follow set the batch's final flags. The version
        // guard makes a replayed batch a no-op.
        sqlx::query(concat!(
            insert_into_mirror!(),
            " select t.*, true from unnest($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                 $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
                 $23::timestamptz[], $24::timestamptz[], $25::timestamptz[], $26::timestamptz[],
                 $27::bigint[], $28::bigint[]) as t
             ",
            upsert_on_conflict!()
        ))
        .bind(col(rows, |r| r.id.as_str().to_string()))
        .bind(col(rows, |r| r.id.source().as_str().to_string()))
        .bind(col(rows, |r| r.id.external_id().to_string()))
        .bind(col(rows, |r| r.snapshot.number.clone()))
        .bind(col(rows, |r| r.snapshot.first_name.clone()))
        .bind(col(rows, |r| r.snapshot.last_name.clone()))
        .bind(col(rows, |r| r.snapshot.display_name.clone()))
        .bind(col(rows, |r| r.snapshot.company.clone()))
        .bind(col(rows, |r| r.snapshot.email.clone()))
        .bind(col(rows, |r| r.snapshot.home_phone.clone()))
        .bind(col(rows, |r| r.snapshot.mobile_phone.clone()))
        .bind(col(rows, |r| r.snapshot.work_phone.clone()))
        .bind(col(rows, |r| r.snapshot.address.line1.clone()))
        .bind(col(rows, |r| r.snapshot.address.line2.clone()))
        .bind(col(rows, |r| r.snapshot.address.city.clone()))
        .bind(col(rows, |r| r.snapshot.address.state.clone()))
        .bind(col(rows, |r| r.snapshot.address.zip.clone()))
        .bind(col(rows, |r| r.snapshot.address.country.clone()))
        .bind(col(rows, |r| r.snapshot.status.clone()))
        .bind(col(rows, |r| r.snapshot.workflow.clone()))
        .bind(col(rows, |r| r.snapshot.source_name.clone()))
        .bind(col(rows, |r| r.snapshot.sales_rep_name.clone()))
        .bind(col(rows, |r| r.snapshot.remote_created_at))
        .bind(col(rows, |r| r.snapshot.remote_updated_at))
        .bind(col(rows, |r| r.first_seen_at))
        .bind(col(rows, |r| r.last_seen_at))
        .bind(col(rows, |r| r.version))
        .bind(col(rows, |r| r.position))
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(super) async fn set_flags(
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
            "update contact_mirror m
             set is_active = coalesce(t.is_active, m.is_active),
                 vanished_at = case when t.set_vanished then t.vanished_at else m.vanished_at end,
                 last_seen_at = coalesce(t.last_seen_at, m.last_seen_at),
                 version = t.version, last_position = t.last_position
             from unnest($1::text[], $2::bool[], $3::bool[], $4::timestamptz[],
                         $5::timestamptz[], $6::bigint[], $7::bigint[])
                  as t(contact_id, is_active, set_vanished, vanished_at, last_seen_at, version,
                       last_position)
             where m.contact_id = t.contact_id and m.version <= t.version",
        )
        .bind(col(flags, |f| f.contact_id.clone()))
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
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     ?, ?, ?, ?, 1)
                 ",
                upsert_on_conflict!()
            ))
            .bind(r.id.as_str())
            .bind(r.id.source().as_str())
            .bind(r.id.external_id())
            .bind(&s.number)
            .bind(&s.first_name)
            .bind(&s.last_name)
            .bind(&s.display_name)
            .bind(&s.company)
            .bind(&s.email)
            .bind(&s.home_phone)
            .bind(&s.mobile_phone)
            .bind(&s.work_phone)
            .bind(&s.address.line1)
            .bind(&s.address.line2)
            .bind(&s.address.city)
            .bind(&s.address.state)
            .bind(&s.address.zip)
            .bind(&s.address.country)
            .bind(&s.status)
            .bind(&s.workflow)
            .bind(&s.source_name)
            .bind(&s.sales_rep_name)
            .bind(s.remote_created_at)
            .bind(s.remote_updated_at)
            .bind(r.first_seen_at)
            .bind(r.last_seen_at)
            .bind(r.version)
            .bind(r.position)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn set_flags(
        tx: &mut Transaction<'static, Sqlite>,
        flags: &[FlagWrite],
    ) -> Result<(), sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        for f in flags {
            sqlx::query(
                "update contact_mirror
                 set is_active = coalesce(?, is_active),
                     vanished_at = case when ? then ? else vanished_at end,
                     last_seen_at = coalesce(?, last_seen_at),
                     version = ?, last_position = ?
                 where contact_id = ? and version <= ?",
            )
            .bind(f.is_active)
            .bind(f.vanished_at.is_some())
            .bind(f.vanished_at.flatten())
            .bind(f.last_seen_at)
            .bind(f.version)
            .bind(f.position)
            .bind(&f.contact_id)
            .bind(f.version)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
