//! One evaluation pass over jobs (every job, or the jobs an event or a request named): the
//! run's own record, which says when those jobs were last checked even when no job's outcome
//! changed and so nothing was appended to their `JobEvaluation` streams.

mod aggregate;
mod commands;
mod errors;
mod events;

pub use aggregate::EvaluationRun;
pub use commands::EvaluationRunCommand;
pub use errors::EvaluationRunError;
pub use events::{EvaluationRunEvent, EvaluationScope, EvaluationTrigger};
