//! The QC photo check: a job's categorised photos against the requirements due at an
//! instant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobDates, QcCategory, QcStatus, RequiredPhotos};

/// Photos per category (the seed's `totalPhotos`, plus the unclassified ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoCounts {
    pub before: u32,
    pub during: u32,
    pub after: u32,
    pub unclassified: u32,
}

impl PhotoCounts {
    pub fn of(&self, category: QcCategory) -> u32 {
        match category {
            QcCategory::Before => self.before,
            QcCategory::During => self.during,
            QcCategory::After => self.after,
            QcCategory::Unclassified => self.unclassified,
        }
    }

    pub fn add(&mut self, category: QcCategory) {
        let count = match category {
            QcCategory::Before => &mut self.before,
            QcCategory::During => &mut self.during,
            QcCategory::After => &mut self.after,
            QcCategory::Unclassified => &mut self.unclassified,
        };
        *count = count.saturating_add(1);
    }

    pub fn total(&self) -> u32 {
        self.before
            .saturating_add(self.during)
            .saturating_add(self.after)
            .saturating_add(self.unclassified)
    }
}

impl FromIterator<QcCategory> for PhotoCounts {
    fn from_iter<I: IntoIterator<Item = QcCategory>>(categories: I) -> Self {
        let mut counts = PhotoCounts::default();
        categories.into_iter().for_each(|c| counts.add(c));
        counts
    }
}

/// A category with fewer photos than required (the seed's `missingCategories[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingCategory {
    pub category: QcCategory,
    pub required: u32,
    pub current: u32,
    pub missing: u32,
}

/// What the check reads of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QcFacts {
    pub dates: JobDates,
    /// Whether the job's files were ever pulled: without a listing, zero photos is not a
    /// finding.
    pub files_pulled: bool,
    pub photos: PhotoCounts,
}

/// The outcome of a QC photo check.
///
/// Invariant: `status` is `Fail` exactly when `missing` is non-empty; `missing` lists only
/// categories due at the check's instant, in stage order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QcCheck {
    pub status: QcStatus,
    pub photos: PhotoCounts,
    pub missing: Vec<MissingCategory>,
}

/// Checks the job's photos against `required` at `now`.
///
/// A stage's photos are due once the stage is over, so a job is not failed for photos
/// nobody could have taken yet: BEFORE photos once work has started, DURING and AFTER
/// photos once the job is completed. A job without a start date, not started yet, whose
/// files were never pulled, or whose workflow requires nothing is `NotChecked`.
pub fn check_photos(facts: &QcFacts, required: RequiredPhotos, now: DateTime<Utc>) -> QcCheck {
    let not_checked = QcCheck {
        status: QcStatus::NotChecked,
        photos: facts.photos,
        missing: Vec::new(),
    };
    let started = facts.dates.started_at.is_some_and(|at| at <= now);
    if !facts.files_pulled || required.is_none() || !started {
        return not_checked;
    }
    let completed = facts.dates.completed_at.is_some_and(|at| at <= now);
    let due: &[QcCategory] = if completed {
        &[QcCategory::Before, QcCategory::During, QcCategory::After]
    } else {
        &[QcCategory::Before]
    };
    let missing: Vec<MissingCategory> = due
        .iter()
        .filter_map(|&category| {
            let required = required.of(category);
            let current = facts.photos.of(category);
            (current < required).then(|| MissingCategory {
                category,
                required,
                current,
                missing: required - current,
            })
        })
        .collect();
    QcCheck {
        status: if missing.is_empty() {
            QcStatus::Pass
        } else {
            QcStatus::Fail
        },
        photos: facts.photos,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn required() -> RequiredPhotos {
        RequiredPhotos {
            before: 2,
            during: 1,
            after: 2,
        }
    }

    fn photos(before: u32, during: u32, after: u32) -> PhotoCounts {
        PhotoCounts {
            before,
            during,
            after,
            unclassified: 3,
        }
    }

    fn in_progress() -> JobDates {
        JobDates {
            started_at: Some(now() - Duration::days(2)),
            completed_at: None,
        }
    }

    fn completed() -> JobDates {
        JobDates {
            started_at: Some(now() - Duration::days(5)),
            completed_at: Some(now() - Duration::days(1)),
        }
    }

    fn missing(check: &QcCheck) -> Vec<(QcCategory, u32, u32, u32)> {
        check
            .missing
            .iter()
            .map(|m| (m.category, m.required, m.current, m.missing))
            .collect()
    }

    #[test]
    fn stages_are_due_once_they_are_over() {
        use QcCategory::{After, Before, During};
        let cases = [
            (in_progress(), photos(2, 0, 0), QcStatus::Pass, vec![]),
            (
                in_progress(),
                photos(1, 0, 0),
                QcStatus::Fail,
                vec![(Before, 2, 1, 1)],
            ),
            (completed(), photos(2, 1, 2), QcStatus::Pass, vec![]),
            (completed(), photos(5, 5, 5), QcStatus::Pass, vec![]),
            (
                completed(),
                photos(2, 0, 1),
                QcStatus::Fail,
                vec![(During, 1, 0, 1), (After, 2, 1, 1)],
            ),
            (
                completed(),
                photos(0, 0, 0),
                QcStatus::Fail,
                vec![(Before, 2, 0, 2), (During, 1, 0, 1), (After, 2, 0, 2)],
            ),
        ];
        for (dates, photos, status, expected) in cases {
            let facts = QcFacts {
                dates,
                files_pulled: true,
                photos,
            };
            let check = check_photos(&facts, required(), now());
            assert_eq!(check.status, status, "{facts:?}");
            assert_eq!(missing(&check), expected, "{facts:?}");
            assert_eq!(check.photos, photos);
        }
    }

    #[test]
    fn a_stage_ending_exactly_now_is_due() {
        let facts = QcFacts {
            dates: JobDates {
                started_at: Some(now() - Duration::days(1)),
                completed_at: Some(now()),
            },
            files_pulled: true,
            photos: photos(2, 1, 0),
        };
        let check = check_photos(&facts, required(), now());
        assert_eq!(missing(&check), vec![(QcCategory::After, 2, 0, 2)]);
    }

    #[test]
    fn unclassified_photos_count_in_the_total_but_satisfy_no_stage() {
        let facts = QcFacts {
            dates: completed(),
            files_pulled: true,
            photos: photos(2, 1, 1),
        };
        let check = check_photos(&facts, required(), now());
        assert_eq!(check.status, QcStatus::Fail);
        assert_eq!(check.photos.total(), 7);
    }

    #[test]
    fn nothing_is_checked_without_a_listing_a_start_or_a_requirement() {
        let cases = [
            (completed(), false, required()),
            (JobDates::default(), true, required()),
            (
                JobDates {
                    started_at: Some(now() + Duration::days(3)),
                    completed_at: None,
                },
                true,
                required(),
            ),
            (completed(), true, RequiredPhotos::default()),
        ];
        for (dates, files_pulled, required) in cases {
            let facts = QcFacts {
                dates,
                files_pulled,
                photos: photos(0, 0, 0),
            };
            let check = check_photos(&facts, required, now());
            assert_eq!(check.status, QcStatus::NotChecked, "{facts:?} {required:?}");
            assert!(check.missing.is_empty());
        }
    }

    #[test]
    fn counts_collect_from_categories() {
        use QcCategory::{After, Before, Unclassified};
        let counts: PhotoCounts = [Before, Before, After, Unclassified].into_iter().collect();
        assert_eq!(
            counts,
            PhotoCounts {
                before: 2,
                during: 0,
                after: 1,
                unclassified: 1
            }
        );
        assert_eq!(counts.total(), 4);
    }
}
