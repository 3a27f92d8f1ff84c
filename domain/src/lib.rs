//! Pure decisions of unified-crm: aggregates, commands, events and value types.
//!
//! Nothing here performs I/O or reads the clock: whatever a decision needs from the
//! outside world (a fetched CRM record, the current time) arrives inside the command.

pub mod connection;
pub mod contact;
pub mod embed;
pub mod evaluation_run;
pub mod ids;
pub mod job;
pub mod job_evaluation;
pub mod qc;
pub mod risk;
pub mod sync_cursor;
pub mod sync_run;
pub mod write_back;

pub use connection::{
    refresh_due, Connection, ConnectionCommand, ConnectionError, ConnectionEvent, ConnectionId,
    ConnectionStatus, InvalidUserId, ParseConnectionIdError, RevokeCause, SecretVersion, UserId,
};
pub use contact::{
    Contact, ContactCommand, ContactError, ContactEvent, ContactField, ContactSnapshot,
};
pub use embed::{EmbedLink, EmbedLinkCommand, EmbedLinkError, EmbedLinkEvent, PanelType};
pub use evaluation_run::{
    EvaluationRun, EvaluationRunCommand, EvaluationRunError, EvaluationRunEvent, EvaluationScope,
    EvaluationTrigger,
};
pub use ids::{ContactId, CrmSource, JobId, ParseIdError};
pub use job::{
    Address, FileKind, Job, JobCommand, JobError, JobEvent, JobField, JobFile, JobFileField,
    JobSnapshot,
};
pub use job_evaluation::{
    JobEvaluation, JobEvaluationCommand, JobEvaluationError, JobEvaluationEvent,
};
pub use qc::{JobDates, QcCategory};
pub use sync_cursor::{SyncCursor, SyncCursorCommand, SyncCursorEvent};
pub use sync_run::{
    RecordFailure, SyncMode, SyncOutcome, SyncResource, SyncRun, SyncRunCommand, SyncRunError,
    SyncRunEvent, SyncStatus, SyncTrigger,
};
pub use write_back::{
    WriteBack, WriteBackCommand, WriteBackError, WriteBackEvent, WriteBackKind, WriteBackPayload,
    WriteBackState,
};
