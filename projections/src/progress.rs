use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use adapters::store::{Db, LogPosition};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::checkpoint;

/// The bounded wait for projections ran out before they reached the position.
#[derive(Debug, thiserror::Error)]
#[error("read models did not reach the written events within {0:?}")]
pub struct WaitTimedOut(pub Duration);

/// Where each projection stands, for read-your-writes waits and readiness reports.
///
/// Local runners publish every checkpoint here; a projection run by another instance is
/// followed by re-reading its checkpoint row while waiting.
#[derive(Clone, Debug)]
pub struct ProjectionProgress {
    db: Db,
    positions: Arc<HashMap<&'static str, watch::Sender<LogPosition>>>,
}

/// How often a waiter re-reads checkpoints written by other instances.
const CHECKPOINT_POLL: Duration = Duration::from_millis(25);

impl ProjectionProgress {
    pub fn new(db: &Db, names: &[&'static str]) -> Self {
        let positions = names
            .iter()
            .map(|name| (*name, watch::channel(LogPosition::START).0))
            .collect();
        Self {
            db: db.clone(),
            positions: Arc::new(positions),
        }
    }

    /// Names of the projections followed.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.positions.keys().copied().collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn publish(&self, name: &str, position: LogPosition) {
        if let Some(sender) = self.positions.get(name) {
            sender.send_if_modified(|current| {
                let moved = *current != position;
                *current = position;
                moved
            });
        }
    }

    /// Waits until every projection has applied the event at `target`, at most `timeout`.
    pub async fn wait_for(
        &self,
        target: LogPosition,
        timeout: Duration,
    ) -> Result<(), WaitTimedOut> {
        let deadline = Instant::now() + timeout;
        for (name, sender) in self.positions.iter() {
            let mut local = sender.subscribe();
            loop {
                if *local.borrow_and_update() >= target {
                    break;
                }
                if let Ok(stored) = checkpoint::load(&self.db, name).await {
                    if stored.position >= target {
                        break;
                    }
                }
                tokio::select! {
                    _ = local.changed() => {}
                    _ = tokio::time::sleep(CHECKPOINT_POLL) => {}
                    _ = tokio::time::sleep_until(deadline) => return Err(WaitTimedOut(timeout)),
                }
            }
        }
        Ok(())
    }
}
