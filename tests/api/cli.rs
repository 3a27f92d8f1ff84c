//! The command line as an operator meets it.

use std::process::Command;

use adapters::store::{BatchExecutor, DatabaseTarget};
use domain::Job;
use secrecy::ExposeSecret;

use crate::projections::mirror_rows;
use crate::support::fixtures::pulled;
use crate::support::{Backend, TestDb};

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
fn serve_names_a_missing_internal_key_with_the_other_problems() {
    let output = unified_crm()
        .arg("serve")
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("PORT") && stderr.contains("INTERNAL_API_KEY"),
        "{stderr}"
    );
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

on_both_backends!(replay_command_rebuilds_the_mirror_and_prints_a_summary);

async fn replay_command_rebuilds_the_mirror_and_prints_a_summary(backend: Backend) {
    let t = TestDb::new(backend).await;
    let executor = BatchExecutor::<Job>::new(&t.db, &t.signal);
    executor
        .execute((0..120).map(|i| pulled(i, "Lead", true, 0)).collect())
        .await
        .unwrap();
    let url = match t.target() {
        DatabaseTarget::Postgres(url) => url.expose_secret().to_string(),
        DatabaseTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
    };

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
