use std::collections::HashMap;

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, Query};
use postgres_es::{postgres_cqrs, PostgresCqrs};
use sqlite_es::{sqlite_cqrs, SqliteCqrs};

use super::{AppendSignal, Db, EventLog, LogPosition};

/// Executes one command at a time through the plain cqrs-es path (load, decide, append in
/// its own transaction). Single API commands use this; bulk work uses `BatchExecutor`.
pub struct CommandBus<A: Aggregate<Services = ()>> {
    framework: Framework<A>,
    log: EventLog,
}

enum Framework<A: Aggregate> {
    Postgres(PostgresCqrs<A>),
    Sqlite(SqliteCqrs<A>),
}

impl<A> CommandBus<A>
where
    A: Aggregate<Services = ()> + 'static,
{
    pub fn new(db: &Db, signal: &AppendSignal) -> Self {
        let queries: Vec<Box<dyn Query<A>>> = vec![Box::new(AfterCommit {
            signal: signal.clone(),
        })];
        let framework = match db {
            Db::Postgres(pool) => Framework::Postgres(postgres_cqrs(pool.clone(), queries, ())),
            Db::Sqlite(pool) => Framework::Sqlite(sqlite_cqrs(pool.clone(), queries, ())),
        };
        Self {
            framework,
            log: EventLog::new(db.clone()),
        }
    }

    /// Executes `command`; `metadata` (actor, request id, …) is stored beside the events.
    ///
    /// Returns the position of the aggregate's newest event, which the caller can wait
    /// for the projections to reach before answering (read-your-writes).
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Option<LogPosition>, AggregateError<A::Error>> {
        match &self.framework {
            Framework::Postgres(cqrs) => {
                cqrs.execute_with_metadata(aggregate_id, command, metadata)
                    .await?
            }
            Framework::Sqlite(cqrs) => {
                cqrs.execute_with_metadata(aggregate_id, command, metadata)
                    .await?
            }
        }
        self.log
            .last_position_of(A::TYPE, aggregate_id)
            .await
            .map_err(|e| AggregateError::DatabaseConnectionError(Box::new(e)))
    }
}

/// Runs after every cqrs-es commit: counts the events and wakes in-process readers at once
/// (PostgreSQL readers in other instances are woken by NOTIFY instead).
struct AfterCommit {
    signal: AppendSignal,
}

#[async_trait]
impl<A: Aggregate> Query<A> for AfterCommit {
    async fn dispatch(&self, _aggregate_id: &str, events: &[EventEnvelope<A>]) {
        metrics::counter!("events_appended_total", "path" => "single")
            .increment(events.len() as u64);
        self.signal.notify();
    }
}
