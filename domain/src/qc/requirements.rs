//! How many photos of each stage a job must have: a global default and overrides per
//! workflow (job type).

use super::QcCategory;

/// Required photo counts of the three QC stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequiredPhotos {
    pub before: u32,
    pub during: u32,
    pub after: u32,
}

impl RequiredPhotos {
    /// What `category` requires; unclassified photos are never required.
    pub fn of(&self, category: QcCategory) -> u32 {
        match category {
            QcCategory::Before => self.before,
            QcCategory::During => self.during,
            QcCategory::After => self.after,
            QcCategory::Unclassified => 0,
        }
    }

    fn set(&mut self, category: QcCategory, count: u32) {
        match category {
            QcCategory::Before => self.before = count,
            QcCategory::During => self.during = count,
            QcCategory::After => self.after = count,
            QcCategory::Unclassified => {}
        }
    }

    /// A workflow that requires nothing is exempt from QC.
    pub fn is_none(&self) -> bool {
        self.before == 0 && self.during == 0 && self.after == 0
    }
}

/// The QC requirements in force.
///
/// Invariant: workflow names are unique (compared case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QcPolicy {
    /// For jobs whose workflow has no override (`QC_REQUIRED_BEFORE/DURING/AFTER`).
    pub default: RequiredPhotos,
    by_workflow: Vec<(String, RequiredPhotos)>,
}

impl QcPolicy {
    /// `overrides` is the per-workflow setting (`QC_REQUIREMENTS_BY_WORKFLOW`): entries
    /// separated by `;`, each `Workflow=BEFORE:n,DURING:n,AFTER:n`, a category left out
    /// keeping the default's count; e.g. `Commercial=BEFORE:5,AFTER:5;Service=AFTER:1`.
    pub fn new(default: RequiredPhotos, overrides: &str) -> Result<Self, QcPolicyError> {
        let mut by_workflow: Vec<(String, RequiredPhotos)> = Vec::new();
        for entry in overrides
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let invalid = |why: &str| QcPolicyError {
                entry: entry.to_string(),
                why: why.to_string(),
            };
            let (workflow, counts) = entry
                .split_once('=')
                .ok_or_else(|| invalid("expected `Workflow=CATEGORY:count,…`"))?;
            let workflow = workflow.trim();
            if workflow.is_empty() {
                return Err(invalid("the workflow name is empty"));
            }
            if by_workflow
                .iter()
                .any(|(seen, _)| seen.eq_ignore_ascii_case(workflow))
            {
                return Err(invalid("the workflow is listed twice"));
            }
            let mut required = default;
            for pair in counts.split(',').map(str::trim) {
                let (category, count) = pair
                    .split_once(':')
                    .ok_or_else(|| invalid("expected `CATEGORY:count`"))?;
                let category = category
                    .trim()
                    .parse::<QcCategory>()
                    .ok()
                    .filter(|c| *c != QcCategory::Unclassified)
                    .ok_or_else(|| invalid("categories are BEFORE, DURING and AFTER"))?;
                let count = count
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| invalid("a count is a whole number"))?;
                required.set(category, count);
            }
            by_workflow.push((workflow.to_string(), required));
        }
        Ok(Self {
            default,
            by_workflow,
        })
    }

    /// The requirements of a job of `workflow`.
    pub fn for_workflow(&self, workflow: Option<&str>) -> RequiredPhotos {
        workflow
            .and_then(|workflow| {
                self.by_workflow
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(workflow.trim()))
            })
            .map_or(self.default, |(_, required)| *required)
    }
}

/// A per-workflow QC requirement that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QC requirement `{entry}`: {why}")]
pub struct QcPolicyError {
    pub entry: String,
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(before: u32, during: u32, after: u32) -> RequiredPhotos {
        RequiredPhotos {
            before,
            during,
            after,
        }
    }

    #[test]
    fn a_workflow_override_replaces_the_counts_it_names_and_keeps_the_rest() {
        let policy = QcPolicy::new(
            counts(2, 1, 2),
            "Commercial=BEFORE:5,AFTER:6; service = AFTER:1, BEFORE:0, DURING:0",
        )
        .unwrap();
        let cases = [
            (Some("Commercial"), counts(5, 1, 6)),
            (Some("commercial"), counts(5, 1, 6)),
            (Some("Service"), counts(0, 0, 1)),
            (Some("Residential"), counts(2, 1, 2)),
            (None, counts(2, 1, 2)),
        ];
        for (workflow, expected) in cases {
            assert_eq!(policy.for_workflow(workflow), expected, "{workflow:?}");
        }
    }

    #[test]
    fn malformed_overrides_are_refused_naming_the_entry() {
        for bad in [
            "Commercial",
            "=BEFORE:1",
            "Commercial=BEFORE",
            "Commercial=SIDEWAYS:1",
            "Commercial=UNCLASSIFIED:1",
            "Commercial=BEFORE:-1",
            "Commercial=BEFORE:1;commercial=AFTER:1",
        ] {
            let error = QcPolicy::new(RequiredPhotos::default(), bad).unwrap_err();
            assert!(bad.contains(&error.entry), "{bad}: {error}");
        }
    }

    #[test]
    fn a_workflow_requiring_nothing_is_exempt() {
        assert!(counts(0, 0, 0).is_none());
        assert!(!counts(0, 0, 1).is_none());
    }
}
