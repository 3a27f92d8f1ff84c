//! Jobber connections as the status endpoint and the refresh scheduler see them: one row per
//! `Connection` aggregate in `jobber_connections`.
//!
//! Every time in a row is an event's time, never the projection's clock, so a rebuild gives
//! the same rows. Every write is guarded by the aggregate's event sequence, so replaying
//! events already applied changes nothing.

pub mod query;

use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;
use cqrs_es::Aggregate;
use domain::{Connection, ConnectionEvent, ConnectionId, ConnectionStatus};

use crate::{Projection, ProjectionError};

pub struct ConnectionStatusView;

pub const NAME: &str = "connection_status";

#[async_trait]
impl Projection for ConnectionStatusView {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["jobber_connections"]
    }

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        // One statement per event: a connection has a few events an hour, so folding a
        // batch would buy nothing.
        for stored in events
            .iter()
            .filter(|e| e.aggregate_type == Connection::TYPE)
        {
            let event: ConnectionEvent =
                serde_json::from_str(&stored.payload).map_err(|source| {
                    ProjectionError::Decode {
                        event_type: stored.event_type.clone(),
                        aggregate_id: stored.aggregate_id.clone(),
                        source,
                    }
                })?;
            let id = stored.aggregate_id.parse::<ConnectionId>().map_err(|_| {
                ProjectionError::InvalidId {
                    aggregate_id: stored.aggregate_id.clone(),
                }
            })?;
            let at = At {
                id: &id,
                version: stored.sequence,
                position: stored.position.global_position,
            };
            apply_event(tx, &at, event).await?;
        }
        Ok(())
    }
}

/// The event being applied: which connection, and its place in the aggregate's stream and
/// in the log.
struct At<'a> {
    id: &'a ConnectionId,
    /// The event's sequence; a row whose version is already this far took the event.
    version: i64,
    position: i64,
}

/// Runs one statement on whichever backend `tx` is. The SQL text is shared: sqlx binds
/// `$n` placeholders on SQLite too.
macro_rules! execute {
    ($tx:expr, $query:expr) => {
        match $tx {
            DbTx::Postgres(tx) => {
                $query.execute(&mut **tx).await?;
            }
            DbTx::Sqlite(tx) => {
                $query.execute(&mut **tx).await?;
            }
        }
    };
}

/// Versions are positive and far below 2^63; saturating beats failing the projection.
fn stored(version: domain::SecretVersion) -> i64 {
    i64::try_from(version.get()).unwrap_or(i64::MAX)
}

async fn apply_event(
    tx: &mut DbTx,
    at: &At<'_>,
    event: ConnectionEvent,
) -> Result<(), sqlx::Error> {
    let occurred_at = event.occurred_at();
    match event {
        ConnectionEvent::TokensGranted {
            secret_version,
            access_expires_at,
            account_id,
            account_name,
            granted_at,
        } => {
            execute!(
                tx,
                // The first grant creates the row; a reconnection clears what the revoke or
                // the dead grant left, and keeps created_at and the failure history.
                sqlx::query(
                    "insert into jobber_connections (connection_id, user_id, status,
                         secret_version, access_expires_at, account_id, account_name,
                         created_at, updated_at, version, last_position)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
                     on conflict (connection_id) do update set
                         status = excluded.status, secret_version = excluded.secret_version,
                         access_expires_at = excluded.access_expires_at,
                         account_id = excluded.account_id,
                         account_name = excluded.account_name,
                         retry_not_before = null, revoked_at = null, revoke_cause = null,
                         updated_at = excluded.updated_at, version = excluded.version,
                         last_position = excluded.last_position
                     where jobber_connections.version < excluded.version",
                )
                .bind(at.id.as_str())
                .bind(at.id.user_id().as_str())
                .bind(ConnectionStatus::Authenticated.as_str())
                .bind(stored(secret_version))
                .bind(access_expires_at)
                .bind(account_id)
                .bind(account_name)
                .bind(granted_at)
                .bind(at.version)
                .bind(at.position)
            );
        }
        ConnectionEvent::TokensRefreshed {
            secret_version,
            access_expires_at,
            refreshed_at,
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update jobber_connections
                     set status = $2, secret_version = $3, access_expires_at = $4,
                         last_refreshed_at = $5, retry_not_before = null, updated_at = $5,
                         version = $6, last_position = $7
                     where connection_id = $1 and version < $6",
                )
                .bind(at.id.as_str())
                .bind(ConnectionStatus::Authenticated.as_str())
                .bind(stored(secret_version))
                .bind(access_expires_at)
                .bind(refreshed_at)
                .bind(at.version)
                .bind(at.position)
            );
        }
        ConnectionEvent::RefreshFailed {
            reason,
            retry_not_before,
            failed_at,
            ..
        } => {
            execute!(
                tx,
                sqlx::query(
                    "update jobber_connections
                     set last_failure_reason = $2, last_failure_at = $3, retry_not_before = $4,
                         updated_at = $3, version = $5, last_position = $6
                     where connection_id = $1 and version < $5",
                )
                .bind(at.id.as_str())
                .bind(reason)
                .bind(failed_at)
                .bind(retry_not_before)
                .bind(at.version)
                .bind(at.position)
            );
        }
        ConnectionEvent::ConnectionNeedsReauth { .. } => {
            execute!(
                tx,
                sqlx::query(
                    "update jobber_connections
                     set status = $2, updated_at = $3, version = $4, last_position = $5
                     where connection_id = $1 and version < $4",
                )
                .bind(at.id.as_str())
                .bind(ConnectionStatus::NeedsReauth.as_str())
                .bind(occurred_at)
                .bind(at.version)
                .bind(at.position)
            );
        }
        ConnectionEvent::ConnectionRevoked { cause, revoked_at } => {
            execute!(
                tx,
                // The tokens were shredded: the row no longer claims a version or an expiry.
                sqlx::query(
                    "update jobber_connections
                     set status = $2, secret_version = null, access_expires_at = null,
                         retry_not_before = null, revoked_at = $3, revoke_cause = $4,
                         updated_at = $3, version = $5, last_position = $6
                     where connection_id = $1 and version < $5",
                )
                .bind(at.id.as_str())
                .bind(ConnectionStatus::Revoked.as_str())
                .bind(revoked_at)
                .bind(cause.as_str())
                .bind(at.version)
                .bind(at.position)
            );
        }
    }
    Ok(())
}
