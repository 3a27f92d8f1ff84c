//! The event store: one seam over two backends (SQLite through sqlite-es, PostgreSQL through
//! postgres-es), the global order we add to both, and the two ways to execute commands
//! (one at a time through cqrs-es, or a page at a time with batched I/O).

mod append;
mod batch;
mod command_bus;
mod db;
mod error;
mod lock;
mod log;
mod scratch;
mod signal;

pub use append::{append_events, NewEvent};
pub use batch::{BatchCommand, BatchExecutor, BatchReport, CommandOutcome, PreparedPage};
pub use command_bus::CommandBus;
pub use db::{Backend, DatabaseTarget, Db, DbTx};
pub use error::StoreError;
pub use lock::{ExclusiveLock, LockKind};
pub use log::{EventLog, LogPosition, StoredEvent};
pub use scratch::ScratchDatabase;
pub use signal::AppendSignal;
