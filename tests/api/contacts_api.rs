//! `GET /api/v1/contacts` and `GET /api/v1/contacts/{id}`: the contact mirror as dashboards
//! read it, and its rebuild from the events.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use adapters::store::{BatchCommand, BatchExecutor, CommandOutcome, Db, EventLog};
use domain::{Address, Contact, ContactCommand, ContactSnapshot};
use serde_json::Value;

use crate::projections::{last_position, scalar};
use crate::support::fixtures::at;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    contact_reads_need_the_internal_api_key,
    contacts_list_newest_first_with_jobnimbus_deep_links,
    contact_filters_narrow_by_status_text_update_time_and_activity,
    following_next_cursor_visits_every_contact_exactly_once_in_order,
    one_contact_by_id_or_a_clear_problem,
    a_vanished_contact_is_hidden_until_the_crm_lists_it_again,
    bad_contact_query_parameters_are_400_problems,
    rebuilt_contact_rows_equal_live_rows_and_every_event_is_applied_once,
);

/// Contact `i` as the CRM shows it: 0-9 "Customer", the rest "Lead"; every third works for
/// Summit Roofing; 0-14 live in Denver, the rest in Aurora; updated at `at(60 + i)`, except
/// 28, which has no CRM update time. 13's display name is not its first and last name, and
/// no email holds a name, so each searched column can be told apart.
fn contact(i: usize, status: &str) -> ContactSnapshot {
    let display_name = if i == 13 {
        "Okafor Residence".to_string()
    } else {
        format!("Pat{i} Lastname{i}")
    };
    ContactSnapshot {
        number: Some(format!("{}", 2000 + i)),
        first_name: Some(format!("Pat{i}")),
        last_name: Some(format!("Lastname{i}")),
        display_name,
        company: matches!(i % 3, 0).then(|| "Summit Roofing".to_string()),
        email: Some(format!("owner{i}@example.com")),
        home_phone: None,
        mobile_phone: Some(format!("303-555-{:04}", i)),
        work_phone: None,
        address: Address {
            line1: Some(format!("{i} Elm St")),
            city: Some(if i < 15 { "Denver" } else { "Aurora" }.to_string()),
            state: Some("CO".to_string()),
            zip: Some("80202".to_string()),
            ..Address::default()
        },
        status: Some(status.to_string()),
        workflow: Some("Customer".to_string()),
        source_name: Some("Door Knocking".to_string()),
        sales_rep_name: Some("Sam Rep".to_string()),
        remote_created_at: Some(at(i as i64)),
        remote_updated_at: (i != 28).then(|| at(i as i64 + 60)),
    }
}

fn contact_id(i: usize) -> String {
    format!("jobnimbus:contact{i}")
}

fn command(i: usize, command: ContactCommand) -> BatchCommand<Contact> {
    BatchCommand {
        aggregate_id: contact_id(i),
        command,
        metadata: HashMap::from([("actor".to_string(), "test".to_string())]),
    }
}

fn pulled(i: usize, status: &str, is_active: bool, observed: i64) -> BatchCommand<Contact> {
    command(
        i,
        ContactCommand::RecordPulledSnapshot {
            snapshot: contact(i, status),
            is_active,
            observed_at: at(observed),
        },
    )
}

fn vanished(i: usize, observed: i64) -> BatchCommand<Contact> {
    command(
        i,
        ContactCommand::RecordVanished {
            observed_at: at(observed),
        },
    )
}

/// Runs a page of commands and fails the test if any was refused.
async fn execute(t: &TestDb, commands: Vec<BatchCommand<Contact>>) {
    let report = BatchExecutor::<Contact>::new(&t.db, &t.signal)
        .execute(commands)
        .await
        .unwrap();
    for outcome in report.outcomes {
        assert!(matches!(outcome, CommandOutcome::Applied(_)), "{outcome:?}");
    }
}

async fn caught_up(t: &TestDb, app: &TestApp) {
    app.state
        .progress
        .wait_for(last_position(&t.db).await, Duration::from_secs(10))
        .await
        .unwrap();
}

/// 30 contacts (see `contact`); every fifth soft-deleted; 3, 10, 17 and 24 no longer
/// listed by the CRM. By default 21 are listed: 1, 2, 4, 6-9, 11-14, 16, 18, 19, 21-23,
/// 26-29.
async fn app_with_contacts(backend: Backend) -> (TestDb, TestApp) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    execute(
        &t,
        (0..30)
            .map(|i| pulled(i, if i < 10 { "Customer" } else { "Lead" }, i % 5 != 0, 0))
            .collect(),
    )
    .await;
    execute(&t, [3, 10, 17, 24].map(|i| vanished(i, 100)).into()).await;
    caught_up(&t, &app).await;
    (t, app)
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

async fn contact_reads_need_the_internal_api_key(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;
    for path in ["/api/v1/contacts", "/api/v1/contacts/jobnimbus:contact1"] {
        let missing = app.get(path).await;
        let wrong = app
            .client
            .get(format!("{}{path}", app.address))
            .header("x-internal-api-key", "not-the-key-at-all-0000")
            .send()
            .await
            .unwrap();

        for (response, code) in [(missing, "missing_api_key"), (wrong, "invalid_api_key")] {
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            assert_eq!(json(response).await["code"], code, "{path}");
        }
    }
}

async fn contacts_list_newest_first_with_jobnimbus_deep_links(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;

    let list = json(app.get_internal("/api/v1/contacts").await).await;

    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        21,
        "soft-deleted and vanished contacts are left out by default"
    );
    assert_eq!(
        ids(&list).last().map(String::as_str),
        Some("jobnimbus:contact28"),
        "without a CRM update time, a contact sorts by when we first saw it"
    );
    let updated: Vec<&str> = items[..20]
        .iter()
        .map(|c| c["updatedAt"].as_str().unwrap())
        .collect();
    let mut sorted = updated.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(updated, sorted, "newest CRM update first");
    let first = &items[0];
    assert_eq!(first["id"], "jobnimbus:contact29");
    assert_eq!(first["source"], "jobnimbus");
    assert_eq!(first["externalId"], "contact29");
    assert_eq!(
        first["jobNimbusUrl"],
        "https://app.jobnimbus.com/contact/contact29"
    );
    assert_eq!(first["displayName"], "Pat29 Lastname29");
    assert_eq!(first["firstName"], "Pat29");
    assert_eq!(first["email"], "owner29@example.com");
    assert_eq!(first["mobilePhone"], "303-555-0029");
    assert_eq!(first["sourceName"], "Door Knocking");
    assert_eq!(first["address"]["city"], "Aurora");
    assert_eq!(first["isActive"], true);
    assert!(first["vanishedAt"].is_null());
    assert!(list["nextCursor"].is_null());
}

async fn contact_filters_narrow_by_status_text_update_time_and_activity(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;
    // contact i was updated in the CRM at 1_700_000_060 + i seconds (28: never, so the
    // time we first saw it, 1_700_000_000, stands in).
    let cases: Vec<(&str, usize)> = vec![
        ("includeInactive=true", 30),
        ("status=Customer", 7),
        ("status=Customer&status=Lead", 21),
        ("status=Customer&includeInactive=true", 10),
        ("status=Prospect", 0),
        // display name, then first name, last name, company, email, street and city
        ("q=okafor", 1),
        ("q=PAT13", 1),
        ("q=lastname13", 1),
        ("q=summit", 6),
        ("q=owner7%40example.com", 1),
        ("q=ELM%20st", 21),
        ("q=aurora", 10),
        ("q=aurora&status=Customer", 0),
        ("q=denver&includeInactive=true", 15),
        // `%` and `_` match themselves, not any text
        ("q=100%25", 0),
        ("q=pat1_", 0),
        // 20-29, less 20 and 25 (soft-deleted), 24 (vanished) and 28 (no update time)
        ("updatedFrom=2023-11-14T22:14:40Z", 6),
        (
            "updatedFrom=2023-11-14T22:14:40Z&updatedTo=2023-11-14T22:14:45Z",
            3,
        ),
        ("updatedTo=2023-11-14T22:13:21Z", 1),
    ];
    for (query, expected) in cases {
        let list = json(app.get_internal(&format!("/api/v1/contacts?{query}")).await).await;
        assert_eq!(ids(&list).len(), expected, "{query}");
    }
}

async fn following_next_cursor_visits_every_contact_exactly_once_in_order(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;
    for sort in ["-updatedAt", "updatedAt", "name", "-name"] {
        let all = ids(&json(
            app.get_internal(&format!(
                "/api/v1/contacts?sort={sort}&limit=200&includeInactive=true"
            ))
            .await,
        )
        .await);
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/api/v1/contacts?sort={sort}&limit=7&includeInactive=true&cursor={c}")
                }
                None => format!("/api/v1/contacts?sort={sort}&limit=7&includeInactive=true"),
            };
            let page = json(app.get_internal(&path).await).await;
            paged.extend(ids(&page));
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(all.len(), 30, "{sort}");
        assert_eq!(paged, all, "{sort}: pages concatenate to the full list");
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 30, "{sort}");
    }
    // Only the first: how "Pat1 …" and "Pat11 …" compare depends on the collation.
    let by_name = ids(&json(app.get_internal("/api/v1/contacts?sort=name&limit=1").await).await);
    assert_eq!(
        by_name,
        ["jobnimbus:contact13"],
        "name sorts by display name (\"Okafor Residence\")"
    );
}

async fn one_contact_by_id_or_a_clear_problem(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;

    let found = app
        .get_internal("/api/v1/contacts/jobnimbus:contact7")
        .await;
    assert_eq!(found.status(), 200);
    let contact = json(found).await;
    assert_eq!(
        (
            contact["status"].as_str(),
            contact["version"].as_i64(),
            contact["jobNimbusUrl"].as_str()
        ),
        (
            Some("Customer"),
            Some(1),
            Some("https://app.jobnimbus.com/contact/contact7")
        )
    );

    let inactive = json(
        app.get_internal("/api/v1/contacts/jobnimbus:contact5")
            .await,
    )
    .await;
    assert_eq!(inactive["isActive"], false);
    let gone = json(
        app.get_internal("/api/v1/contacts/jobnimbus:contact3")
            .await,
    )
    .await;
    assert_eq!(
        gone["vanishedAt"], "2023-11-14T22:15:00+00:00",
        "a vanished contact is still readable by id"
    );

    for (path, status, code) in [
        ("/api/v1/contacts/jobnimbus:nope", 404, "contact_not_found"),
        ("/api/v1/contacts/salesforce:1", 400, "invalid_contact_id"),
        (
            "/api/v1/contacts/jobnimbus:a%20b",
            400,
            "invalid_contact_id",
        ),
    ] {
        let response = app.get_internal(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], code, "{path}");
    }
}

async fn a_vanished_contact_is_hidden_until_the_crm_lists_it_again(backend: Backend) {
    let (t, app) = app_with_contacts(backend).await;
    let listed = |list: &Value| ids(list).contains(&contact_id(3));
    assert!(!listed(
        &json(app.get_internal("/api/v1/contacts").await).await
    ));
    assert!(listed(
        &json(
            app.get_internal("/api/v1/contacts?includeInactive=true")
                .await
        )
        .await
    ));

    // The next pull lists it again, unchanged.
    execute(&t, vec![pulled(3, "Customer", true, 200)]).await;
    caught_up(&t, &app).await;

    assert!(listed(
        &json(app.get_internal("/api/v1/contacts").await).await
    ));
    let back = json(
        app.get_internal("/api/v1/contacts/jobnimbus:contact3")
            .await,
    )
    .await;
    assert!(back["vanishedAt"].is_null(), "{back}");
    assert_eq!(back["lastSeenAt"], "2023-11-14T22:16:40+00:00");
    assert_eq!(back["version"], 3, "recorded, vanished, reappeared");
}

async fn bad_contact_query_parameters_are_400_problems(backend: Backend) {
    let (_t, app) = app_with_contacts(backend).await;
    let other_sort_cursor = {
        let page = json(app.get_internal("/api/v1/contacts?limit=2").await).await;
        page["nextCursor"].as_str().unwrap().to_string()
    };
    for (query, code) in [
        ("limit=0".to_string(), "invalid_request"),
        ("limit=201".to_string(), "invalid_request"),
        ("limit=ten".to_string(), "invalid_request"),
        ("sort=email".to_string(), "invalid_request"),
        ("updatedTo=tomorrow".to_string(), "invalid_request"),
        ("includeInactive=maybe".to_string(), "invalid_request"),
        ("cursor=zz".to_string(), "invalid_cursor"),
        (
            format!("sort=-name&cursor={other_sort_cursor}"),
            "invalid_cursor",
        ),
    ] {
        let response = app.get_internal(&format!("/api/v1/contacts?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], code, "{query}");
    }
}

async fn rebuilt_contact_rows_equal_live_rows_and_every_event_is_applied_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let app = TestApp::spawn(&t).await;
    // A history with every event kind, spread over several pages and runner batches: odd
    // rounds soft-delete every seventh contact and lose every eleventh from the CRM, even
    // rounds bring them back.
    for round in 0..4i64 {
        let statuses = ["Lead", "Customer", "Active", "Past Customer"];
        execute(
            &t,
            (0..600)
                .map(|i| {
                    let status = statuses[(i + round as usize) % 4];
                    let active = !(i % 7 == 0 && round % 2 == 1);
                    pulled(
                        i,
                        if i % 3 == 0 { "Lead" } else { status },
                        active,
                        round * 100,
                    )
                })
                .collect(),
        )
        .await;
        if round % 2 == 1 {
            execute(
                &t,
                (0..600)
                    .filter(|i| i % 11 == 0)
                    .map(|i| vanished(i, round * 100 + 50))
                    .collect(),
            )
            .await;
        }
    }
    let log = EventLog::new(t.db.clone());
    let total = log.count().await.unwrap();
    let head = last_position(&t.db).await;
    app.state
        .progress
        .wait_for(head, Duration::from_secs(30))
        .await
        .unwrap();
    drop(app);
    let live = contact_rows(&t.db).await;
    let applied: i64 = scalar(
        &t.db,
        "select events_applied from projection_checkpoints where projection = 'contact_mirror'",
    )
    .await;

    let summary = projections::rebuild(
        &t.db,
        &projections::contact_mirror::ContactMirror,
        250,
        |_| {},
    )
    .await
    .unwrap();
    let rebuilt = contact_rows(&t.db).await;

    assert_eq!(live.len(), 600);
    assert_eq!(
        applied, total,
        "live runner applied every event exactly once"
    );
    assert_eq!(summary.events, total);
    assert_eq!(rebuilt, live);
    // Round 3 soft-deleted every seventh contact again and lost every eleventh.
    let inactive: i64 = scalar(
        &t.db,
        "select count(*) from contact_mirror where not is_active",
    )
    .await;
    assert_eq!(inactive, (0..600).filter(|i| i % 7 == 0).count() as i64);
    let gone: i64 = scalar(
        &t.db,
        "select count(*) from contact_mirror where vanished_at is not null",
    )
    .await;
    assert_eq!(gone, (0..600).filter(|i| i % 11 == 0).count() as i64);
}

const CONTACT_COLUMNS: &str = "contact_id, source, external_id, number, first_name, last_name,
    display_name, company, email, home_phone, mobile_phone, work_phone, address_line1,
    address_line2, city, state, zip, country, status, workflow, source_name, sales_rep_name,
    remote_created_at, remote_updated_at, is_active, vanished_at, first_seen_at, last_seen_at,
    version, last_position";

/// Every contact mirror row, every column, as JSON text, in key order.
async fn contact_rows(db: &Db) -> Vec<String> {
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(&format!(
            "select json_build_array({CONTACT_COLUMNS})::text from contact_mirror
             order by contact_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Sqlite(pool) => sqlx::query_scalar(&format!(
            "select json_array({CONTACT_COLUMNS}) from contact_mirror order by contact_id"
        ))
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}
