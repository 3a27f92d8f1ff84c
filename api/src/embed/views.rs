//! The panels' pages: view models built from what the read models hold, rendered by askama
//! templates (`api/templates/embed/`), HTML-escaped by default.
//!
//! Pure: no I/O, so what each page shows for given facts is unit-tested here.

use askama::Template;
use chrono::{DateTime, Utc};
use domain::qc::{QcCheck, QcStatus};
use domain::risk::{RiskAssessment, RiskLevel};
use domain::QcCategory;

/// The panels' one stylesheet, inlined in every page and allowed by its hash in the
/// Content-Security-Policy (no other style, no script, no external resource loads).
/// Fluid from 320 px up: one column on phones, counts wrapping into a grid on wider frames.
pub const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2933;background:#fff}\
.panel{padding:12px 14px;max-width:100%}\
h1{font-size:1.2rem;margin:0 0 4px;overflow-wrap:anywhere}\
h2{font-size:1rem;margin:16px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:#52606d}\
h3{font-size:.95rem;margin:12px 0 6px}\
p{margin:4px 0}\
.meta{display:flex;flex-wrap:wrap;gap:4px 10px;color:#52606d;font-size:.9rem}\
.address,.muted{color:#616e7c;font-size:.88rem}\
.eyebrow{color:#616e7c;font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}\
.chip{display:inline-block;padding:1px 8px;border-radius:10px;background:#e4e7eb;font-size:.8rem}\
.status{padding:8px 10px;border-radius:6px;background:#f5f7fa;border-left:4px solid #9aa5b1}\
.status strong{margin-right:6px}\
.pass,.low{border-color:#2f8132}.pass strong,.low strong{color:#2f8132}\
.fail,.high{border-color:#c62828}.fail strong,.high strong{color:#c62828}\
.medium{border-color:#b26a00}.medium strong{color:#b26a00}\
.chip.high{background:#fde8e8;color:#9b1c1c}.chip.medium{background:#fdf1dc;color:#8a5300}\
.counts{list-style:none;padding:0;margin:10px 0;display:grid;grid-template-columns:repeat(auto-fit,minmax(88px,1fr));gap:8px}\
.count{border:1px solid #e4e7eb;border-radius:6px;padding:8px;text-align:center}\
.count.short{border-color:#c62828;background:#fff5f5}\
.count .label{display:block;font-size:.78rem;color:#52606d;text-transform:uppercase}\
.count .number{display:block;font-size:1.5rem;font-weight:600}\
.count .of{display:block;font-size:.78rem;color:#616e7c}\
.list,.reasons{padding-left:18px;margin:6px 0}\
.list li{margin:3px 0;overflow-wrap:anywhere}\
.reasons{list-style:none;padding:0}\
.reason{border:1px solid #e4e7eb;border-left-width:4px;border-radius:6px;padding:8px 10px;margin:8px 0}\
.rule{font-weight:600}\
.action{color:#323f4b}\
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:6px 12px;margin:0}\
.facts dt{font-size:.78rem;color:#616e7c;text-transform:uppercase}\
.facts dd{margin:0}\
.button{display:inline-block;margin-top:12px;padding:8px 14px;border-radius:6px;background:#1f6feb;color:#fff;text-decoration:none}\
.refused{padding-top:20px}";

/// How dates read in the panels (the job's own dates, and when it was evaluated).
fn day(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

fn moment(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// The job as every internal panel introduces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHeader {
    pub name: String,
    pub number: Option<String>,
    pub status: Option<String>,
    pub customer: Option<String>,
    pub address: Option<String>,
}

/// A photo stage with its count, and its requirement when one applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub label: &'static str,
    pub current: u32,
    pub required: Option<u32>,
    /// `short` when fewer than required.
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingItem {
    pub label: &'static str,
    pub required: u32,
    pub current: u32,
    pub missing: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    pub status: &'static str,
    pub class: &'static str,
    pub summary: &'static str,
    pub evaluated_at: String,
}

/// `/embed/qc`: the job's photo counts per stage against what its QC requires.
#[derive(Template, Debug)]
#[template(path = "embed/qc.html")]
pub struct QcPage {
    pub job: JobHeader,
    pub check: Option<CheckSummary>,
    pub categories: Vec<CategoryCount>,
    pub missing: Vec<MissingItem>,
    pub total_photos: u32,
    pub unclassified: u32,
}

fn stage_label(category: QcCategory) -> &'static str {
    match category {
        QcCategory::Before => "Before",
        QcCategory::During => "During",
        QcCategory::After => "After",
        QcCategory::Unclassified => "Unsorted",
    }
}

const STAGES: [QcCategory; 3] = [QcCategory::Before, QcCategory::During, QcCategory::After];

impl QcPage {
    /// `photos` are the job's current counts (from its file listing); `latest` the last QC
    /// check recorded and when, if any.
    pub fn new(
        job: JobHeader,
        photos: &domain::qc::PhotoCounts,
        latest: Option<(&QcCheck, DateTime<Utc>)>,
    ) -> Self {
        let required_of = |category: QcCategory| {
            latest.and_then(|(check, _)| {
                check
                    .missing
                    .iter()
                    .find(|m| m.category == category)
                    .map(|m| m.required)
            })
        };
        let categories = STAGES
            .into_iter()
            .map(|category| {
                let current = photos.of(category);
                let required = required_of(category);
                CategoryCount {
                    label: stage_label(category),
                    current,
                    required,
                    class: if required.is_some_and(|r| current < r) {
                        "short"
                    } else {
                        ""
                    },
                }
            })
            .collect();
        let missing = latest
            .map(|(check, _)| {
                check
                    .missing
                    .iter()
                    .map(|m| MissingItem {
                        label: stage_label(m.category),
                        required: m.required,
                        current: m.current,
                        missing: m.missing,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let check = latest.map(|(check, at)| {
            let (status, class, summary) = match check.status {
                QcStatus::Pass => ("PASS", "pass", "Every required photo is on the job."),
                QcStatus::Fail => ("FAIL", "fail", "Required photos are missing."),
                QcStatus::NotChecked => (
                    "NOT CHECKED",
                    "muted",
                    "No photos are due yet, or none are required for this job.",
                ),
            };
            CheckSummary {
                status,
                class,
                summary,
                evaluated_at: moment(at),
            }
        });
        Self {
            job,
            check,
            categories,
            missing,
            total_photos: photos.total(),
            unclassified: photos.unclassified,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonView {
    pub rule: &'static str,
    pub severity: &'static str,
    pub class: &'static str,
    pub message: String,
    pub action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessmentView {
    pub level: &'static str,
    pub class: &'static str,
    pub summary: &'static str,
    pub evaluated_at: String,
    pub reasons: Vec<ReasonView>,
}

/// `/embed/risk`: the job's risk level, each reason with what to do, and the deep link.
#[derive(Template, Debug)]
#[template(path = "embed/risk.html")]
pub struct RiskPage {
    pub job: JobHeader,
    pub assessment: Option<AssessmentView>,
    pub jobnimbus_url: Option<String>,
}

fn level_class(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
    }
}

fn rule_label(rule: domain::risk::RiskRule) -> &'static str {
    use domain::risk::RiskRule;
    match rule {
        RiskRule::StuckInStatus => "Stuck in status",
        RiskRule::MissingQcPhotos => "Missing QC photos",
        RiskRule::StaleJob => "No recent updates",
        RiskRule::MissingDocuments => "Missing documents",
    }
}

impl RiskPage {
    pub fn new(
        job: JobHeader,
        latest: Option<(&RiskAssessment, DateTime<Utc>)>,
        jobnimbus_url: Option<String>,
    ) -> Self {
        let assessment = latest.map(|(assessment, at)| AssessmentView {
            level: assessment.level.as_str(),
            class: level_class(assessment.level),
            summary: match assessment.level {
                RiskLevel::Low => "Nothing needs attention.",
                RiskLevel::Medium => "Keep an eye on this job.",
                RiskLevel::High => "This job needs attention now.",
            },
            evaluated_at: moment(at),
            reasons: assessment
                .reasons
                .iter()
                .map(|reason| ReasonView {
                    rule: rule_label(reason.rule),
                    severity: reason.severity.as_str(),
                    class: level_class(reason.severity),
                    message: reason.message.clone(),
                    action: reason.rule.recommended_action(),
                })
                .collect(),
        });
        Self {
            job,
            assessment,
            jobnimbus_url,
        }
    }
}

/// A page that opens nothing (expired, forged, wrong panel…), readable inside the iframe.
#[derive(Template, Debug)]
#[template(path = "embed/refused.html")]
pub struct RefusedPage {
    pub heading: &'static str,
    pub message: String,
    pub code: String,
}

/// What a customer sees of a job: the portal page and its API share it.
#[derive(Template, Debug)]
#[template(path = "embed/portal.html")]
pub struct PortalPage {
    pub view: PortalText,
}

/// The portal's facts, already in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalText {
    pub job_name: String,
    pub job_number: Option<String>,
    pub stage: &'static str,
    pub status_text: String,
    pub customer_name: Option<String>,
    pub address_text: Option<String>,
    pub started_text: String,
    pub completed_text: String,
    pub photo_stages: Vec<PortalStage>,
    pub photos: Vec<PortalPhotoText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalStage {
    pub label: &'static str,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalPhotoText {
    pub stage: &'static str,
    pub filename: String,
    pub date: Option<String>,
}

/// Where a job is, in the customer's words, from its dates.
pub fn stage_of(
    started: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> &'static str {
    match (started, completed) {
        (_, Some(done)) if done <= now => "Completed",
        (Some(start), _) if start <= now => "In progress",
        (Some(_), _) => "Scheduled",
        (None, _) => "Being planned",
    }
}

pub fn optional_day(at: Option<DateTime<Utc>>, otherwise: &str) -> String {
    at.map(day).unwrap_or_else(|| otherwise.to_string())
}

pub fn photo_date(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(day)
}

pub fn stage_name(category: QcCategory) -> &'static str {
    stage_label(category)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::qc::{MissingCategory, PhotoCounts};
    use domain::risk::{RiskReason, RiskRule};

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap()
    }

    fn job() -> JobHeader {
        JobHeader {
            name: "Roof <replacement> & gutters".into(),
            number: Some("1042".into()),
            status: Some("In Progress".into()),
            customer: Some("Dana Whitfield".into()),
            address: Some("12 Elm St, Springfield".into()),
        }
    }

    #[test]
    fn a_failed_check_shows_counts_against_requirements_and_what_is_missing() {
        let photos = PhotoCounts {
            before: 3,
            during: 1,
            after: 0,
            unclassified: 2,
        };
        let check = QcCheck {
            status: QcStatus::Fail,
            photos,
            missing: vec![MissingCategory {
                category: QcCategory::After,
                required: 2,
                current: 0,
                missing: 2,
            }],
        };

        let html = QcPage::new(job(), &photos, Some((&check, at())))
            .render()
            .unwrap();

        assert!(html.contains("<strong>FAIL</strong>"), "{html}");
        assert!(html.contains("2 more needed (0 of 2)"), "{html}");
        assert!(html.contains("of 2 required"), "{html}");
        assert!(
            html.contains("6 photos on the job, 2 not yet sorted"),
            "{html}"
        );
        assert!(html.contains("20 Nov 2026, 09:30 UTC"), "{html}");
        // Text from the CRM is escaped, never markup.
        assert!(
            html.contains("Roof &#60;replacement&#62; &#38; gutters"),
            "{html}"
        );
        assert!(!html.contains("<replacement>"));
    }

    #[test]
    fn a_job_never_checked_says_so_and_still_counts_its_photos() {
        let photos = PhotoCounts {
            before: 1,
            ..PhotoCounts::default()
        };
        let html = QcPage::new(job(), &photos, None).render().unwrap();
        assert!(html.contains("NOT EVALUATED"), "{html}");
        assert!(!html.contains("required"), "{html}");
    }

    #[test]
    fn a_risk_page_lists_each_reason_with_its_action_and_the_deep_link() {
        let assessment = RiskAssessment {
            level: RiskLevel::High,
            reasons: vec![
                RiskReason {
                    rule: RiskRule::StuckInStatus,
                    severity: RiskLevel::High,
                    message: "In status Sold since 2026-11-01.".into(),
                },
                RiskReason {
                    rule: RiskRule::StaleJob,
                    severity: RiskLevel::Medium,
                    message: "Not updated since 2026-11-10.".into(),
                },
            ],
        };
        let html = RiskPage::new(
            job(),
            Some((&assessment, at())),
            Some("https://app.jobnimbus.com/job/j1".into()),
        )
        .render()
        .unwrap();
        assert!(html.contains("<strong>HIGH</strong>"), "{html}");
        assert!(html.contains("In status Sold since 2026-11-01."), "{html}");
        assert!(
            html.contains(RiskRule::StuckInStatus.recommended_action()),
            "{html}"
        );
        assert!(
            html.contains(RiskRule::StaleJob.recommended_action()),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://app.jobnimbus.com/job/j1\""),
            "{html}"
        );
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    }

    #[test]
    fn a_customers_stage_follows_the_jobs_dates() {
        let day = |d: u32| Some(Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap());
        let now = day(15).unwrap();
        assert_eq!(stage_of(None, None, now), "Being planned");
        assert_eq!(stage_of(day(20), None, now), "Scheduled");
        assert_eq!(stage_of(day(10), None, now), "In progress");
        assert_eq!(stage_of(day(10), day(20), now), "In progress");
        assert_eq!(stage_of(day(10), day(14), now), "Completed");
    }
}
