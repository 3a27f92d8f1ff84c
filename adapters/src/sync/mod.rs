//! Sync from JobNimbus: one step (`SyncEngine::sync_once`) that pulls a resource page by page
//! and turns every record into a command on its aggregate through the batched path, recording
//! the run as a `SyncRun` and the resume point as a `SyncCursor`. The scheduler, the API and
//! the `import` command all call this step; it decides nothing about *when*.

mod engine;
mod photos;
mod slot;
mod tally;
mod target;

pub use engine::{SyncEngine, SyncError, SyncProgress, SyncReport, SyncRequest, SyncSettings};
pub use photos::{
    JobFilesError, JobFilesSynced, PhotoSync, PhotoSyncCaller, PhotoSyncFailure, PhotoSyncReport,
    DEFAULT_PHOTO_SYNC_CONCURRENCY,
};
