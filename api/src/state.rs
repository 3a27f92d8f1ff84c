use std::time::Duration;

use adapters::store::{Db, EventLog};
use metrics_exporter_prometheus::PrometheusHandle;
use projections::ProjectionProgress;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub log: EventLog,
    pub progress: ProjectionProgress,
    pub metrics: PrometheusHandle,
    /// Longest a command endpoint waits for read models to show its write.
    pub read_your_writes_timeout: Duration,
}
