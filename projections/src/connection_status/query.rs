//! Reads of `jobber_connections` for the status endpoint and the refresh scheduler.

use adapters::store::{Db, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use domain::{ConnectionStatus, RevokeCause, SecretVersion, UserId};

/// One Jobber connection as the read model holds it. No token: only the vault's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    pub connection_id: String,
    pub user_id: UserId,
    pub status: ConnectionStatus,
    /// The vault version holding the live tokens; `None` once revoked.
    pub secret_version: Option<SecretVersion>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub last_failure_reason: Option<String>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// End of the cooldown after a failed refresh.
    pub retry_not_before: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_cause: Option<RevokeCause>,
    /// The first grant's time.
    pub created_at: DateTime<Utc>,
    /// The last event's time.
    pub updated_at: DateTime<Utc>,
}

impl ConnectionRow {
    /// The seed's `hasValidToken`: authenticated, and the access token not yet expired.
    pub fn has_valid_token(&self, now: DateTime<Utc>) -> bool {
        self.status == ConnectionStatus::Authenticated
            && self.access_expires_at.is_some_and(|expires| now < expires)
    }
}

/// The row as stored, before its text columns are read back into domain values.
#[derive(sqlx::FromRow)]
struct RawRow {
    connection_id: String,
    user_id: String,
    status: String,
    secret_version: Option<i64>,
    access_expires_at: Option<DateTime<Utc>>,
    account_id: Option<String>,
    account_name: Option<String>,
    last_refreshed_at: Option<DateTime<Utc>>,
    last_failure_reason: Option<String>,
    last_failure_at: Option<DateTime<Utc>>,
    retry_not_before: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoke_cause: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "connection_id, user_id, status, secret_version, access_expires_at,
    account_id, account_name, last_refreshed_at, last_failure_reason, last_failure_at,
    retry_not_before, revoked_at, revoke_cause, created_at, updated_at";

/// The connection of `user_id`, or `None` if the user never connected.
pub async fn get(db: &Db, user_id: &UserId) -> Result<Option<ConnectionRow>, StoreError> {
    let sql = format!("select {COLUMNS} from jobber_connections where user_id = $1");
    let raw: Option<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&sql)
                .bind(user_id.as_str())
                .fetch_optional(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(&sql)
                .bind(user_id.as_str())
                .fetch_optional(pool)
                .await?
        }
    };
    raw.map(ConnectionRow::try_from).transpose()
}

/// Up to `limit` authenticated connections whose access token expires within `margin` of
/// `now` and whose cooldown (if any) is over, soonest expiry first: the refresh scheduler's
/// work list. The aggregate decides again when commanded; this only narrows the search.
pub async fn due_for_refresh(
    db: &Db,
    now: DateTime<Utc>,
    margin: TimeDelta,
    limit: i64,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let sql = format!(
        "select {COLUMNS} from jobber_connections
         where status = $1 and access_expires_at <= $2
           and (retry_not_before is null or retry_not_before <= $3)
         order by access_expires_at, connection_id
         limit $4"
    );
    let status = ConnectionStatus::Authenticated.as_str();
    let horizon = now + margin;
    let raw: Vec<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&sql)
                .bind(status)
                .bind(horizon)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(&sql)
                .bind(status)
                .bind(horizon)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
    };
    raw.into_iter().map(ConnectionRow::try_from).collect()
}

/// The connections to Jobber account `account_id` that are not revoked: whom an
/// `APP_DISCONNECT` of that account concerns.
pub async fn live_of_account(db: &Db, account_id: &str) -> Result<Vec<ConnectionRow>, StoreError> {
    let sql = format!(
        "select {COLUMNS} from jobber_connections
         where account_id = $1 and status <> $2
         order by connection_id"
    );
    let revoked = ConnectionStatus::Revoked.as_str();
    let raw: Vec<RawRow> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&sql)
                .bind(account_id)
                .bind(revoked)
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(&sql)
                .bind(account_id)
                .bind(revoked)
                .fetch_all(pool)
                .await?
        }
    };
    raw.into_iter().map(ConnectionRow::try_from).collect()
}

impl TryFrom<RawRow> for ConnectionRow {
    type Error = StoreError;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let user_id = raw
            .user_id
            .parse::<UserId>()
            .map_err(|_| undecodable("user_id", &raw.user_id))?;
        let status = ConnectionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.status)
            .ok_or_else(|| undecodable("status", &raw.status))?;
        let revoke_cause = raw
            .revoke_cause
            .map(|text| {
                RevokeCause::ALL
                    .into_iter()
                    .find(|c| c.as_str() == text)
                    .ok_or_else(|| undecodable("revoke_cause", &text))
            })
            .transpose()?;
        let secret_version = raw
            .secret_version
            .map(|v| {
                u64::try_from(v)
                    .map(SecretVersion::new)
                    .map_err(|_| undecodable("secret_version", &v.to_string()))
            })
            .transpose()?;
        Ok(ConnectionRow {
            connection_id: raw.connection_id,
            user_id,
            status,
            secret_version,
            access_expires_at: raw.access_expires_at,
            account_id: raw.account_id,
            account_name: raw.account_name,
            last_refreshed_at: raw.last_refreshed_at,
            last_failure_reason: raw.last_failure_reason,
            last_failure_at: raw.last_failure_at,
            retry_not_before: raw.retry_not_before,
            revoked_at: raw.revoked_at,
            revoke_cause,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }
}

fn undecodable(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?} in jobber_connections").into(),
    })
}
