//! The QC and risk evaluations of one job: a stream per job (id = the job's id) that
//! records an outcome only when it differs from the one held.

mod aggregate;
mod commands;
mod errors;
mod events;

pub use aggregate::JobEvaluation;
pub use commands::JobEvaluationCommand;
pub use errors::JobEvaluationError;
pub use events::JobEvaluationEvent;
