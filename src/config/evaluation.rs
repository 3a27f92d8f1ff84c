//! QC and risk evaluations: the rules' requirements and thresholds (the seed's `RISK_*`
//! names, plus `QC_*` for the photo requirements), and when they are re-evaluated on their
//! own (`EVALUATION_AUTOMATIC`, `EVALUATION_CRON`).

use domain::qc::{QcPolicy, RequiredPhotos};
use domain::risk::{DayThresholds, RequiredDocuments, RiskPolicy};
use projections::evaluation::EvaluationRules;

use super::{parse_bool, parse_or, problem, ConfigProblem};

#[derive(Debug, Clone)]
pub struct EvaluationSettings {
    /// `EVALUATION_AUTOMATIC` (default true): a job is re-evaluated when an event that
    /// matters arrives, and every job by the daily pass.
    pub automatic: bool,
    /// `EVALUATION_CRON` (default `0 3 * * *`), in the scheduler's six-field form: the pass
    /// that lets the time-based rules (stuck, stale) fire without any job changing.
    pub cron: String,
    pub rules: EvaluationRules,
}

impl Default for EvaluationSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            automatic: true,
            cron: "0 0 3 * * *".to_string(),
            rules: EvaluationRules {
                qc: QcPolicy::new(DEFAULT_REQUIRED, "").unwrap_or_default(),
                risk: RiskPolicy::default(),
                // Read from the CRM at run time, never configured.
                workflow_statuses: Default::default(),
            },
        }
    }
}

const DEFAULT_REQUIRED: RequiredPhotos = RequiredPhotos {
    before: 2,
    during: 1,
    after: 2,
};

pub(super) fn evaluation_settings(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> EvaluationSettings {
    let automatic = parse_bool(get, "EVALUATION_AUTOMATIC", true, problems);
    let cron_text = get("EVALUATION_CRON").unwrap_or_else(|| "0 3 * * *".to_string());
    let cron = crate::scheduler::six_field_cron(&cron_text).unwrap_or_else(|why| {
        problems.push(problem("EVALUATION_CRON", why));
        "0 0 3 * * *".to_string()
    });
    let required = RequiredPhotos {
        before: parse_or(get, "QC_REQUIRED_BEFORE", DEFAULT_REQUIRED.before, problems),
        during: parse_or(get, "QC_REQUIRED_DURING", DEFAULT_REQUIRED.during, problems),
        after: parse_or(get, "QC_REQUIRED_AFTER", DEFAULT_REQUIRED.after, problems),
    };
    let by_workflow = get("QC_REQUIREMENTS_BY_WORKFLOW").unwrap_or_default();
    let qc = QcPolicy::new(required, &by_workflow).unwrap_or_else(|error| {
        problems.push(problem("QC_REQUIREMENTS_BY_WORKFLOW", error.to_string()));
        QcPolicy::new(required, "").unwrap_or_default()
    });
    let seed = RiskPolicy::default();
    let stuck_in_status = thresholds(
        get,
        (
            "RISK_STUCK_STATUS_DAYS_MEDIUM",
            "RISK_STUCK_STATUS_DAYS_HIGH",
        ),
        seed.stuck_in_status,
        problems,
    );
    let stale_job = thresholds(
        get,
        ("RISK_STALE_JOB_DAYS_MEDIUM", "RISK_STALE_JOB_DAYS_HIGH"),
        seed.stale_job,
        problems,
    );
    let closed_statuses = match get("RISK_CLOSED_STATUSES") {
        None => seed.closed_statuses.clone(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    };
    let required_documents = get("RISK_REQUIRED_DOCUMENTS")
        .unwrap_or_default()
        .parse::<RequiredDocuments>()
        .map(|r| r.0)
        .unwrap_or_else(|error| {
            problems.push(problem("RISK_REQUIRED_DOCUMENTS", error.to_string()));
            Vec::new()
        });
    EvaluationSettings {
        automatic,
        cron,
        rules: EvaluationRules {
            qc,
            risk: RiskPolicy {
                stuck_in_status,
                stale_job,
                closed_statuses,
                required_documents,
            },
            workflow_statuses: Default::default(),
        },
    }
}

/// A medium/high pair of day counts; a bad pair is reported on the variable(s) that make
/// it bad, and the seed's pair used meanwhile.
fn thresholds(
    get: &impl Fn(&str) -> Option<String>,
    (medium_var, high_var): (&'static str, &'static str),
    default: DayThresholds,
    problems: &mut Vec<ConfigProblem>,
) -> DayThresholds {
    let before = problems.len();
    let medium = parse_or(get, medium_var, default.medium(), problems);
    let high = parse_or(get, high_var, default.high(), problems);
    if problems.len() > before {
        return default;
    }
    DayThresholds::new(medium, high).unwrap_or_else(|error| {
        let variable = if medium == 0 { medium_var } else { high_var };
        problems.push(problem(variable, error.to_string()));
        default
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (EvaluationSettings, Vec<ConfigProblem>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let mut problems = Vec::new();
        let settings = evaluation_settings(&get, &mut problems);
        (settings, problems)
    }

    #[test]
    fn no_variables_give_the_seeds_thresholds_and_two_one_two_photos() {
        let (settings, problems) = read(&[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(settings.automatic);
        assert_eq!(settings.cron, "0 0 3 * * *");
        assert_eq!(settings.rules.qc.default, DEFAULT_REQUIRED);
        assert_eq!(settings.rules.risk, RiskPolicy::default());
    }

    #[test]
    fn every_variable_is_read() {
        let (settings, problems) = read(&[
            ("EVALUATION_AUTOMATIC", "false"),
            ("EVALUATION_CRON", "30 4 * * *"),
            ("QC_REQUIRED_BEFORE", "3"),
            ("QC_REQUIRED_DURING", "0"),
            ("QC_REQUIRED_AFTER", "4"),
            ("QC_REQUIREMENTS_BY_WORKFLOW", "Service=AFTER:1"),
            ("RISK_STUCK_STATUS_DAYS_MEDIUM", "3"),
            ("RISK_STUCK_STATUS_DAYS_HIGH", "5"),
            ("RISK_STALE_JOB_DAYS_MEDIUM", "10"),
            ("RISK_STALE_JOB_DAYS_HIGH", "20"),
            ("RISK_CLOSED_STATUSES", "Paid, Lost"),
            ("RISK_REQUIRED_DOCUMENTS", "Signed=Contract"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!settings.automatic);
        assert_eq!(settings.cron, "0 30 4 * * *");
        let qc = &settings.rules.qc;
        assert_eq!(
            qc.default,
            RequiredPhotos {
                before: 3,
                during: 0,
                after: 4
            }
        );
        assert_eq!(qc.for_workflow(Some("service")).after, 1);
        let risk = &settings.rules.risk;
        assert_eq!(risk.stuck_in_status, DayThresholds::new(3, 5).unwrap());
        assert_eq!(risk.stale_job, DayThresholds::new(10, 20).unwrap());
        assert_eq!(risk.closed_statuses, vec!["Paid", "Lost"]);
        assert_eq!(risk.required_documents.len(), 1);
    }

    #[test]
    fn bad_values_are_each_reported_by_name() {
        let (_, problems) = read(&[
            ("EVALUATION_AUTOMATIC", "maybe"),
            ("EVALUATION_CRON", "every day"),
            ("QC_REQUIRED_BEFORE", "-1"),
            ("QC_REQUIREMENTS_BY_WORKFLOW", "Service=LATER:1"),
            ("RISK_STUCK_STATUS_DAYS_MEDIUM", "20"),
            ("RISK_STUCK_STATUS_DAYS_HIGH", "10"),
            ("RISK_STALE_JOB_DAYS_MEDIUM", "0"),
            ("RISK_REQUIRED_DOCUMENTS", "Signed"),
        ]);
        let named: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            named,
            vec![
                "EVALUATION_AUTOMATIC",
                "EVALUATION_CRON",
                "QC_REQUIRED_BEFORE",
                "QC_REQUIREMENTS_BY_WORKFLOW",
                "RISK_STUCK_STATUS_DAYS_HIGH",
                "RISK_STALE_JOB_DAYS_MEDIUM",
                "RISK_REQUIRED_DOCUMENTS",
            ]
        );
    }
}
