//! The read side: a catch-up runner that feeds events, in global order and in batches, to
//! each projection, and one module per read model.
//!
//! A projection writes its rows and its checkpoint in one transaction, so a crash neither
//! loses an event nor applies one twice; read models can be dropped and rebuilt at will.

mod checkpoint;
pub mod connection_status;
pub mod contact_mirror;
mod error;
pub mod evaluation;
pub mod job_evaluations;
pub mod job_files;
pub mod job_mirror;
mod mirror_query;
mod progress;
mod projection;
mod replay;
mod runner;
pub mod sync_log;
pub mod write_backs;

pub use checkpoint::{all as checkpoints, Checkpoint};
pub use error::ProjectionError;
pub use mirror_query::{MirrorSort, SortKey};
pub use progress::{ProjectionProgress, WaitTimedOut};
pub use projection::Projection;
pub use replay::{rebuild, rebuild_all, RebuildSummary};
pub use runner::{ProjectionRunner, RunnerConfig};

use std::sync::Arc;

/// Every read model of the service, in the order they are rebuilt.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(job_mirror::JobMirror),
        Arc::new(contact_mirror::ContactMirror),
        Arc::new(sync_log::SyncLog),
        Arc::new(connection_status::ConnectionStatusView),
        Arc::new(job_files::JobFiles),
        Arc::new(job_evaluations::JobEvaluations),
        Arc::new(write_backs::WriteBacks),
    ]
}
