//! Jobber connections as a use case: start and finish the OAuth flow, refresh tokens
//! safely, disconnect. The only place that sees plaintext tokens besides the vault.
//!
//! Order of effects, everywhere: talk to Jobber, put what it issued in the vault, then
//! record the fact as an event. A refresh token Jobber rotated is dead the moment it
//! answers, so the new pair is stored before anything else can fail; the event only says
//! which vault version is current.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::AggregateError;
use domain::{
    Connection, ConnectionCommand, ConnectionError, ConnectionId, ConnectionStatus, RevokeCause,
    SecretVersion, UserId,
};
use secrecy::SecretString;

use super::oauth_state::{OAuthStates, StateCheck};
use super::{GraphqlClient, IssuedTokens, JobberError, OAuthClient};
use crate::store::{AppendSignal, BatchExecutor, CommandBus, Db, LogPosition, StoreError};
use crate::vault::{RefreshGuard, TokenSet, TokenVault, VaultError};

/// Timing rules of refreshes.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Refresh this long before the access token expires.
    pub margin: TimeDelta,
    /// After a failed refresh, no new attempt before this much time has passed.
    pub failure_cooldown: TimeDelta,
    /// A refresh asked for within this time of the last one reuses it: a burst of
    /// "refresh" calls (or of 401s) makes one call to Jobber, not one each.
    pub coalesce_within: TimeDelta,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: TimeDelta::minutes(5),
            failure_cooldown: TimeDelta::minutes(5),
            coalesce_within: TimeDelta::seconds(60),
        }
    }
}

/// Why a refresh was asked for; only a rejected token overrides coalescing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTrigger {
    /// The refresh endpoint.
    Requested,
    /// The scheduler found the token close to expiry.
    Proactive,
    /// Jobber refused the access token (401).
    Rejected,
}

/// What a refresh call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Jobber issued a new pair, stored as this version.
    Refreshed(SecretVersion),
    /// Another caller (in this instance or another) refreshed moments ago; its tokens are
    /// current and Jobber was not called again.
    AlreadyFresh(SecretVersion),
}

/// A failed step of a connection use case.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionFailure {
    #[error("Missing code or state in callback")]
    MissingCodeOrState,
    #[error("the OAuth state is not one we issued")]
    UnknownState,
    #[error("the OAuth state was already used")]
    ReusedState,
    #[error("the OAuth state expired; start the authorisation again")]
    ExpiredState,
    #[error("the OAuth state was issued for another user")]
    StateUserMismatch,
    #[error("user {0} has no Jobber connection")]
    NotConnected(UserId),
    #[error("the Jobber connection of user {0} needs to be authorised again")]
    NeedsReauth(UserId),
    #[error("the last refresh of user {user} failed; next attempt allowed at {retry_at}")]
    CoolingDown {
        user: UserId,
        retry_at: DateTime<Utc>,
    },
    #[error(transparent)]
    Jobber(#[from] JobberError),
    #[error("token vault: {0}")]
    Vault(#[from] VaultError),
    #[error("event store: {0}")]
    Store(String),
}

impl From<StoreError> for ConnectionFailure {
    fn from(error: StoreError) -> Self {
        ConnectionFailure::Store(error.to_string())
    }
}

impl From<AggregateError<ConnectionError>> for ConnectionFailure {
    fn from(error: AggregateError<ConnectionError>) -> Self {
        ConnectionFailure::Store(error.to_string())
    }
}

/// A finished authorisation.
#[derive(Debug, Clone)]
pub struct Connected {
    pub user: UserId,
    pub account_name: Option<String>,
    pub position: Option<LogPosition>,
}

/// What a refresh sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefreshSweep {
    pub due: usize,
    pub refreshed: usize,
    pub failed: usize,
}

/// Jobber connections of every user of this service.
#[derive(Clone)]
pub struct JobberConnections {
    inner: Arc<Inner>,
}

struct Inner {
    oauth: OAuthClient,
    graphql: GraphqlClient,
    vault: TokenVault,
    states: OAuthStates,
    bus: CommandBus<Connection>,
    state_loader: BatchExecutor<Connection>,
    policy: RefreshPolicy,
}

impl JobberConnections {
    pub fn new(
        db: &Db,
        signal: &AppendSignal,
        oauth: OAuthClient,
        graphql: GraphqlClient,
        vault: TokenVault,
        policy: RefreshPolicy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                oauth,
                graphql,
                vault,
                states: OAuthStates::new(db, "jobber"),
                bus: CommandBus::new(db, signal),
                state_loader: BatchExecutor::new(db, signal),
                policy,
            }),
        }
    }

    /// Starts the flow for `user`: a fresh single-use state bound to them, and the URL of
    /// Jobber's consent page to send them to.
    pub async fn begin(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<String, ConnectionFailure> {
        let state = self.inner.states.issue(user.as_str(), now).await?;
        Ok(self.inner.oauth.authorize_url(&state))
    }

    /// Finishes the flow from the callback's parameters. Nothing is stored unless the state
    /// is ours, unused, in time and (when the callback names one) for the same user.
    pub async fn complete(
        &self,
        code: Option<&str>,
        state: Option<&str>,
        expected_user: Option<&UserId>,
        now: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<Connected, ConnectionFailure> {
        let (Some(code), Some(state)) = (non_empty(code), non_empty(state)) else {
            return Err(ConnectionFailure::MissingCodeOrState);
        };
        let user = match self.inner.states.redeem(state, now).await? {
            StateCheck::Valid { user_id } => UserId::try_from(user_id).map_err(|_| {
                ConnectionFailure::Store("stored state names an invalid user".into())
            })?,
            StateCheck::Unknown => return Err(ConnectionFailure::UnknownState),
            StateCheck::Reused => return Err(ConnectionFailure::ReusedState),
            StateCheck::Expired => return Err(ConnectionFailure::ExpiredState),
        };
        if expected_user.is_some_and(|expected| expected != &user) {
            return Err(ConnectionFailure::StateUserMismatch);
        }
        let issued = self.inner.oauth.exchange_code(code, now).await?;
        // Which account was connected is worth showing but not worth failing the grant:
        // the tokens are valid and the code is spent.
        let account = match self.inner.graphql.account(&issued.access_token).await {
            Ok(account) => Some(account),
            Err(error) => {
                tracing::warn!(user = %user, error = %error, "could not read the Jobber account after a grant");
                None
            }
        };
        let id = ConnectionId::jobber_user(&user);
        let version = self.inner.vault.store(&id, &token_set(&issued)).await?;
        let position = self
            .inner
            .bus
            .execute(
                id.as_str(),
                ConnectionCommand::RecordGrant {
                    secret_version: version,
                    access_expires_at: issued.access_expires_at,
                    account_id: account.as_ref().map(|a| a.id.clone()),
                    account_name: account.as_ref().map(|a| a.name.clone()),
                    at: now,
                },
                metadata,
            )
            .await?;
        Ok(Connected {
            user,
            account_name: account.map(|a| a.name),
            position,
        })
    }

    /// The connection's state as its events say (an unknown user is `NeverConnected`).
    pub async fn state(&self, user: &UserId) -> Result<Connection, ConnectionFailure> {
        let id = ConnectionId::jobber_user(user);
        Ok(self.inner.state_loader.load_one(id.as_str()).await?)
    }

    /// Refreshes `user`'s tokens, at most once across every caller and instance racing for
    /// it: callers queue on the vault's refresh lock, and whoever gets it after a fresh
    /// refresh reuses that one instead of calling Jobber again.
    pub async fn refresh(
        &self,
        user: &UserId,
        trigger: RefreshTrigger,
        now: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<(RefreshOutcome, Option<LogPosition>), ConnectionFailure> {
        let before = self.state(user).await?;
        self.usable(user, &before, now)?;
        let id = ConnectionId::jobber_user(user);
        let guard = self.inner.vault.lock_for_refresh(&id).await?;
        let Some((version, tokens)) = guard.current() else {
            return Err(ConnectionFailure::NotConnected(user.clone()));
        };
        if let Some(fresh) = self.reusable(&before, version, trigger, now) {
            return Ok((RefreshOutcome::AlreadyFresh(fresh), None));
        }
        let refresh_token = tokens.refresh_token.clone();
        self.redeem(guard, &id, &refresh_token, now, metadata).await
    }

    /// A valid access token for `user`, refreshed first when it is due, then `call` with
    /// it; if Jobber still refuses the token, one refresh and one retry.
    pub async fn with_access_token<T, F, Fut>(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        call: F,
    ) -> Result<T, ConnectionFailure>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, JobberError>>,
    {
        let state = self.state(user).await?;
        if state.needs_refresh(now, self.inner.policy.margin) {
            self.refresh(user, RefreshTrigger::Proactive, now, HashMap::new())
                .await?;
        }
        let token = self.current_access_token(user).await?;
        match call(token).await {
            Err(JobberError::TokenRejected) => {
                self.refresh(user, RefreshTrigger::Rejected, now, HashMap::new())
                    .await?;
                let token = self.current_access_token(user).await?;
                Ok(call(token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Disconnects `user`: tells Jobber (`appDisconnect`), shreds the tokens, records the
    /// revocation. The tokens are shredded even when Jobber cannot be told: the user asked
    /// us to let go of them. Returns whether Jobber confirmed.
    pub async fn disconnect(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<(bool, Option<LogPosition>), ConnectionFailure> {
        let state = self.state(user).await?;
        if matches!(
            state.status(),
            ConnectionStatus::NeverConnected | ConnectionStatus::Revoked
        ) {
            return Err(ConnectionFailure::NotConnected(user.clone()));
        }
        let told_jobber = match self
            .with_access_token(user, now, |token| {
                let graphql = self.inner.graphql.clone();
                async move { graphql.app_disconnect(&token).await }
            })
            .await
        {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(user = %user, error = %error, "appDisconnect failed; shredding our tokens anyway");
                false
            }
        };
        let id = ConnectionId::jobber_user(user);
        // Under the refresh lock, so a refresh in flight cannot store new tokens after this.
        self.inner
            .vault
            .lock_for_refresh(&id)
            .await?
            .shred()
            .await?;
        let position = self
            .inner
            .bus
            .execute(
                id.as_str(),
                ConnectionCommand::Revoke {
                    cause: RevokeCause::UserDisconnected,
                    at: now,
                },
                metadata,
            )
            .await?;
        Ok((told_jobber, position))
    }

    /// How long before expiry a token counts as due (the read model's search horizon).
    pub fn refresh_margin(&self) -> TimeDelta {
        self.inner.policy.margin
    }

    /// The scheduler's step over `candidates` (the read model's due list): refreshes each
    /// that, by its aggregate, is authenticated, expires within the margin and is not
    /// cooling down after a failure. The read model only narrows the search; a candidate it
    /// listed stale is skipped here.
    pub async fn refresh_due(
        &self,
        candidates: impl IntoIterator<Item = UserId>,
        now: DateTime<Utc>,
    ) -> Result<RefreshSweep, ConnectionFailure> {
        let mut sweep = RefreshSweep::default();
        for user in candidates {
            let state = self.state(&user).await?;
            if state.status() != ConnectionStatus::Authenticated
                || state.in_cooldown(now)
                || !state.needs_refresh(now, self.inner.policy.margin)
            {
                continue;
            }
            sweep.due += 1;
            let metadata = HashMap::from([("actor".to_string(), "scheduler".to_string())]);
            match self
                .refresh(&user, RefreshTrigger::Proactive, now, metadata)
                .await
            {
                Ok(_) => sweep.refreshed += 1,
                Err(error) => {
                    sweep.failed += 1;
                    tracing::warn!(user = %user, error = %error, "scheduled Jobber token refresh failed");
                }
            }
        }
        Ok(sweep)
    }

    /// Whether a webhook body carries Jobber's signature under our client secret.
    pub fn webhook_signature_is_valid(&self, body: &[u8], signature: &str) -> bool {
        super::webhook::signature_is_valid(self.inner.oauth.client_secret(), body, signature)
    }

    /// `APP_DISCONNECT`: the user removed the app on Jobber's side and every token is
    /// already dead. Every live connection to that account is shredded and revoked; a
    /// repeated delivery finds them revoked and changes nothing. Returns how many were.
    ///
    /// `candidates` are the users the read model links to the account; each is checked
    /// against its aggregate before anything is shredded.
    pub async fn app_disconnected(
        &self,
        account_id: &str,
        candidates: impl IntoIterator<Item = UserId>,
        at: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<usize, ConnectionFailure> {
        let mut revoked = 0;
        for user in candidates {
            let id = ConnectionId::jobber_user(&user);
            let state = self.state(&user).await?;
            if state.account_id() != Some(account_id)
                || matches!(
                    state.status(),
                    ConnectionStatus::Revoked | ConnectionStatus::NeverConnected
                )
            {
                continue;
            }
            self.inner
                .vault
                .lock_for_refresh(&id)
                .await?
                .shred()
                .await?;
            self.inner
                .bus
                .execute(
                    id.as_str(),
                    ConnectionCommand::Revoke {
                        cause: RevokeCause::AppDisconnectWebhook,
                        at,
                    },
                    metadata.clone(),
                )
                .await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    /// Refuses a refresh the connection's state rules out.
    fn usable(
        &self,
        user: &UserId,
        state: &Connection,
        now: DateTime<Utc>,
    ) -> Result<(), ConnectionFailure> {
        match state.status() {
            ConnectionStatus::NeverConnected | ConnectionStatus::Revoked => {
                Err(ConnectionFailure::NotConnected(user.clone()))
            }
            ConnectionStatus::NeedsReauth => Err(ConnectionFailure::NeedsReauth(user.clone())),
            ConnectionStatus::Authenticated => match state.retry_not_before() {
                Some(retry_at) if state.in_cooldown(now) => Err(ConnectionFailure::CoolingDown {
                    user: user.clone(),
                    retry_at,
                }),
                _ => Ok(()),
            },
        }
    }

    /// Whether the tokens found under the lock make our own refresh pointless: someone
    /// stored a newer version after we looked, or the last refresh is moments old.
    fn reusable(
        &self,
        before: &Connection,
        stored: SecretVersion,
        trigger: RefreshTrigger,
        now: DateTime<Utc>,
    ) -> Option<SecretVersion> {
        if before.secret_version().is_some_and(|seen| stored > seen) {
            return Some(stored);
        }
        let recent = before
            .updated_at()
            .is_some_and(|at| now - at < self.inner.policy.coalesce_within);
        let token_refused = trigger == RefreshTrigger::Rejected;
        (recent && !token_refused && before.has_valid_token(now)).then_some(stored)
    }

    async fn redeem(
        &self,
        guard: RefreshGuard,
        id: &ConnectionId,
        refresh_token: &SecretString,
        now: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<(RefreshOutcome, Option<LogPosition>), ConnectionFailure> {
        match self.inner.oauth.refresh(refresh_token, now).await {
            Ok(issued) => {
                if let Some(warning) = &issued.warning {
                    tracing::warn!(connection = id.as_str(), warning, "Jobber token warning");
                }
                let version = guard.store(&token_set(&issued)).await?;
                let position = self
                    .inner
                    .bus
                    .execute(
                        id.as_str(),
                        ConnectionCommand::RecordRefresh {
                            secret_version: version,
                            access_expires_at: issued.access_expires_at,
                            at: now,
                        },
                        metadata,
                    )
                    .await?;
                Ok((RefreshOutcome::Refreshed(version), position))
            }
            Err(error) => {
                drop(guard);
                let grant_dead = matches!(error, JobberError::GrantRejected(_));
                self.inner
                    .bus
                    .execute(
                        id.as_str(),
                        ConnectionCommand::RecordRefreshFailure {
                            reason: error.to_string(),
                            grant_dead,
                            at: now,
                            retry_not_before: now + self.inner.policy.failure_cooldown,
                        },
                        metadata,
                    )
                    .await?;
                Err(error.into())
            }
        }
    }

    async fn current_access_token(&self, user: &UserId) -> Result<SecretString, ConnectionFailure> {
        let id = ConnectionId::jobber_user(user);
        match self.inner.vault.load(&id).await? {
            Some((_, tokens)) => Ok(tokens.access_token),
            None => Err(ConnectionFailure::NotConnected(user.clone())),
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn token_set(issued: &IssuedTokens) -> TokenSet {
    TokenSet::new(issued.access_token.clone(), issued.refresh_token.clone())
}
