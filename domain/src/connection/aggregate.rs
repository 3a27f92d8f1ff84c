use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::values::refresh_due;
use super::{ConnectionCommand, ConnectionError, ConnectionEvent, ConnectionStatus, SecretVersion};

/// One user's connection to a CRM.
///
/// Invariants: the recorded secret version only grows (a grant or refresh with an older or
/// equal version is refused), so every event names tokens newer than the ones before it;
/// a refresh needs a live grant (not never-connected, not revoked); `ConnectionNeedsReauth`
/// is emitted once per dead grant, not once per failed attempt; revoking twice records one
/// revocation.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    status: ConnectionStatus,
    secret_version: Option<SecretVersion>,
    access_expires_at: Option<DateTime<Utc>>,
    /// End of the cooldown after a failed refresh; cleared by a grant or a refresh.
    retry_not_before: Option<DateTime<Utc>>,
    account_id: Option<String>,
    account_name: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Connection {
    pub fn status(&self) -> ConnectionStatus {
        self.status
    }

    /// The newest secret version recorded; kept after a revoke so a reconnection must use a
    /// newer one.
    pub fn secret_version(&self) -> Option<SecretVersion> {
        self.secret_version
    }

    pub fn access_expires_at(&self) -> Option<DateTime<Utc>> {
        self.access_expires_at
    }

    pub fn retry_not_before(&self) -> Option<DateTime<Utc>> {
        self.retry_not_before
    }

    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    pub fn account_name(&self) -> Option<&str> {
        self.account_name.as_deref()
    }

    /// When the first grant was recorded.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// When the last event happened.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether we hold an access token the provider should accept at `now` (the seed's
    /// `hasValidToken`).
    pub fn has_valid_token(&self, now: DateTime<Utc>) -> bool {
        self.status == ConnectionStatus::Authenticated
            && self.access_expires_at.is_some_and(|expires| now < expires)
    }

    /// Whether a failed refresh's cooldown still runs at `now`.
    pub fn in_cooldown(&self, now: DateTime<Utc>) -> bool {
        self.retry_not_before.is_some_and(|end| now < end)
    }

    /// Whether a scheduler should refresh now: the grant is live, no cooldown runs, and the
    /// access token expires within `margin`. A dead grant is left alone: only the user can
    /// revive it.
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: TimeDelta) -> bool {
        self.status == ConnectionStatus::Authenticated
            && !self.in_cooldown(now)
            && self
                .access_expires_at
                .is_some_and(|expires| refresh_due(expires, now, margin))
    }

    fn ensure_newer(&self, offered: SecretVersion) -> Result<(), ConnectionError> {
        match self.secret_version {
            Some(current) if offered <= current => {
                Err(ConnectionError::StaleSecretVersion { current, offered })
            }
            _ => Ok(()),
        }
    }

    /// Refreshes and their failures need a grant that was not revoked.
    fn ensure_granted(&self) -> Result<(), ConnectionError> {
        match self.status {
            ConnectionStatus::NeverConnected => Err(ConnectionError::NotConnected),
            ConnectionStatus::Revoked => Err(ConnectionError::Revoked),
            ConnectionStatus::Authenticated | ConnectionStatus::NeedsReauth => Ok(()),
        }
    }
}

impl Aggregate for Connection {
    const TYPE: &'static str = "Connection";
    type Command = ConnectionCommand;
    type Event = ConnectionEvent;
    type Error = ConnectionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ConnectionCommand::RecordGrant {
                secret_version,
                access_expires_at,
                account_id,
                account_name,
                at,
            } => {
                // Any state may take a grant: it is how a dead or revoked connection comes
                // back, and how a user re-consents while still connected.
                self.ensure_newer(secret_version)?;
                let event = ConnectionEvent::TokensGranted {
                    secret_version,
                    access_expires_at,
                    account_id,
                    account_name,
                    granted_at: at,
                };
                sink.write(event, self).await;
            }
            ConnectionCommand::RecordRefresh {
                secret_version,
                access_expires_at,
                at,
            } => {
                // A refresh the provider accepted revives a connection we had marked
                // needs_reauth: the tokens in the vault are the proof.
                self.ensure_granted()?;
                self.ensure_newer(secret_version)?;
                let event = ConnectionEvent::TokensRefreshed {
                    secret_version,
                    access_expires_at,
                    refreshed_at: at,
                };
                sink.write(event, self).await;
            }
            ConnectionCommand::RecordRefreshFailure {
                reason,
                grant_dead,
                at,
                retry_not_before,
            } => {
                self.ensure_granted()?;
                // A failure during a cooldown (e.g. a reactive refresh on a 401) may not
                // shorten it.
                let retry_not_before = self
                    .retry_not_before
                    .map_or(retry_not_before, |current| current.max(retry_not_before));
                let newly_dead = grant_dead && self.status == ConnectionStatus::Authenticated;
                let event = ConnectionEvent::RefreshFailed {
                    reason,
                    grant_dead,
                    retry_not_before,
                    failed_at: at,
                };
                sink.write(event, self).await;
                if newly_dead {
                    sink.write(
                        ConnectionEvent::ConnectionNeedsReauth { detected_at: at },
                        self,
                    )
                    .await;
                }
            }
            ConnectionCommand::Revoke { cause, at } => match self.status {
                ConnectionStatus::NeverConnected => return Err(ConnectionError::NotConnected),
                ConnectionStatus::Revoked => {}
                ConnectionStatus::Authenticated | ConnectionStatus::NeedsReauth => {
                    let event = ConnectionEvent::ConnectionRevoked {
                        cause,
                        revoked_at: at,
                    };
                    sink.write(event, self).await;
                }
            },
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let at = event.occurred_at();
        self.updated_at = Some(at);
        match event {
            ConnectionEvent::TokensGranted {
                secret_version,
                access_expires_at,
                account_id,
                account_name,
                granted_at,
            } => {
                self.status = ConnectionStatus::Authenticated;
                self.secret_version = Some(secret_version);
                self.access_expires_at = Some(access_expires_at);
                self.retry_not_before = None;
                self.account_id = account_id;
                self.account_name = account_name;
                self.created_at.get_or_insert(granted_at);
            }
            ConnectionEvent::TokensRefreshed {
                secret_version,
                access_expires_at,
                ..
            } => {
                self.status = ConnectionStatus::Authenticated;
                self.secret_version = Some(secret_version);
                self.access_expires_at = Some(access_expires_at);
                self.retry_not_before = None;
            }
            ConnectionEvent::RefreshFailed {
                retry_not_before, ..
            } => self.retry_not_before = Some(retry_not_before),
            ConnectionEvent::ConnectionNeedsReauth { .. } => {
                self.status = ConnectionStatus::NeedsReauth;
            }
            ConnectionEvent::ConnectionRevoked { .. } => {
                self.status = ConnectionStatus::Revoked;
                // The tokens are shredded: no expiry or cooldown is meaningful any more.
                self.access_expires_at = None;
                self.retry_not_before = None;
            }
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::connection::RevokeCause;

    type ConnectionTest = TestFramework<Connection>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn v(version: u64) -> SecretVersion {
        SecretVersion::new(version)
    }

    fn grant(version: u64, time: i64) -> ConnectionCommand {
        ConnectionCommand::RecordGrant {
            secret_version: v(version),
            access_expires_at: at(time + 3600),
            account_id: Some("acct_1".into()),
            account_name: Some("Smith Roofing".into()),
            at: at(time),
        }
    }

    fn granted(version: u64, time: i64) -> ConnectionEvent {
        ConnectionEvent::TokensGranted {
            secret_version: v(version),
            access_expires_at: at(time + 3600),
            account_id: Some("acct_1".into()),
            account_name: Some("Smith Roofing".into()),
            granted_at: at(time),
        }
    }

    fn refresh(version: u64, time: i64) -> ConnectionCommand {
        ConnectionCommand::RecordRefresh {
            secret_version: v(version),
            access_expires_at: at(time + 3600),
            at: at(time),
        }
    }

    fn refreshed(version: u64, time: i64) -> ConnectionEvent {
        ConnectionEvent::TokensRefreshed {
            secret_version: v(version),
            access_expires_at: at(time + 3600),
            refreshed_at: at(time),
        }
    }

    fn failure(grant_dead: bool, time: i64, cooldown_end: i64) -> ConnectionCommand {
        ConnectionCommand::RecordRefreshFailure {
            reason: "invalid_grant".into(),
            grant_dead,
            at: at(time),
            retry_not_before: at(cooldown_end),
        }
    }

    fn failed(grant_dead: bool, time: i64, cooldown_end: i64) -> ConnectionEvent {
        ConnectionEvent::RefreshFailed {
            reason: "invalid_grant".into(),
            grant_dead,
            retry_not_before: at(cooldown_end),
            failed_at: at(time),
        }
    }

    fn revoke(time: i64) -> ConnectionCommand {
        ConnectionCommand::Revoke {
            cause: RevokeCause::UserDisconnected,
            at: at(time),
        }
    }

    fn revoked(time: i64) -> ConnectionEvent {
        ConnectionEvent::ConnectionRevoked {
            cause: RevokeCause::UserDisconnected,
            revoked_at: at(time),
        }
    }

    fn folded(events: Vec<ConnectionEvent>) -> Connection {
        let mut connection = Connection::default();
        for event in events {
            connection.apply(event);
        }
        connection
    }

    #[test]
    fn a_first_grant_records_the_secret_version_and_expiry_only() {
        ConnectionTest::with(())
            .given_no_previous_events()
            .when(grant(1, 0))
            .then_expect_events(vec![granted(1, 0)]);
    }

    #[test]
    fn a_refresh_with_a_newer_version_records_the_new_tokens() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0)])
            .when(refresh(2, 3300))
            .then_expect_events(vec![refreshed(2, 3300)]);
    }

    #[test]
    fn a_refresh_with_an_older_or_equal_version_is_refused() {
        for offered in [1, 2] {
            ConnectionTest::with(())
                .given(vec![granted(1, 0), refreshed(2, 3300)])
                .when(refresh(offered, 3400))
                .then_expect_error(ConnectionError::StaleSecretVersion {
                    current: v(2),
                    offered: v(offered),
                });
        }
    }

    #[test]
    fn a_grant_must_also_be_newer_than_every_version_before_it() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0), refreshed(4, 3300), revoked(3400)])
            .when(grant(3, 3500))
            .then_expect_error(ConnectionError::StaleSecretVersion {
                current: v(4),
                offered: v(3),
            });
    }

    #[test]
    fn a_refresh_of_a_never_connected_or_revoked_connection_is_refused() {
        ConnectionTest::with(())
            .given_no_previous_events()
            .when(refresh(1, 0))
            .then_expect_error(ConnectionError::NotConnected);
        ConnectionTest::with(())
            .given(vec![granted(1, 0), revoked(60)])
            .when(refresh(2, 120))
            .then_expect_error(ConnectionError::Revoked);
    }

    #[test]
    fn a_grant_after_revoke_or_needs_reauth_reconnects() {
        let dead = vec![
            granted(1, 0),
            failed(true, 3300, 3600),
            ConnectionEvent::ConnectionNeedsReauth {
                detected_at: at(3300),
            },
        ];
        let gone = vec![granted(1, 0), revoked(60)];
        for history in [dead, gone] {
            ConnectionTest::with(())
                .given(history.clone())
                .when(grant(2, 4000))
                .then_expect_events(vec![granted(2, 4000)]);
            let mut connection = folded(history);
            connection.apply(granted(2, 4000));
            assert_eq!(connection.status(), ConnectionStatus::Authenticated);
            assert_eq!(connection.retry_not_before(), None);
            assert!(connection.has_valid_token(at(4001)));
        }
    }

    #[test]
    fn the_first_grant_marks_creation_and_later_events_only_the_update() {
        let connection = folded(vec![granted(1, 0), refreshed(2, 3300), revoked(4000)]);
        assert_eq!(connection.created_at(), Some(at(0)));
        assert_eq!(connection.updated_at(), Some(at(4000)));
        let reconnected = folded(vec![granted(1, 0), revoked(60), granted(2, 120)]);
        assert_eq!(reconnected.created_at(), Some(at(0)));
        assert_eq!(reconnected.secret_version(), Some(v(2)));
    }

    #[test]
    fn a_second_revoke_appends_nothing() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0), revoked(60)])
            .when(ConnectionCommand::Revoke {
                cause: RevokeCause::AppDisconnectWebhook,
                at: at(120),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn revoking_a_connection_that_never_existed_is_refused() {
        ConnectionTest::with(())
            .given_no_previous_events()
            .when(revoke(0))
            .then_expect_error(ConnectionError::NotConnected);
    }

    #[test]
    fn a_connection_needing_reauth_can_still_be_revoked() {
        ConnectionTest::with(())
            .given(vec![
                granted(1, 0),
                failed(true, 10, 310),
                ConnectionEvent::ConnectionNeedsReauth {
                    detected_at: at(10),
                },
            ])
            .when(revoke(20))
            .then_expect_events(vec![revoked(20)]);
    }

    #[test]
    fn a_dead_grant_records_the_failure_then_needs_reauth() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0)])
            .when(failure(true, 3300, 3600))
            .then_expect_events(vec![
                failed(true, 3300, 3600),
                ConnectionEvent::ConnectionNeedsReauth {
                    detected_at: at(3300),
                },
            ]);
    }

    #[test]
    fn a_transient_failure_is_recorded_and_leaves_the_connection_authenticated() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0)])
            .when(failure(false, 3300, 3360))
            .then_expect_events(vec![failed(false, 3300, 3360)]);
        let connection = folded(vec![granted(1, 0), failed(false, 3300, 3360)]);
        assert_eq!(connection.status(), ConnectionStatus::Authenticated);
        assert!(connection.in_cooldown(at(3359)));
        assert!(!connection.in_cooldown(at(3360)));
    }

    #[test]
    fn a_failure_during_the_cooldown_is_recorded_but_does_not_repeat_needs_reauth() {
        ConnectionTest::with(())
            .given(vec![
                granted(1, 0),
                failed(true, 3300, 3600),
                ConnectionEvent::ConnectionNeedsReauth {
                    detected_at: at(3300),
                },
            ])
            .when(failure(true, 3400, 3700))
            .then_expect_events(vec![failed(true, 3400, 3700)]);
    }

    #[test]
    fn a_failure_cannot_shorten_a_running_cooldown() {
        ConnectionTest::with(())
            .given(vec![granted(1, 0), failed(false, 3300, 3900)])
            .when(failure(false, 3400, 3460))
            .then_expect_events(vec![failed(false, 3400, 3900)]);
    }

    #[test]
    fn failures_of_a_never_connected_or_revoked_connection_are_refused() {
        ConnectionTest::with(())
            .given_no_previous_events()
            .when(failure(true, 0, 60))
            .then_expect_error(ConnectionError::NotConnected);
        ConnectionTest::with(())
            .given(vec![granted(1, 0), revoked(10)])
            .when(failure(true, 20, 60))
            .then_expect_error(ConnectionError::Revoked);
    }

    #[test]
    fn a_successful_refresh_revives_a_connection_marked_needs_reauth() {
        let history = vec![
            granted(1, 0),
            failed(true, 3300, 3600),
            ConnectionEvent::ConnectionNeedsReauth {
                detected_at: at(3300),
            },
        ];
        ConnectionTest::with(())
            .given(history.clone())
            .when(refresh(2, 3700))
            .then_expect_events(vec![refreshed(2, 3700)]);
        let mut connection = folded(history);
        connection.apply(refreshed(2, 3700));
        assert_eq!(connection.status(), ConnectionStatus::Authenticated);
        assert!(!connection.in_cooldown(at(3701)));
    }

    #[test]
    fn a_token_is_valid_only_while_authenticated_and_before_its_expiry() {
        let connection = folded(vec![granted(1, 0)]);
        assert!(connection.has_valid_token(at(3599)));
        assert!(!connection.has_valid_token(at(3600)));
        assert!(!Connection::default().has_valid_token(at(0)));
        let dead = folded(vec![
            granted(1, 0),
            failed(true, 10, 60),
            ConnectionEvent::ConnectionNeedsReauth {
                detected_at: at(10),
            },
        ]);
        assert!(!dead.has_valid_token(at(20)));
        assert!(!folded(vec![granted(1, 0), revoked(10)]).has_valid_token(at(20)));
    }

    #[test]
    fn a_refresh_is_needed_near_expiry_unless_cooling_down_or_the_grant_is_dead() {
        let margin = TimeDelta::minutes(5);
        let live = folded(vec![granted(1, 0)]);
        assert!(!live.needs_refresh(at(3000), margin));
        assert!(live.needs_refresh(at(3300), margin));
        let cooling = folded(vec![granted(1, 0), failed(false, 3300, 3400)]);
        assert!(!cooling.needs_refresh(at(3350), margin));
        assert!(cooling.needs_refresh(at(3400), margin));
        let dead = folded(vec![
            granted(1, 0),
            failed(true, 3300, 3400),
            ConnectionEvent::ConnectionNeedsReauth {
                detected_at: at(3300),
            },
        ]);
        assert!(!dead.needs_refresh(at(3500), margin));
    }

    #[test]
    fn events_are_version_1_0_and_have_no_token_field() {
        let events = [
            granted(1, 0),
            refreshed(2, 60),
            failed(true, 120, 180),
            ConnectionEvent::ConnectionNeedsReauth {
                detected_at: at(120),
            },
            revoked(200),
        ];
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            assert!(!json.contains("token\""), "{json}");
            assert_eq!(cqrs_es::DomainEvent::event_version(&event), "1", "{json}");
        }
    }
}
