use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{SyncCursorCommand, SyncCursorError, SyncCursorEvent};

/// The sync position of one CRM resource.
///
/// Invariant: the position only moves forward, so a slow run that finishes after a faster,
/// later one can never make the next run skip what the later one found.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncCursor {
    position: Option<DateTime<Utc>>,
    last_complete_scan: Option<DateTime<Utc>>,
}

impl SyncCursor {
    /// Where the next incremental run may start (inclusive); `None` before any run.
    pub fn position(&self) -> Option<DateTime<Utc>> {
        self.position
    }

    pub fn last_complete_scan(&self) -> Option<DateTime<Utc>> {
        self.last_complete_scan
    }
}

impl Aggregate for SyncCursor {
    const TYPE: &'static str = "SyncCursor";
    type Command = SyncCursorCommand;
    type Event = SyncCursorEvent;
    type Error = SyncCursorError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            SyncCursorCommand::Advance { to, run_id } => {
                if self.position.is_none_or(|current| to > current) {
                    sink.write(SyncCursorEvent::SyncCursorAdvanced { to, run_id }, self)
                        .await;
                }
            }
            SyncCursorCommand::RecordCompleteScan { run_id, scanned_at } => {
                let event = SyncCursorEvent::SyncCompleteScanRecorded { run_id, scanned_at };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SyncCursorEvent::SyncCursorAdvanced { to, .. } => self.position = Some(to),
            SyncCursorEvent::SyncCompleteScanRecorded { scanned_at, .. } => {
                self.last_complete_scan = Some(scanned_at)
            }
        }
    }
}

#[cfg(test)]
mod aggregate_tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    type CursorTest = TestFramework<SyncCursor>;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn advanced(to: i64, run: &str) -> SyncCursorEvent {
        SyncCursorEvent::SyncCursorAdvanced {
            to: at(to),
            run_id: run.into(),
        }
    }

    #[test]
    fn the_first_completed_run_sets_the_position() {
        CursorTest::with(())
            .given_no_previous_events()
            .when(SyncCursorCommand::Advance {
                to: at(10),
                run_id: "r1".into(),
            })
            .then_expect_events(vec![advanced(10, "r1")]);
    }

    #[test]
    fn the_position_never_moves_backwards_or_repeats() {
        for stale in [5, 10] {
            CursorTest::with(())
                .given(vec![advanced(10, "r1")])
                .when(SyncCursorCommand::Advance {
                    to: at(stale),
                    run_id: "r2".into(),
                })
                .then_expect_events(vec![]);
        }
    }
}
