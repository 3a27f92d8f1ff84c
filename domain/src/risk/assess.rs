use chrono::{DateTime, Utc};

use super::{
    DayThresholds, JobRiskFacts, RiskAssessment, RiskLevel, RiskPolicy, RiskReason, RiskRule,
};
use crate::qc::QcStatus;

/// Evaluates every risk rule for a job at `now`.
///
/// Messages name dates, not day counts, so re-evaluating an unchanged situation the next
/// day gives an equal assessment and records nothing new.
///
/// Closed jobs (a closed status) and jobs gone from the CRM are not flagged: there is
/// nothing left for anyone to do about them.
pub fn assess(facts: &JobRiskFacts<'_>, policy: &RiskPolicy, now: DateTime<Utc>) -> RiskAssessment {
    let closed = facts.status.is_some_and(|status| policy.is_closed(status));
    if closed || !facts.is_active {
        return RiskAssessment::none();
    }
    let mut reasons = Vec::new();
    reasons.extend(stuck_in_status(facts, policy.stuck_in_status, now));
    reasons.extend(missing_qc_photos(facts));
    reasons.extend(stale_job(facts, policy.stale_job, now));
    reasons.extend(missing_documents(facts, policy));
    RiskAssessment::from_reasons(reasons)
}

/// Whole days from `since` to `now`; a `since` in the future (clock skew between the CRM
/// and us) counts as no time at all.
fn whole_days(since: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    u32::try_from((now - since).num_days().max(0)).unwrap_or(u32::MAX)
}

fn severity(days: u32, thresholds: DayThresholds) -> Option<RiskLevel> {
    if days >= thresholds.high() {
        Some(RiskLevel::High)
    } else if days >= thresholds.medium() {
        Some(RiskLevel::Medium)
    } else {
        None
    }
}

fn stuck_in_status(
    facts: &JobRiskFacts<'_>,
    thresholds: DayThresholds,
    now: DateTime<Utc>,
) -> Option<RiskReason> {
    // Without the CRM's status-change date the time in status is unknown, not zero.
    let since = facts.status_changed_at?;
    let severity = severity(whole_days(since, now), thresholds)?;
    let status = facts.status.unwrap_or("its current status");
    Some(RiskReason {
        rule: RiskRule::StuckInStatus,
        severity,
        message: format!(
            "In status \"{status}\" since {} ({} from {} days, {} from {}).",
            since.format("%Y-%m-%d"),
            RiskLevel::Medium,
            thresholds.medium(),
            RiskLevel::High,
            thresholds.high()
        ),
    })
}

fn stale_job(
    facts: &JobRiskFacts<'_>,
    thresholds: DayThresholds,
    now: DateTime<Utc>,
) -> Option<RiskReason> {
    let since = facts.updated_at?;
    let severity = severity(whole_days(since, now), thresholds)?;
    Some(RiskReason {
        rule: RiskRule::StaleJob,
        severity,
        message: format!(
            "Not updated in the CRM since {} ({} from {} days, {} from {}).",
            since.format("%Y-%m-%d"),
            RiskLevel::Medium,
            thresholds.medium(),
            RiskLevel::High,
            thresholds.high()
        ),
    })
}

fn missing_qc_photos(facts: &JobRiskFacts<'_>) -> Option<RiskReason> {
    let qc = facts.latest_qc.as_ref()?;
    if qc.status != QcStatus::Fail {
        return None;
    }
    let gaps: Vec<String> = qc
        .missing
        .iter()
        .filter(|gap| gap.missing > 0)
        .map(|gap| format!("{} {}", gap.missing, gap.category))
        .collect();
    let detail = if gaps.is_empty() {
        String::new()
    } else {
        format!(": missing {}", gaps.join(", "))
    };
    Some(RiskReason {
        rule: RiskRule::MissingQcPhotos,
        severity: RiskLevel::High,
        message: format!("The latest QC photo check failed{detail}."),
    })
}

/// A requirement applies from its status on: at that status a missing document is medium
/// risk (there is still time), past it high (the job moved on without it). Before it, or in
/// a workflow whose pipeline we do not know past the status itself, nothing is due yet.
fn missing_documents(facts: &JobRiskFacts<'_>, policy: &RiskPolicy) -> Vec<RiskReason> {
    let Some(status) = facts.status else {
        return Vec::new();
    };
    let position = |name: &str| {
        facts
            .workflow_statuses
            .iter()
            .position(|s| s.trim().eq_ignore_ascii_case(name.trim()))
    };
    let current = position(status);
    policy
        .required_documents
        .iter()
        .filter(
            |requirement| match (&requirement.workflow, facts.workflow) {
                (None, _) => true,
                (Some(wanted), Some(workflow)) => {
                    wanted.trim().eq_ignore_ascii_case(workflow.trim())
                }
                (Some(_), None) => false,
            },
        )
        .filter(|requirement| {
            !facts
                .documents
                .iter()
                .any(|document| document.is_of_type(&requirement.document_type))
        })
        .filter_map(|requirement| {
            let at_status = requirement
                .status
                .trim()
                .eq_ignore_ascii_case(status.trim());
            let past_status = matches!(
                (current, position(&requirement.status)),
                (Some(current), Some(needed)) if current > needed
            );
            let (severity, when) = if past_status {
                (RiskLevel::High, "was needed from")
            } else if at_status {
                (RiskLevel::Medium, "is needed in")
            } else {
                return None;
            };
            Some(RiskReason {
                rule: RiskRule::MissingDocuments,
                severity,
                message: format!(
                    "No \"{}\" document on the job; it {when} status \"{}\".",
                    requirement.document_type, requirement.status
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::risk::{DocumentFacts, DocumentRequirement, LatestQc, MissingPhotos};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        now() - Duration::days(days)
    }

    fn active(status: &'static str) -> JobRiskFacts<'static> {
        JobRiskFacts {
            status: Some(status),
            workflow: Some("Residential"),
            is_active: true,
            ..JobRiskFacts::default()
        }
    }

    fn rules_fired(assessment: &RiskAssessment) -> Vec<(RiskRule, RiskLevel)> {
        assessment
            .reasons
            .iter()
            .map(|reason| (reason.rule, reason.severity))
            .collect()
    }

    #[test]
    fn stuck_in_status_counts_whole_days_since_the_status_change() {
        let cases = [
            (0, None),
            (6, None),
            (7, Some(RiskLevel::Medium)),
            (13, Some(RiskLevel::Medium)),
            (14, Some(RiskLevel::High)),
            (400, Some(RiskLevel::High)),
        ];
        for (days, expected) in cases {
            let facts = JobRiskFacts {
                status_changed_at: Some(days_ago(days)),
                ..active("Sold")
            };
            let fired = rules_fired(&assess(&facts, &RiskPolicy::default(), now()));
            let expected: Vec<_> = expected
                .map(|l| (RiskRule::StuckInStatus, l))
                .into_iter()
                .collect();
            assert_eq!(fired, expected, "{days} days in status");
        }
    }

    #[test]
    fn the_same_situation_a_day_later_is_the_same_assessment_until_a_threshold_passes() {
        let facts = JobRiskFacts {
            status_changed_at: Some(days_ago(8)),
            updated_at: Some(days_ago(8)),
            ..active("Sold")
        };
        let policy = RiskPolicy::default();
        let today = assess(&facts, &policy, now());
        let tomorrow = assess(&facts, &policy, now() + Duration::days(1));
        let in_a_week = assess(&facts, &policy, now() + Duration::days(6));
        assert_eq!(today, tomorrow);
        assert_eq!(today.level, RiskLevel::Medium);
        assert_eq!(in_a_week.level, RiskLevel::High);
        assert!(
            today.reasons[0].message.contains("since 2026-11-14"),
            "{today:?}"
        );
    }

    #[test]
    fn a_day_short_of_the_threshold_is_not_enough() {
        let facts = JobRiskFacts {
            status_changed_at: Some(days_ago(7) + Duration::seconds(1)),
            ..active("Sold")
        };
        assert_eq!(
            assess(&facts, &RiskPolicy::default(), now()),
            RiskAssessment::none()
        );
    }

    #[test]
    fn stale_job_counts_days_since_the_last_update_with_configured_thresholds() {
        let policy = RiskPolicy {
            stale_job: DayThresholds::new(3, 5).unwrap(),
            ..RiskPolicy::default()
        };
        let cases = [
            (2, None),
            (3, Some(RiskLevel::Medium)),
            (4, Some(RiskLevel::Medium)),
            (5, Some(RiskLevel::High)),
        ];
        for (days, expected) in cases {
            let facts = JobRiskFacts {
                updated_at: Some(days_ago(days)),
                ..active("Sold")
            };
            let fired = rules_fired(&assess(&facts, &policy, now()));
            let expected: Vec<_> = expected
                .map(|l| (RiskRule::StaleJob, l))
                .into_iter()
                .collect();
            assert_eq!(fired, expected, "{days} days without update");
        }
    }

    #[test]
    fn unknown_dates_and_dates_in_the_future_fire_nothing() {
        let unknown = active("Sold");
        let future = JobRiskFacts {
            status_changed_at: Some(now() + Duration::days(30)),
            updated_at: Some(now() + Duration::days(30)),
            ..active("Sold")
        };
        for facts in [unknown, future] {
            assert_eq!(
                assess(&facts, &RiskPolicy::default(), now()),
                RiskAssessment::none()
            );
        }
    }

    #[test]
    fn only_a_failed_qc_check_is_missing_photos_and_it_is_high() {
        let cases = [
            (None, None),
            (Some(QcStatus::Pass), None),
            (Some(QcStatus::NotChecked), None),
            (Some(QcStatus::Fail), Some(RiskLevel::High)),
        ];
        for (status, expected) in cases {
            let facts = JobRiskFacts {
                latest_qc: status.map(|status| LatestQc {
                    status,
                    missing: vec![MissingPhotos {
                        category: "AFTER".into(),
                        missing: 2,
                    }],
                }),
                ..active("Sold")
            };
            let assessment = assess(&facts, &RiskPolicy::default(), now());
            let expected: Vec<_> = expected
                .map(|l| (RiskRule::MissingQcPhotos, l))
                .into_iter()
                .collect();
            assert_eq!(rules_fired(&assessment), expected, "{status:?}");
            if let Some(reason) = assessment.reasons.first() {
                assert!(
                    reason.message.contains("missing 2 AFTER"),
                    "{}",
                    reason.message
                );
            }
        }
    }

    fn pipeline() -> Vec<String> {
        [
            "Lead",
            "Estimating",
            "Signed",
            "In Progress",
            "Invoiced",
            "Closed",
        ]
        .map(String::from)
        .to_vec()
    }

    fn contract_from_signed(workflow: Option<&str>) -> RiskPolicy {
        RiskPolicy {
            required_documents: vec![DocumentRequirement {
                workflow: workflow.map(String::from),
                status: "Signed".into(),
                document_type: "Contract".into(),
            }],
            ..RiskPolicy::default()
        }
    }

    #[test]
    fn missing_documents_are_medium_at_their_status_and_high_past_it() {
        let statuses = pipeline();
        let cases = [
            ("Lead", None),
            ("Estimating", None),
            ("Signed", Some(RiskLevel::Medium)),
            ("signed", Some(RiskLevel::Medium)),
            ("In Progress", Some(RiskLevel::High)),
            ("Invoiced", Some(RiskLevel::High)),
            // A status the workflow does not list cannot be placed in the pipeline.
            ("Somewhere Else", None),
        ];
        for (status, expected) in cases {
            let facts = JobRiskFacts {
                workflow_statuses: &statuses,
                ..active(status)
            };
            let fired = rules_fired(&assess(&facts, &contract_from_signed(None), now()));
            let expected: Vec<_> = expected
                .map(|l| (RiskRule::MissingDocuments, l))
                .into_iter()
                .collect();
            assert_eq!(fired, expected, "status {status}");
        }
    }

    #[test]
    fn a_document_of_the_type_by_file_type_name_or_by_its_words_satisfies_the_requirement() {
        let statuses = pipeline();
        let by_type = [DocumentFacts {
            type_name: Some("contract"),
            filename: "scan-0042.pdf",
            description: None,
        }];
        let by_filename = [DocumentFacts {
            type_name: Some("Document"),
            filename: "Signed Contract - Smith.pdf",
            description: None,
        }];
        let by_description = [DocumentFacts {
            type_name: None,
            filename: "scan.pdf",
            description: Some("customer contract, countersigned"),
        }];
        let unrelated = [DocumentFacts {
            type_name: Some("Document"),
            filename: "estimate.pdf",
            description: Some("roof estimate"),
        }];
        let cases: [(&[DocumentFacts<'_>], bool); 4] = [
            (&by_type, false),
            (&by_filename, false),
            (&by_description, false),
            (&unrelated, true),
        ];
        for (documents, flagged) in cases {
            let facts = JobRiskFacts {
                workflow_statuses: &statuses,
                documents,
                ..active("In Progress")
            };
            let assessment = assess(&facts, &contract_from_signed(None), now());
            assert_eq!(!assessment.reasons.is_empty(), flagged, "{documents:?}");
        }
    }

    #[test]
    fn without_a_known_pipeline_a_requirement_applies_only_at_its_own_status() {
        let cases = [("Signed", true), ("Invoiced", false)];
        for (status, flagged) in cases {
            let facts = active(status);
            let assessment = assess(&facts, &contract_from_signed(None), now());
            assert_eq!(!assessment.reasons.is_empty(), flagged, "status {status}");
        }
    }

    #[test]
    fn a_workflow_specific_requirement_ignores_other_workflows() {
        let statuses = pipeline();
        let cases = [
            (Some("Residential"), true),
            (Some("residential"), true),
            (Some("Commercial"), false),
            (None, false),
        ];
        for (workflow, flagged) in cases {
            let facts = JobRiskFacts {
                workflow,
                workflow_statuses: &statuses,
                ..active("Signed")
            };
            let assessment = assess(&facts, &contract_from_signed(Some("Residential")), now());
            assert_eq!(
                !assessment.reasons.is_empty(),
                flagged,
                "workflow {workflow:?}"
            );
        }
    }

    #[test]
    fn the_overall_level_is_the_highest_reason_and_reasons_come_in_rule_order() {
        let statuses = pipeline();
        let facts = JobRiskFacts {
            status_changed_at: Some(days_ago(8)),
            updated_at: Some(days_ago(20)),
            workflow_statuses: &statuses,
            ..active("Signed")
        };
        let assessment = assess(&facts, &contract_from_signed(None), now());
        assert_eq!(assessment.level, RiskLevel::High);
        assert_eq!(
            rules_fired(&assessment),
            vec![
                (RiskRule::StuckInStatus, RiskLevel::Medium),
                (RiskRule::StaleJob, RiskLevel::High),
                (RiskRule::MissingDocuments, RiskLevel::Medium),
            ]
        );
        assert!(assessment.reasons.iter().all(|r| !r.message.is_empty()));
    }

    #[test]
    fn closed_and_deleted_jobs_are_not_flagged_whatever_their_facts() {
        let statuses = pipeline();
        let alarming = |status: &'static str, is_active: bool| JobRiskFacts {
            status_changed_at: Some(days_ago(100)),
            updated_at: Some(days_ago(100)),
            latest_qc: Some(LatestQc {
                status: QcStatus::Fail,
                missing: Vec::new(),
            }),
            workflow_statuses: &statuses,
            is_active,
            ..active(status)
        };
        let cases = [
            (alarming("Closed", true), true),
            (alarming("archived", true), true),
            (alarming("Invoiced", false), true),
            (alarming("Invoiced", true), false),
        ];
        for (facts, quiet) in cases {
            let assessment = assess(&facts, &contract_from_signed(None), now());
            assert_eq!(assessment == RiskAssessment::none(), quiet, "{facts:?}");
        }
    }
}
