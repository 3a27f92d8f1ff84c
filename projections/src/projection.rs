use adapters::store::{DbTx, StoredEvent};
use async_trait::async_trait;

use crate::ProjectionError;

/// A read model fed by the runner.
///
/// Contract: `apply` receives every event of the log exactly once, in global order, in
/// batches, inside the transaction that will also advance the checkpoint. It must ignore
/// event types it does not use.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint row key and the advisory-lock key.
    fn name(&self) -> &'static str;

    /// The tables this projection owns; a rebuild empties them.
    fn tables(&self) -> &'static [&'static str];

    async fn apply(&self, tx: &mut DbTx, events: &[StoredEvent]) -> Result<(), ProjectionError>;
}
