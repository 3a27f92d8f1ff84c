//! The panels in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run`
//! installs) loads each panel of a demo job at phone and desktop widths. The test reads the
//! DOM Chromium rendered and writes screenshots under `target/embed-screenshots/` for people
//! to look at.
//!
//! Without Chromium the test is skipped with a note, unless `REQUIRE_BROWSER_TESTS=1` (CI)
//! turns the skip into a failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::jobnimbus::sandbox::{SandboxConfig, SandboxJobNimbus};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::support::{crm, Backend, TestApp, TestDb, INTERNAL_KEY};

/// The widths the panels must read well at: a phone and a desktop CRM.
const WIDTHS: [u32; 2] = [375, 1280];
const HEIGHT: u32 = 1000;
/// The demo's sandbox seed, so the panels show the demo's data.
const DEMO_SEED: u64 = unified_crm::cli::demo::SANDBOX_SEED;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("embed-screenshots")
}

/// Runs headless Chromium on `url` with `args`, with a fresh profile and none of its
/// background traffic (the machine's network is closed); returns its stdout.
async fn run_chromium(chromium: &Path, width: u32, args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{HEIGHT}"))
            .args(args)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished within a minute")
    .expect("chromium ran");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The pixel width and height a PNG's header declares.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("screenshot written");
    assert_eq!(&bytes[1..4], b"PNG", "{} is a PNG", path.display());
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

async fn issue(app: &TestApp, job_id: &str, panel: &str) -> String {
    let response = app
        .client
        .post(format!("{}/api/v1/embed/links", app.address))
        .header("x-internal-api-key", INTERNAL_KEY)
        .json(&json!({"jobId": job_id, "panelType": panel}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    link["url"].as_str().unwrap().to_string()
}

/// A demo job with photos in every stage, so every panel has something to show.
async fn demo_job_with_photos(app: &TestApp) -> (String, Value) {
    let jobs: Value = app
        .get_internal("/api/v1/jobs?limit=100")
        .await
        .json()
        .await
        .unwrap();
    for job in jobs["items"].as_array().expect("jobs") {
        let id = job["id"].as_str().unwrap();
        let photos: Value = app
            .get_internal(&format!("/api/v1/jobs/{id}/photos"))
            .await
            .json()
            .await
            .unwrap();
        let stages: std::collections::BTreeSet<&str> = photos["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["qcCategory"].as_str())
            .collect();
        if ["BEFORE", "DURING", "AFTER"]
            .iter()
            .all(|s| stages.contains(s))
        {
            return (id.to_string(), job.clone());
        }
    }
    panic!("no demo job has photos in every stage");
}

fn text_of(html_text: &str) -> String {
    html_text.replace('&', "&amp;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_panels_render_their_content_at_phone_and_desktop_widths() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("REQUIRE_BROWSER_TESTS").as_deref() != Ok("1"),
            "REQUIRE_BROWSER_TESTS=1 but Chromium is not installed (apt-get install chromium)"
        );
        eprintln!("skipping the browser test: /usr/bin/chromium is not installed");
        return;
    };
    let t = TestDb::new(Backend::Sqlite).await;
    let sandbox = SandboxJobNimbus::start(SandboxConfig::new(crm::SANDBOX_KEY, DEMO_SEED))
        .await
        .expect("the demo's sandbox");
    let app = TestApp::spawn_with_jobnimbus(&t, &sandbox).await;
    assert_eq!(app.post_internal("/api/v1/sync/jobs").await.status(), 200);
    assert_eq!(
        app.post_internal("/api/v1/sync/contacts").await.status(),
        200
    );
    assert_eq!(
        app.post_internal("/api/v1/sync/photos?limit=500")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_internal("/api/v1/qc/evaluate-all").await.status(),
        200
    );
    let (job_id, job) = demo_job_with_photos(&app).await;
    let qc: Value = app
        .get_internal(&format!("/api/v1/qc/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    let risk: Value = app
        .get_internal(&format!("/api/v1/risk/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    let qc_status = qc["status"]
        .as_str()
        .expect("the job was checked")
        .to_string();
    let risk_level = risk["riskLevel"]
        .as_str()
        .expect("the job was assessed")
        .to_string();
    let name = text_of(job["name"].as_str().expect("a named job"));
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).unwrap();

    for (panel, file, expected) in [
        (
            "QC_PANEL",
            "qc",
            vec!["Photo QC", "Before", "During", "After", &qc_status],
        ),
        (
            "RISK_VIEW",
            "risk",
            vec!["Risk", "Open the job in JobNimbus", &risk_level],
        ),
        (
            "CUSTOMER_PORTAL_VIEW",
            "portal",
            vec!["Your project", "Progress", "Photos"],
        ),
    ] {
        let url = issue(&app, &job_id, panel).await;
        let dom = run_chromium(&chromium, WIDTHS[0], &["--dump-dom".to_string()], &url).await;
        assert!(dom.contains(&name), "{panel} shows the job's name: {dom}");
        for text in expected {
            assert!(dom.contains(text), "{panel} shows {text:?}: {dom}");
        }
        assert!(
            dom.contains("name=\"viewport\""),
            "{panel} declares a viewport so phones do not zoom out"
        );
        for width in WIDTHS {
            let path = dir.join(format!("{file}-{width}.png"));
            let _ = std::fs::remove_file(&path);
            run_chromium(
                &chromium,
                width,
                &[format!("--screenshot={}", path.display())],
                &url,
            )
            .await;
            assert_eq!(png_size(&path), (width, HEIGHT), "{}", path.display());
        }
    }
    eprintln!("panel screenshots: {}", dir.display());
}
