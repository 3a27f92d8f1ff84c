//! The token vault on both databases: encryption at rest, row binding, key rotation,
//! crypto-shredding and the single-flight refresh lock; and the `jobber_connections` read
//! model fed by `Connection` events.

use std::collections::HashMap;
use std::time::Duration;

use adapters::store::{CommandBus, DatabaseTarget, Db};
use adapters::vault::{Keyring, TokenSet, TokenVault, VaultError};
use chrono::{DateTime, TimeZone, Utc};
use domain::{
    Connection, ConnectionCommand, ConnectionId, ConnectionStatus, RevokeCause, SecretVersion,
    UserId,
};
use projections::connection_status::{query, ConnectionStatusView};
use secrecy::{ExposeSecret, SecretString};

use crate::projections::{all_events, last_position};
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    stored_tokens_load_back_and_each_store_is_a_newer_version,
    the_stored_row_holds_neither_token_in_plain_text,
    a_ciphertext_moved_to_another_row_or_version_does_not_decrypt,
    old_keys_still_decrypt_new_writes_use_the_active_key_and_rewrap_moves_every_row,
    shredding_deletes_the_ciphertext_and_keeps_versions_growing,
    concurrent_refreshes_from_two_instances_run_one_at_a_time_and_each_sees_the_last,
    a_waiter_gives_up_after_the_wait_bound_and_a_dropped_guard_releases_the_lock,
    the_read_model_follows_the_connection_and_a_rebuild_gives_the_same_rows,
);

/// Fixed test keys: `k1` is 32 bytes of 0x01, `k2` 32 bytes of 0x02.
const K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const K2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn keyring(text: &str) -> Keyring {
    Keyring::parse(&SecretString::from(text)).unwrap()
}

fn connection(user: &str) -> ConnectionId {
    ConnectionId::jobber_user(&user.parse::<UserId>().unwrap())
}

/// Token texts long and distinctive enough that finding one in a dump is no coincidence.
fn tokens(tag: &str) -> TokenSet {
    TokenSet::new(
        SecretString::from(format!("access-token-{tag}-eyJhbGciOiJIUzI1NiJ9")),
        SecretString::from(format!("refresh-token-{tag}-9f8e7d6c5b4a")),
    )
}

fn access_of(tokens: &TokenSet) -> &str {
    tokens.access_token.expose_secret()
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        Db::Sqlite(pool) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
}

/// The key id, nonce and ciphertext of a row, as stored.
async fn raw_row(db: &Db, id: &ConnectionId) -> (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>) {
    const SQL: &str =
        "select key_id, nonce, ciphertext from connection_secrets where connection_id = $1";
    match db {
        Db::Postgres(pool) => sqlx::query_as(SQL).bind(id.as_str()).fetch_one(pool).await,
        Db::Sqlite(pool) => sqlx::query_as(SQL).bind(id.as_str()).fetch_one(pool).await,
    }
    .unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn stored_tokens_load_back_and_each_store_is_a_newer_version(backend: Backend) {
    let t = TestDb::new(backend).await;
    let vault = TokenVault::new(t.db.clone(), keyring(K1));
    let id = connection("42");
    assert!(vault.load(&id).await.unwrap().is_none());

    let first = vault.store(&id, &tokens("a")).await.unwrap();
    let second = vault.store(&id, &tokens("b")).await.unwrap();
    let other = vault.store(&connection("43"), &tokens("c")).await.unwrap();

    assert_eq!(
        (first, second),
        (SecretVersion::new(1), SecretVersion::new(2))
    );
    assert_eq!(
        other,
        SecretVersion::new(1),
        "versions count per connection"
    );
    let (version, loaded) = vault.load(&id).await.unwrap().unwrap();
    assert_eq!(version, second);
    assert_eq!(access_of(&loaded), access_of(&tokens("b")));
    assert_eq!(
        loaded.refresh_token.expose_secret(),
        tokens("b").refresh_token.expose_secret()
    );
}

async fn the_stored_row_holds_neither_token_in_plain_text(backend: Backend) {
    let t = TestDb::new(backend).await;
    let vault = TokenVault::new(t.db.clone(), keyring(K1));
    let id = connection("42");
    let secret = tokens("plain");
    vault.store(&id, &secret).await.unwrap();

    let (key_id, nonce, ciphertext) = raw_row(&t.db, &id).await;
    let mut row = key_id.unwrap().into_bytes();
    row.extend(nonce.unwrap());
    row.extend(ciphertext.unwrap());
    let needles = [
        secret.access_token.expose_secret(),
        secret.refresh_token.expose_secret(),
        "eyJhbGciOiJIUzI1NiJ9",
        "9f8e7d6c5b4a",
    ];
    for needle in needles {
        assert!(!contains(&row, needle), "row holds {needle}");
    }
    // On SQLite the whole database is a file (plus its write-ahead log): grep every byte.
    if let DatabaseTarget::Sqlite(path) = t.target() {
        for file in [path.clone(), path.with_extension("db-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            for needle in needles {
                assert!(
                    !contains(&bytes, needle),
                    "{} holds {needle}",
                    file.display()
                );
            }
        }
    }
}

async fn a_ciphertext_moved_to_another_row_or_version_does_not_decrypt(backend: Backend) {
    let t = TestDb::new(backend).await;
    let vault = TokenVault::new(t.db.clone(), keyring(K1));
    let (victim, attacker) = (connection("victim"), connection("attacker"));
    vault.store(&victim, &tokens("victim")).await.unwrap();
    vault.store(&attacker, &tokens("attacker")).await.unwrap();
    vault.store(&attacker, &tokens("attacker-2")).await.unwrap();

    // The victim's ciphertext copied onto the attacker's row, with the attacker's version.
    execute(
        &t.db,
        "update connection_secrets
         set key_id = (select key_id from connection_secrets where connection_id = 'jobber:user:victim'),
             nonce = (select nonce from connection_secrets where connection_id = 'jobber:user:victim'),
             ciphertext = (select ciphertext from connection_secrets where connection_id = 'jobber:user:victim')
         where connection_id = 'jobber:user:attacker'",
    )
    .await;
    let moved = vault.load(&attacker).await.unwrap_err();
    // The victim's own row still opens; only its version is changed now.
    assert!(vault.load(&victim).await.unwrap().is_some());
    execute(
        &t.db,
        "update connection_secrets set version = 2 where connection_id = 'jobber:user:victim'",
    )
    .await;
    let bumped = vault.load(&victim).await.unwrap_err();

    for err in [moved, bumped] {
        assert!(matches!(err, VaultError::Undecryptable { .. }), "{err}");
        assert!(!err.to_string().contains("token-"), "{err}");
    }
}

async fn old_keys_still_decrypt_new_writes_use_the_active_key_and_rewrap_moves_every_row(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let before = TokenVault::new(t.db.clone(), keyring(K1));
    let users = ["u1", "u2", "u3"];
    for user in users {
        before
            .store(&connection(user), &tokens(user))
            .await
            .unwrap();
    }

    let rotated = TokenVault::new(t.db.clone(), keyring(&format!("{K2},{K1}")));
    let (_, old) = rotated.load(&connection("u1")).await.unwrap().unwrap();
    rotated
        .store(&connection("u2"), &tokens("u2-new"))
        .await
        .unwrap();
    let (u2_key, _, _) = raw_row(&t.db, &connection("u2")).await;
    let rewrapped = rotated.rewrap_all().await.unwrap();
    let again = rotated.rewrap_all().await.unwrap();

    assert_eq!(access_of(&old), access_of(&tokens("u1")));
    assert_eq!(u2_key.as_deref(), Some("k2"));
    assert_eq!(rewrapped, 2, "u1 and u3 were still under k1");
    assert_eq!(again, 0);
    let only_new = TokenVault::new(t.db.clone(), keyring(K2));
    for (user, expected) in [("u1", "u1"), ("u2", "u2-new"), ("u3", "u3")] {
        let (version, loaded) = only_new.load(&connection(user)).await.unwrap().unwrap();
        assert_eq!(access_of(&loaded), access_of(&tokens(expected)), "{user}");
        let expected_version = if user == "u2" { 2 } else { 1 };
        assert_eq!(
            version,
            SecretVersion::new(expected_version),
            "rewrap keeps versions"
        );
    }
    // A key dropped too early is named, not guessed at.
    let err = TokenVault::new(t.db.clone(), keyring(K1))
        .load(&connection("u1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::UnknownKey { key_id, .. } if key_id == "k2"),
        "{err}"
    );
}

async fn shredding_deletes_the_ciphertext_and_keeps_versions_growing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let vault = TokenVault::new(t.db.clone(), keyring(K1));
    let id = connection("42");
    vault.store(&id, &tokens("a")).await.unwrap();
    vault.store(&id, &tokens("b")).await.unwrap();

    let shredded = vault.shred(&id).await.unwrap();
    let (key_id, nonce, ciphertext) = raw_row(&t.db, &id).await;
    let loaded = vault.load(&id).await.unwrap();
    let again = vault.shred(&id).await.unwrap();
    let reconnected = vault.store(&id, &tokens("c")).await.unwrap();

    assert!(shredded);
    assert_eq!((key_id, nonce, ciphertext), (None, None, None));
    assert!(loaded.is_none());
    assert!(!again, "nothing left to shred");
    assert_eq!(
        reconnected,
        SecretVersion::new(3),
        "a version named by an event before the shred is never reused"
    );
    let guard = vault.lock_for_refresh(&id).await.unwrap();
    assert_eq!(guard.current().map(|(v, _)| v), Some(SecretVersion::new(3)));
    let shredded_under_guard = guard.shred().await.unwrap();
    assert!(shredded_under_guard);
    assert!(vault.load(&id).await.unwrap().is_none());
}

/// A second instance: its own pool, and so its own in-process locks.
async fn second_instance(t: &TestDb) -> TokenVault {
    let db = Db::connect(&t.target(), 20).await.unwrap();
    TokenVault::new(db, keyring(K1))
}

async fn concurrent_refreshes_from_two_instances_run_one_at_a_time_and_each_sees_the_last(
    backend: Backend,
) {
    const REFRESHES: usize = 20;
    let t = TestDb::new(backend).await;
    let instances = [
        TokenVault::new(t.db.clone(), keyring(K1)),
        second_instance(&t).await,
    ];
    let id = connection("42");
    instances[0].store(&id, &tokens("v1")).await.unwrap();

    let mut tasks = Vec::new();
    for n in 0..REFRESHES {
        let vault = instances[n % 2].clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let guard = vault.lock_for_refresh(&id).await.unwrap();
            let (seen, current) = guard.current().expect("tokens are stored");
            let seen_access = access_of(current).to_string();
            // Stands in for the provider's token endpoint: a refresh that loses the race
            // here would redeem a refresh token another holder already spent.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let stored = guard
                .store(&tokens(&format!("v{}", seen.get() + 1)))
                .await
                .unwrap();
            (seen, seen_access, stored)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results.sort_by_key(|(seen, _, _)| *seen);

    for (i, (seen, seen_access, stored)) in results.iter().enumerate() {
        let expected_seen = i as u64 + 1;
        assert_eq!(
            seen.get(),
            expected_seen,
            "each holder saw a different version"
        );
        assert_eq!(
            seen_access,
            access_of(&tokens(&format!("v{expected_seen}"))),
            "each holder saw the tokens the one before it stored"
        );
        assert_eq!(stored.get(), expected_seen + 1);
    }
    let (last, _) = instances[1].load(&id).await.unwrap().unwrap();
    assert_eq!(last.get(), REFRESHES as u64 + 1);
}

async fn a_waiter_gives_up_after_the_wait_bound_and_a_dropped_guard_releases_the_lock(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let patient = Duration::from_millis(300);
    let here = TokenVault::new(t.db.clone(), keyring(K1)).with_lock_wait(patient);
    let elsewhere = second_instance(&t).await.with_lock_wait(patient);
    let id = connection("42");
    here.store(&id, &tokens("v1")).await.unwrap();

    let held = here.lock_for_refresh(&id).await.unwrap();
    let same_process = here.lock_for_refresh(&id).await.unwrap_err();
    let other_instance = elsewhere.lock_for_refresh(&id).await.unwrap_err();
    let blocked_store = elsewhere.store(&id, &tokens("late")).await.unwrap_err();
    drop(held);
    // The release itself is asynchronous (the pool rolls back as it takes the connection
    // back), so this wait is generous; the point is that it ends.
    let after_release = elsewhere
        .clone()
        .with_lock_wait(Duration::from_secs(10))
        .lock_for_refresh(&id)
        .await
        .unwrap();

    for err in [same_process, other_instance, blocked_store] {
        assert!(matches!(err, VaultError::LockTimeout { .. }), "{err}");
    }
    assert_eq!(
        after_release.current().map(|(v, _)| v),
        Some(SecretVersion::new(1)),
        "a guard dropped without storing changes nothing"
    );
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

async fn the_read_model_follows_the_connection_and_a_rebuild_gives_the_same_rows(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    let vault = TokenVault::new(t.db.clone(), keyring(K1));
    let bus = CommandBus::<Connection>::new(&t.db, &t.signal);
    let users: Vec<UserId> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    let mut secrets = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let id = ConnectionId::jobber_user(user);
        let granted = tokens(&format!("{user}-1"));
        let version = vault.store(&id, &granted).await.unwrap();
        secrets.push(granted);
        let mut commands = vec![ConnectionCommand::RecordGrant {
            secret_version: version,
            access_expires_at: at(3600),
            account_id: Some(format!("acct-{n}")),
            account_name: Some("Smith Roofing".into()),
            at: at(0),
        }];
        match user.as_str() {
            "alice" => {
                let refreshed = tokens(&format!("{user}-2"));
                let version = vault.store(&id, &refreshed).await.unwrap();
                secrets.push(refreshed);
                commands.push(ConnectionCommand::RecordRefresh {
                    secret_version: version,
                    access_expires_at: at(6900),
                    at: at(3300),
                });
            }
            "bob" => {
                commands.push(ConnectionCommand::RecordRefreshFailure {
                    reason: "invalid_grant".into(),
                    grant_dead: true,
                    at: at(3300),
                    retry_not_before: at(3600),
                });
            }
            _ => {
                vault.shred(&id).await.unwrap();
                commands.push(ConnectionCommand::Revoke {
                    cause: RevokeCause::UserDisconnected,
                    at: at(100),
                });
            }
        }
        for command in commands {
            bus.execute(id.as_str(), command, HashMap::new())
                .await
                .unwrap();
        }
    }
    let head = last_position(&t.db).await;
    app.state
        .progress
        .wait_for(head, Duration::from_secs(10))
        .await
        .unwrap();
    drop(app);
    let mut live = Vec::new();
    for user in &users {
        live.push(
            query::get(&t.db, user)
                .await
                .unwrap()
                .expect("a row per user"),
        );
    }

    projections::rebuild(&t.db, &ConnectionStatusView, 2, |_| {})
        .await
        .unwrap();
    let mut rebuilt = Vec::new();
    for user in &users {
        rebuilt.push(query::get(&t.db, user).await.unwrap().unwrap());
    }

    assert_eq!(rebuilt, live);
    let [alice, bob, carol] = [&live[0], &live[1], &live[2]];
    assert_eq!(alice.status, ConnectionStatus::Authenticated);
    assert_eq!(alice.secret_version, Some(SecretVersion::new(2)));
    assert_eq!(alice.last_refreshed_at, Some(at(3300)));
    assert_eq!((alice.created_at, alice.updated_at), (at(0), at(3300)));
    assert!(alice.has_valid_token(at(6000)));
    assert_eq!(bob.status, ConnectionStatus::NeedsReauth);
    assert_eq!(bob.last_failure_reason.as_deref(), Some("invalid_grant"));
    assert_eq!(bob.retry_not_before, Some(at(3600)));
    assert!(!bob.has_valid_token(at(60)));
    assert_eq!(carol.status, ConnectionStatus::Revoked);
    assert_eq!(carol.revoke_cause, Some(RevokeCause::UserDisconnected));
    assert_eq!(
        (carol.secret_version, carol.revoked_at),
        (None, Some(at(100)))
    );
    let nobody: UserId = "nobody".parse().unwrap();
    assert!(query::get(&t.db, &nobody).await.unwrap().is_none());
    let due = query::due_for_refresh(&t.db, at(3400), chrono::TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert!(due.is_empty(), "alice's token lasts until 6900: {due:?}");
    let due = query::due_for_refresh(&t.db, at(6700), chrono::TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    // No event holds a token: only versions.
    for event in all_events(&t.db).await {
        for secret in &secrets {
            for token in [&secret.access_token, &secret.refresh_token] {
                let token = token.expose_secret();
                assert!(!event.payload.contains(token), "{}", event.event_type);
                assert!(!event.metadata.contains(token), "{}", event.event_type);
            }
        }
    }
}
