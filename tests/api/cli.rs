//! The command line as an operator meets it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use adapters::jobnimbus::sandbox::FaultConfig;
use adapters::store::{BatchExecutor, DatabaseTarget, EventLog};
use domain::Job;
use secrecy::ExposeSecret;

use crate::projections::mirror_rows;
use crate::support::fixtures::pulled;
use crate::support::{crm, Backend, TestDb};

fn unified_crm() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unified-crm"));
    // Only what we set: no DATABASE_URL or .env values leaking in from the developer.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.current_dir(std::env::temp_dir());
    command
}

#[test]
fn help_explains_each_subcommand() {
    let output = unified_crm().arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for (command, words) in [
        ("serve", "Run the HTTP API"),
        ("demo", "embedded SQLite"),
        ("migrate", "Apply database migrations"),
        ("replay", "rebuild it from the first event"),
        ("openapi", "Print the OpenAPI specification"),
        ("bench", "Measure throughput"),
        ("sandbox", "sandbox JobNimbus"),
        ("import", "Import every JobNimbus job and contact"),
    ] {
        assert!(
            help.contains(command) && help.contains(words),
            "{command} missing:\n{help}"
        );
    }
    assert!(help.contains("DATABASE_URL") && help.contains("DB_HOST"));
}

#[test]
fn openapi_prints_the_generated_spec() {
    let output = unified_crm().arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), api::spec_yaml());
}

#[test]
fn every_configuration_problem_is_reported_at_once_by_name() {
    let output = unified_crm()
        .arg("migrate")
        .env("DB_PASSWORD", "s3cret-value")
        .env("PORT", "eighty")
        .env("LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for variable in ["DB_USER", "DB_HOST", "DB_NAME", "PORT", "LOG_FORMAT"] {
        assert!(
            stderr.contains(variable),
            "{variable} not reported:\n{stderr}"
        );
    }
    assert!(!stderr.contains("s3cret-value"), "a secret was echoed");
}

#[test]
fn serve_names_a_missing_internal_key_and_embed_secret_with_the_other_problems() {
    let output = unified_crm()
        .arg("serve")
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for variable in ["PORT", "INTERNAL_API_KEY", "EMBED_SIGNING_SECRET"] {
        assert!(stderr.contains(variable), "{variable}: {stderr}");
    }
}

#[test]
fn serve_refuses_a_short_embed_secret_without_echoing_it() {
    let output = unified_crm()
        .arg("serve")
        .env("INTERNAL_API_KEY", crate::support::INTERNAL_KEY)
        .env("EMBED_SIGNING_SECRET", "short-embed-secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("EMBED_SIGNING_SECRET"), "{stderr}");
    assert!(!stderr.contains("short-embed-secret"), "echoed: {stderr}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = unified_crm()
        .arg("migrate")
        .env("LOG_FORMAT", "json")
        .env("DATA_DIR", data_dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "no log line written");
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            entry["level"].is_string() && entry["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

on_both_backends!(
    replay_command_rebuilds_the_mirror_and_prints_a_summary,
    import_resumes_after_an_interruption_and_ends_with_every_record,
);

async fn replay_command_rebuilds_the_mirror_and_prints_a_summary(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    executor
        .execute((0..120).map(|i| pulled(i, "Lead", true, 0)).collect())
        .await
        .unwrap();
    let url = database_url(&t);

    let output = unified_crm()
        .args(["replay", "--batch-size", "50"])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("replay finished")
            && stdout.contains("job_mirror")
            && stdout.contains("120 events"),
        "{stdout}"
    );
    assert_eq!(mirror_rows(&t.db).await.len(), 120);
}

fn database_url(t: &TestDb) -> String {
    match t.target() {
        DatabaseTarget::Postgres(url) => url.expose_secret().to_string(),
        DatabaseTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
    }
}

async fn import_resumes_after_an_interruption_and_ends_with_every_record(backend: Backend) {
    let t = TestDb::new(backend).await;
    // Slow pages, so the import can be killed between them.
    let sandbox = crm::jobnimbus(
        5_000,
        300,
        FaultConfig {
            latency: Duration::from_millis(300),
            ..FaultConfig::default()
        },
    )
    .await;
    let import = || {
        let mut command = unified_crm();
        command
            .arg("import")
            .env("DATABASE_URL", database_url(&t))
            .env("JOBNIMBUS_API_KEY", crm::SANDBOX_KEY)
            .env("JOBNIMBUS_BASE_URL", sandbox.base_url())
            .env("JOBNIMBUS_MIN_REQUEST_INTERVAL_MS", "0");
        command
    };
    let jobs = |db: adapters::store::Db| async move {
        EventLog::new(db).aggregate_ids("Job").await.unwrap().len()
    };
    let cursor_moves = |db: adapters::store::Db| async move {
        EventLog::new(db).count_of_type("SyncCursor").await.unwrap()
    };

    // Killed once its first page of jobs is committed and the cursor moved past it.
    let mut first = import()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while cursor_moves(t.db.clone()).await < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no page committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = jobs(t.db.clone()).await;
    assert!(before < 5_000, "killed before the end ({before} jobs)");

    let output = import().output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("jobs: continuing from"), "{stdout}");
    assert_eq!(
        jobs(t.db.clone()).await,
        5_000,
        "every job, each recorded once"
    );
    let fetched: u64 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("jobs "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no jobs summary in {stdout}"));
    assert!(fetched < 5_000, "resumed, not restarted: fetched {fetched}");
    assert!(stdout.contains("contacts"), "{stdout}");
    assert_eq!(
        EventLog::new(t.db.clone())
            .aggregate_ids("Contact")
            .await
            .unwrap()
            .len(),
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_imports_from_its_sandbox_and_its_printed_curl_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = unified_crm()
        .arg("demo")
        .env("PORT", "0")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed = Vec::new();
    while !printed
        .iter()
        .any(|l: &String| l.starts_with("Press Ctrl-C"))
    {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => printed.push(line),
            Err(_) => {
                let _ = demo.kill();
                panic!("demo did not finish starting: {printed:?}");
            }
        }
    }
    let curl = printed
        .iter()
        .find(|l| l.contains("curl -H") && l.contains("/api/v1/jobs"))
        .unwrap_or_else(|| panic!("no jobs curl in {printed:?}"));
    // curl -H 'x-internal-api-key: KEY' 'URL'
    let quoted: Vec<&str> = curl.split('\'').collect();
    let key = quoted[1].trim_start_matches("x-internal-api-key: ");
    let url = quoted[3];

    let response = reqwest::Client::new()
        .get(url)
        .header("x-internal-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    let photos = photos_of_the_printed_job(&printed, key).await;
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 5, "{body}");
    assert!(printed
        .iter()
        .any(|l| l.contains("jobs") && l.contains("created")));
    let pulled = printed
        .iter()
        .find(|l| l.trim_start().starts_with("photos:"))
        .unwrap_or_else(|| panic!("no photo pull in {printed:?}"));
    // "photos: 491 jobs, 1513 photos, 506 documents, 0 failed"
    let counts: Vec<u64> = pulled
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(counts[0] > 0 && counts[1] > 0, "{pulled}");
    assert_eq!(counts[3], 0, "no job failed: {pulled}");
    // The photo pull ran for the printed job: its listing answers, with categories.
    let listed = photos["items"].as_array().expect("a photo list");
    assert!(
        listed.iter().all(|p| p["qcCategory"].is_string()),
        "{photos}"
    );
}

/// Follows the demo's printed photos curl.
async fn photos_of_the_printed_job(printed: &[String], key: &str) -> serde_json::Value {
    let curl = printed
        .iter()
        .find(|l| l.contains("curl -H") && l.ends_with("/photos'"))
        .unwrap_or_else(|| panic!("no photos curl in {printed:?}"));
    let url = curl.split('\'').nth(3).expect("a quoted URL");
    let response = reqwest::Client::new()
        .get(url)
        .header("x-internal-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}
