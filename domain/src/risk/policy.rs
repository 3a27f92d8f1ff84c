use std::str::FromStr;

/// Day counts at which a time-based rule becomes medium and high risk.
///
/// Invariant: `1 <= medium <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayThresholds {
    medium: u32,
    high: u32,
}

impl DayThresholds {
    pub fn new(medium: u32, high: u32) -> Result<Self, RiskPolicyError> {
        if medium == 0 || medium > high {
            return Err(RiskPolicyError::Thresholds { medium, high });
        }
        Ok(Self { medium, high })
    }

    pub fn medium(&self) -> u32 {
        self.medium
    }

    pub fn high(&self) -> u32 {
        self.high
    }
}

/// A document type a job must have once it reaches a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRequirement {
    /// Only jobs of this workflow; `None` for every workflow.
    pub workflow: Option<String>,
    /// The status from which the document is needed.
    pub status: String,
    pub document_type: String,
}

/// The thresholds and requirements the risk rules apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskPolicy {
    /// `RISK_STUCK_STATUS_DAYS_MEDIUM` / `_HIGH`.
    pub stuck_in_status: DayThresholds,
    /// `RISK_STALE_JOB_DAYS_MEDIUM` / `_HIGH`.
    pub stale_job: DayThresholds,
    /// Statuses of finished jobs, which no rule flags (compared case-insensitively).
    pub closed_statuses: Vec<String>,
    pub required_documents: Vec<DocumentRequirement>,
}

impl Default for RiskPolicy {
    /// The seed's thresholds (7 and 14 days for both rules), no required documents.
    fn default() -> Self {
        let seed = DayThresholds {
            medium: 7,
            high: 14,
        };
        Self {
            stuck_in_status: seed,
            stale_job: seed,
            closed_statuses: ["Closed", "Archived", "Lost", "Cancelled"]
                .map(String::from)
                .to_vec(),
            required_documents: Vec::new(),
        }
    }
}

impl RiskPolicy {
    pub fn is_closed(&self, status: &str) -> bool {
        self.closed_statuses
            .iter()
            .any(|closed| closed.trim().eq_ignore_ascii_case(status.trim()))
    }
}

/// A risk setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskPolicyError {
    #[error(
        "thresholds must satisfy 1 <= medium <= high days, got medium {medium} and high {high}"
    )]
    Thresholds { medium: u32, high: u32 },
    #[error("`{0}` is not a document requirement: write `[workflow/]status=Type[,Type…]`")]
    Requirement(String),
}

/// Parses the required-documents setting: requirements separated by `;`, each
/// `[workflow/]status=Type[,Type…]`, e.g. `Signed=Contract;Residential/Invoiced=Invoice,Lien Waiver`.
/// Blank input means no requirement.
pub struct RequiredDocuments(pub Vec<DocumentRequirement>);

impl FromStr for RequiredDocuments {
    type Err = RiskPolicyError;

    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        let mut requirements = Vec::new();
        for entry in setting.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let invalid = || RiskPolicyError::Requirement(entry.to_string());
            let (scope, types) = entry.split_once('=').ok_or_else(invalid)?;
            let (workflow, status) = match scope.split_once('/') {
                Some((workflow, status)) => (Some(workflow.trim()), status.trim()),
                None => (None, scope.trim()),
            };
            if status.is_empty() || workflow.is_some_and(str::is_empty) {
                return Err(invalid());
            }
            let types: Vec<&str> = types.split(',').map(str::trim).collect();
            if types.iter().any(|t| t.is_empty()) {
                return Err(invalid());
            }
            requirements.extend(types.into_iter().map(|document_type| DocumentRequirement {
                workflow: workflow.map(String::from),
                status: status.to_string(),
                document_type: document_type.to_string(),
            }));
        }
        Ok(Self(requirements))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_need_one_day_at_least_and_medium_not_above_high() {
        assert!(DayThresholds::new(7, 14).is_ok());
        assert!(DayThresholds::new(7, 7).is_ok());
        assert!(DayThresholds::new(0, 14).is_err());
        assert!(DayThresholds::new(15, 14).is_err());
    }

    #[test]
    fn required_documents_parse_with_and_without_a_workflow() {
        let RequiredDocuments(parsed) =
            "Signed=Contract; Residential/Invoiced = Invoice, Lien Waiver"
                .parse()
                .unwrap();
        let expected = [
            (None, "Signed", "Contract"),
            (Some("Residential"), "Invoiced", "Invoice"),
            (Some("Residential"), "Invoiced", "Lien Waiver"),
        ];
        assert_eq!(parsed.len(), expected.len());
        for (requirement, (workflow, status, document_type)) in parsed.iter().zip(expected) {
            assert_eq!(requirement.workflow.as_deref(), workflow);
            assert_eq!(requirement.status, status);
            assert_eq!(requirement.document_type, document_type);
        }
        assert!("".parse::<RequiredDocuments>().unwrap().0.is_empty());
    }

    #[test]
    fn malformed_requirements_are_refused_with_the_entry() {
        for bad in [
            "Signed",
            "=Contract",
            "Signed=",
            "/Signed=Contract",
            "Signed=Contract,",
        ] {
            let error = bad.parse::<RequiredDocuments>().err();
            assert_eq!(
                error,
                Some(RiskPolicyError::Requirement(bad.to_string())),
                "{bad}"
            );
        }
    }
}
