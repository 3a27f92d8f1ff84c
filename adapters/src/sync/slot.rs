use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use domain::SyncResource;

use crate::store::{Db, ExclusiveLock, LockKind, StoreError};

/// The right to run a sync of one resource: held for the whole run, so runs of a resource
/// never overlap — neither in this process (scheduler tick vs manual trigger) nor across
/// instances sharing one PostgreSQL (advisory lock).
pub(crate) struct RunSlot {
    resource: SyncResource,
    local: Arc<Mutex<HashSet<SyncResource>>>,
    lock: Option<ExclusiveLock>,
}

impl RunSlot {
    /// The slot, or `None` if a run of `resource` is in progress here or elsewhere.
    pub(crate) async fn try_claim(
        db: &Db,
        local: &Arc<Mutex<HashSet<SyncResource>>>,
        lock_name: &str,
        resource: SyncResource,
    ) -> Result<Option<RunSlot>, StoreError> {
        if !local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(resource)
        {
            return Ok(None);
        }
        // From here on, dropping the slot frees the local claim whatever happens.
        let mut slot = RunSlot {
            resource,
            local: Arc::clone(local),
            lock: None,
        };
        match ExclusiveLock::try_acquire(db, LockKind::SyncRun, lock_name).await? {
            Some(lock) => {
                slot.lock = Some(lock);
                Ok(Some(slot))
            }
            None => Ok(None),
        }
    }

    pub(crate) async fn release(mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.resource);
        // An unreleased advisory lock (a panic mid-run) goes when its detached connection is
        // dropped, which closes the session.
    }
}
