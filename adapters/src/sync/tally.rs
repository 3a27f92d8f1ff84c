use domain::{RecordFailure, SyncOutcome};

use super::target::SyncTarget;
use crate::jobnimbus::RejectedRecord;
use crate::store::CommandOutcome;

/// Counts one page: every command outcome (in the order of `jnids`) and every record the
/// client could not map.
pub(crate) fn tally_page<T: SyncTarget>(
    jnids: &[String],
    outcomes: &[CommandOutcome<T::Aggregate>],
    rejected: &[RejectedRecord],
) -> (SyncOutcome, Vec<RecordFailure>) {
    let mut tally = SyncOutcome {
        fetched: (outcomes.len() + rejected.len()) as u64,
        failed: rejected.len() as u64,
        ..SyncOutcome::default()
    };
    let mut failures: Vec<RecordFailure> = rejected
        .iter()
        .map(|r| RecordFailure {
            external_id: r.jnid.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    for (jnid, outcome) in jnids.iter().zip(outcomes) {
        match outcome {
            CommandOutcome::Applied(events) if events.iter().any(T::is_creation) => {
                tally.created += 1
            }
            CommandOutcome::Applied(events) if events.is_empty() => tally.unchanged += 1,
            CommandOutcome::Applied(_) => tally.updated += 1,
            CommandOutcome::Refused(refusal) => {
                tally.failed += 1;
                failures.push(RecordFailure {
                    external_id: Some(jnid.clone()),
                    reason: refusal.to_string(),
                });
            }
        }
    }
    (tally, failures)
}
