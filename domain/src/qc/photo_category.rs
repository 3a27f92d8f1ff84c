//! The QC photo category rule: which stage of a job (before, during, after the work) a photo
//! documents, from what people wrote about it and, failing that, from when it was taken.
//!
//! Pure and total: every photo gets exactly one category, the same one for the same inputs.
//!
//! 1. **Keywords**, in the sources people chose on purpose, most deliberate first: the tags,
//!    then the description, then the filename (usually the camera's `IMG_0412.jpg`). The
//!    first source holding any keyword decides. Matching is case-insensitive on whole words
//!    (split at anything but letters, digits and `-`), never on substrings: "preview" is not
//!    "pre", "afterglow" is not "after".
//!
//!    | Category | Words |
//!    |---|---|
//!    | BEFORE | before, pre, prior, existing, initial, original |
//!    | DURING | during, progress, inprogress, install, installing, installation, working, underway, ongoing |
//!    | AFTER | after, complete, completed, completion, final, finished |
//!
//!    In a hyphenated word the prefixes `pre-`, `mid-` and `post-` set the category of the
//!    whole word ("pre-install" is BEFORE, "post-install" AFTER, "mid-job" DURING): the
//!    prefix says when relative to the rest, so the rest is not read as a keyword of its own.
//!    Otherwise each part counts ("in-progress" is DURING through "progress").
//!
//!    **Conflicts** ("before and after", "installation complete"): when the deciding source
//!    names two different stages, its words say nothing reliable about this photo, and a less
//!    deliberate source is not allowed to overrule it either; the date decides (step 2). Any
//!    fixed preference (first word wins, latest stage wins) is right for some captions and
//!    wrong for others, while the capture date is evidence about the photo itself.
//!
//! 2. **Date**: when the photo was taken (capture time, else upload time) against the job's
//!    start and completion. Before the start → BEFORE; from the start to the completion, both
//!    instants included → DURING (at the start the work has begun; at the completion instant
//!    it has not yet ended); after the completion → AFTER. With a start but no completion, a
//!    photo at or after the start is DURING (the job is not recorded as done). With a
//!    completion but no start, only "after" can be told apart.
//!
//! 3. Otherwise **UNCLASSIFIED**: no keyword, and no date or no usable job dates (also when
//!    the completion precedes the start: we cannot tell which date is wrong).
//!
//! Negations ("not finished") are not understood; a caption with one is a keyword like any
//! other. People who need a different category retag the photo in the CRM.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The stage of a job a photo documents, as QC counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QcCategory {
    Before,
    During,
    After,
    /// Neither its words nor its date place the photo.
    Unclassified,
}

impl QcCategory {
    pub const ALL: [QcCategory; 4] = [
        QcCategory::Before,
        QcCategory::During,
        QcCategory::After,
        QcCategory::Unclassified,
    ];

    /// The name stored in read models and shown by the API (the seed's `BEFORE`…).
    pub fn as_str(self) -> &'static str {
        match self {
            QcCategory::Before => "BEFORE",
            QcCategory::During => "DURING",
            QcCategory::After => "AFTER",
            QcCategory::Unclassified => "UNCLASSIFIED",
        }
    }
}

impl fmt::Display for QcCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`QcCategory`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a QC category (BEFORE, DURING, AFTER, UNCLASSIFIED)")]
pub struct UnknownQcCategory(pub String);

impl FromStr for QcCategory {
    type Err = UnknownQcCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QcCategory::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownQcCategory(s.to_string()))
    }
}

/// What the rule reads of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoFacts<'a> {
    pub description: Option<&'a str>,
    pub filename: &'a str,
    pub tags: &'a [String],
    /// When the photo was taken (its capture time, else its upload time).
    pub taken_at: Option<DateTime<Utc>>,
}

/// When the job's work started and was completed, as its CRM holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobDates {
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The category of `photo` on a job with `job`'s dates (see the module documentation).
pub fn classify_photo(photo: &PhotoFacts<'_>, job: JobDates) -> QcCategory {
    let tags = photo.tags.join(" ");
    for source in [
        tags.as_str(),
        photo.description.unwrap_or(""),
        photo.filename,
    ] {
        match keywords_in(source) {
            Found::Nothing => continue,
            Found::One(category) => return category,
            Found::Conflict => break,
        }
    }
    by_date(photo.taken_at, job)
}

const BEFORE_WORDS: &[&str] = &["before", "pre", "prior", "existing", "initial", "original"];
const DURING_WORDS: &[&str] = &[
    "during",
    "progress",
    "inprogress",
    "install",
    "installing",
    "installation",
    "working",
    "underway",
    "ongoing",
];
const AFTER_WORDS: &[&str] = &[
    "after",
    "complete",
    "completed",
    "completion",
    "final",
    "finished",
];

/// Prefixes of hyphenated words that place the whole word.
const PREFIXES: &[(&str, QcCategory)] = &[
    ("pre", QcCategory::Before),
    ("mid", QcCategory::During),
    ("post", QcCategory::After),
];

/// What one source's words say.
enum Found {
    Nothing,
    One(QcCategory),
    Conflict,
}

fn keywords_in(text: &str) -> Found {
    let mut found: Option<QcCategory> = None;
    let mut conflict = false;
    let mut note = |category: QcCategory| match found {
        None => found = Some(category),
        Some(seen) if seen != category => conflict = true,
        Some(_) => {}
    };
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        let word = word.to_lowercase();
        let mut parts = word.split('-').filter(|p| !p.is_empty()).peekable();
        let Some(first) = parts.next() else {
            continue;
        };
        let compound = parts.peek().is_some();
        let prefix = PREFIXES
            .iter()
            .find(|(p, _)| *p == first)
            .map(|(_, category)| *category);
        match prefix {
            Some(category) if compound => note(category),
            _ => {
                for part in std::iter::once(first).chain(parts) {
                    if let Some(category) = word_category(part) {
                        note(category);
                    }
                }
            }
        }
    }
    match (found, conflict) {
        (_, true) => Found::Conflict,
        (Some(category), false) => Found::One(category),
        (None, false) => Found::Nothing,
    }
}

fn word_category(word: &str) -> Option<QcCategory> {
    [
        (BEFORE_WORDS, QcCategory::Before),
        (DURING_WORDS, QcCategory::During),
        (AFTER_WORDS, QcCategory::After),
    ]
    .into_iter()
    .find(|(words, _)| words.contains(&word))
    .map(|(_, category)| category)
}

fn by_date(taken_at: Option<DateTime<Utc>>, job: JobDates) -> QcCategory {
    let Some(taken) = taken_at else {
        return QcCategory::Unclassified;
    };
    match (job.started_at, job.completed_at) {
        (Some(start), Some(end)) if end < start => QcCategory::Unclassified,
        (Some(start), _) if taken < start => QcCategory::Before,
        (_, Some(end)) if taken > end => QcCategory::After,
        (Some(_), _) => QcCategory::During,
        (None, _) => QcCategory::Unclassified,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use QcCategory::{After, Before, During, Unclassified};

    const START: i64 = 1_700_000_000;
    const END: i64 = START + 3 * 86_400;

    fn at(seconds: i64) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(seconds, 0).unwrap())
    }

    fn job(start: Option<i64>, end: Option<i64>) -> JobDates {
        JobDates {
            started_at: start.and_then(at),
            completed_at: end.and_then(at),
        }
    }

    struct Case {
        name: &'static str,
        description: Option<&'static str>,
        filename: &'static str,
        tags: &'static [&'static str],
        taken: Option<i64>,
        job: JobDates,
        expected: QcCategory,
    }

    /// A photo with nothing to read but `description`, on a job without dates.
    fn described(name: &'static str, description: &'static str, expected: QcCategory) -> Case {
        Case {
            name,
            description: Some(description),
            filename: "IMG_0412.jpg",
            tags: &[],
            taken: None,
            job: JobDates::default(),
            expected,
        }
    }

    /// An undescribed photo taken at `taken` on `job`.
    fn dated(name: &'static str, taken: Option<i64>, job: JobDates, expected: QcCategory) -> Case {
        Case {
            name,
            description: None,
            filename: "IMG_0412.jpg",
            tags: &[],
            taken,
            job,
            expected,
        }
    }

    fn check(cases: Vec<Case>) {
        for case in cases {
            let tags: Vec<String> = case.tags.iter().map(|t| t.to_string()).collect();
            let photo = PhotoFacts {
                description: case.description,
                filename: case.filename,
                tags: &tags,
                taken_at: case.taken.and_then(at),
            };
            assert_eq!(
                classify_photo(&photo, case.job),
                case.expected,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn keywords_place_a_photo_whatever_their_case_and_punctuation() {
        check(vec![
            described("plain before", "Before tear-off", Before),
            described("upper case", "BEFORE", Before),
            described("existing", "Existing damage on north slope", Before),
            described(
                "initial",
                "Initial inspection: hail hits on ridge cap",
                Before,
            ),
            described("prior", "prior to work, back of house", Before),
            described("original", "Original roof, missing shingles", Before),
            described("pre as a word", "pre photos", Before),
            described("during", "during install - underlayment down", During),
            described("progress", "Tear-off in progress", During),
            described("in-progress", "work in-progress", During),
            described("installing", "installing drip edge", During),
            described("working", "Crew working on ridge vent", During),
            described("after", "After - completed roof", After),
            described("final", "Final walkthrough, south side", After),
            described("complete", "Job complete, new gutters", After),
            described("finished", "finished ridge cap", After),
            described("completed", "Completed work front elevation", After),
        ]);
    }

    #[test]
    fn a_prefix_places_its_whole_hyphenated_word() {
        check(vec![
            described("pre-install", "Pre-install condition", Before),
            described("pre-existing", "pre-existing cracks", Before),
            described("mid-job", "Mid-job: decking replaced near eaves", During),
            described("post-install", "Post-install cleanup", After),
            described("post-completion", "POST-COMPLETION check", After),
        ]);
    }

    #[test]
    fn keywords_match_whole_words_only() {
        check(vec![
            described("preview", "preview of the estimate", Unclassified),
            described("afterglow", "afterglow over the ridge", Unclassified),
            described("finalist", "finalists for shingle color", Unclassified),
            described("post alone", "fence post by the driveway", Unclassified),
            described("no keyword", "Satellite dish to remove", Unclassified),
            described("empty", "", Unclassified),
        ]);
    }

    #[test]
    fn tags_outrank_the_description_which_outranks_the_filename() {
        check(vec![
            Case {
                name: "tag over description",
                description: Some("after the storm"),
                filename: "IMG_1.jpg",
                tags: &["Before"],
                taken: None,
                job: JobDates::default(),
                expected: Before,
            },
            Case {
                name: "description over filename",
                description: Some("Final walkthrough"),
                filename: "before_1.jpg",
                tags: &[],
                taken: None,
                job: JobDates::default(),
                expected: After,
            },
            Case {
                name: "filename when nothing else speaks",
                description: Some("north slope"),
                filename: "roof_during_2.HEIC",
                tags: &["hail-2025"],
                taken: None,
                job: JobDates::default(),
                expected: During,
            },
            Case {
                name: "keywords beat the date",
                description: Some("before photo"),
                filename: "IMG_1.jpg",
                tags: &[],
                taken: Some(END + 86_400),
                job: job(Some(START), Some(END)),
                expected: Before,
            },
        ]);
    }

    #[test]
    fn conflicting_keywords_leave_the_decision_to_the_date() {
        check(vec![
            Case {
                name: "before and after, taken after completion",
                description: Some("before and after"),
                filename: "IMG_1.jpg",
                tags: &[],
                taken: Some(END + 60),
                job: job(Some(START), Some(END)),
                expected: After,
            },
            Case {
                name: "installation complete, taken during the work",
                description: Some("Installation complete"),
                filename: "IMG_1.jpg",
                tags: &[],
                taken: Some(START + 60),
                job: job(Some(START), Some(END)),
                expected: During,
            },
            Case {
                name: "a conflict is not settled by a lower source",
                description: Some("before/after"),
                filename: "after_1.jpg",
                tags: &[],
                taken: None,
                job: job(Some(START), Some(END)),
                expected: Unclassified,
            },
            Case {
                name: "conflict in a filename",
                description: None,
                filename: "before_after.jpg",
                tags: &[],
                taken: Some(START - 60),
                job: job(Some(START), Some(END)),
                expected: Before,
            },
        ]);
    }

    #[test]
    fn without_keywords_the_date_places_the_photo_against_the_job_dates() {
        let both = job(Some(START), Some(END));
        check(vec![
            dated("well before the start", Some(START - 86_400), both, Before),
            dated("a second before the start", Some(START - 1), both, Before),
            dated("exactly at the start", Some(START), both, During),
            dated("between", Some(START + 86_400), both, During),
            dated("exactly at the completion", Some(END), both, During),
            dated("a second after the completion", Some(END + 1), both, After),
            dated(
                "same-instant job, at it",
                Some(START),
                job(Some(START), Some(START)),
                During,
            ),
        ]);
    }

    #[test]
    fn with_only_one_job_date_only_what_it_proves_is_told() {
        let started = job(Some(START), None);
        let completed = job(None, Some(END));
        check(vec![
            dated("start only, before it", Some(START - 1), started, Before),
            dated("start only, at it", Some(START), started, During),
            dated(
                "start only, long after",
                Some(END + 86_400),
                started,
                During,
            ),
            dated("completion only, after it", Some(END + 1), completed, After),
            dated("completion only, at it", Some(END), completed, Unclassified),
            dated(
                "completion only, before it",
                Some(START),
                completed,
                Unclassified,
            ),
        ]);
    }

    #[test]
    fn without_keywords_or_usable_dates_a_photo_is_unclassified() {
        check(vec![
            dated("no job dates", Some(START), job(None, None), Unclassified),
            dated(
                "no photo date",
                None,
                job(Some(START), Some(END)),
                Unclassified,
            ),
            dated(
                "completion before start",
                Some(START),
                job(Some(END), Some(START)),
                Unclassified,
            ),
            Case {
                name: "only a camera filename",
                description: Some("   "),
                filename: "PXL_20250102.jpg",
                tags: &[],
                taken: None,
                job: JobDates::default(),
                expected: Unclassified,
            },
        ]);
    }

    #[test]
    fn category_names_round_trip_and_unknown_names_are_refused() {
        for category in QcCategory::ALL {
            assert_eq!(category.as_str().parse::<QcCategory>(), Ok(category));
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
        }
        assert_eq!("during".parse::<QcCategory>(), Ok(During));
        assert!("LATER".parse::<QcCategory>().is_err());
    }
}
