use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use sqlx::Row;

use super::{append_events, AppendSignal, Db, LogPosition, NewEvent, StoreError};

/// A command for one aggregate in a page of commands.
pub struct BatchCommand<A: Aggregate> {
    pub aggregate_id: String,
    pub command: A::Command,
    /// Who/when/why (actor, sync run id, …), stored beside each resulting event.
    pub metadata: HashMap<String, String>,
}

/// What became of one command of a page.
#[derive(Debug)]
pub enum CommandOutcome<A: Aggregate> {
    /// The command was accepted and appended these events (none = nothing changed).
    Applied(Vec<A::Event>),
    /// The aggregate refused the command.
    Refused(A::Error),
}

/// The result of executing a page of commands.
#[derive(Debug)]
pub struct BatchReport<A: Aggregate> {
    /// One outcome per command, in the order given.
    pub outcomes: Vec<CommandOutcome<A>>,
    pub events_appended: usize,
    /// Position of the last event appended, for read-your-writes waits.
    pub last_position: Option<LogPosition>,
    /// True when a concurrent writer forced the page through the one-by-one path.
    pub fell_back: bool,
}

/// Executes a page of commands on many aggregates with batched I/O: one query loads every
/// aggregate of the page, the aggregate's own cqrs-es `handle`/`apply` code decides in
/// memory, and one transaction appends every resulting event. If another writer touched
/// one of the aggregates meanwhile, that transaction fails as a whole and the page is
/// re-run command by command, each reloading its aggregate, retrying on conflict.
pub struct BatchExecutor<A> {
    db: Db,
    signal: AppendSignal,
    _aggregate: std::marker::PhantomData<fn() -> A>,
}

/// A page decided in memory and not yet appended.
pub struct PreparedPage<A: Aggregate> {
    commands: Vec<BatchCommand<A>>,
    outcomes: Vec<CommandOutcome<A>>,
    new_events: Vec<NewEvent>,
}

/// Attempts per command on the one-by-one path before the conflict is reported.
const ONE_BY_ONE_ATTEMPTS: usize = 5;

/// Aggregates in memory during a page: the state and its last sequence number.
type Loaded<A> = HashMap<String, (A, i64)>;

impl<A> BatchExecutor<A>
where
    A: Aggregate<Services = ()> + Clone + 'static,
    A::Command: Clone,
{
    pub fn new(db: &Db, signal: &AppendSignal) -> Self {
        Self {
            db: db.clone(),
            signal: signal.clone(),
            _aggregate: std::marker::PhantomData,
        }
    }

    /// Executes a page: `prepare` then `commit`.
    pub async fn execute(
        &self,
        commands: Vec<BatchCommand<A>>,
    ) -> Result<BatchReport<A>, StoreError> {
        let page = self.prepare(commands).await?;
        self.commit(page).await
    }

    /// Executes pages in order, deciding each page while the one before it is appended: the
    /// load and the decisions (reads, and CPU here) overlap the append (writes there). A page
    /// sharing an aggregate with the page before it was decided on a stale state; its append
    /// then conflicts and it is re-run one by one, as with any concurrent writer, so the
    /// overlap never changes the outcome. Stops at the first store error.
    pub async fn execute_pipelined(
        &self,
        pages: impl IntoIterator<Item = Vec<BatchCommand<A>>>,
    ) -> Result<Vec<BatchReport<A>>, StoreError> {
        let mut reports = Vec::new();
        let mut in_flight: Option<PreparedPage<A>> = None;
        for page in pages {
            let previous = in_flight.take();
            let commit_previous = async {
                match previous {
                    Some(prepared) => self.commit(prepared).await.map(Some),
                    None => Ok(None),
                }
            };
            let (prepared, committed) = tokio::join!(self.prepare(page), commit_previous);
            reports.extend(committed?);
            in_flight = Some(prepared?);
        }
        if let Some(prepared) = in_flight {
            reports.push(self.commit(prepared).await?);
        }
        Ok(reports)
    }

    /// First half of `execute`: loads the page's aggregates in one query and decides every
    /// command in memory. Nothing is written yet.
    pub async fn prepare(
        &self,
        commands: Vec<BatchCommand<A>>,
    ) -> Result<PreparedPage<A>, StoreError> {
        let ids: Vec<String> = commands.iter().map(|c| c.aggregate_id.clone()).collect();
        let mut loaded = self.load(&ids).await?;
        let mut outcomes = Vec::with_capacity(commands.len());
        let mut new_events = Vec::new();
        for command in &commands {
            outcomes.push(decide(&mut loaded, command, &mut new_events).await?);
        }
        Ok(PreparedPage {
            commands,
            outcomes,
            new_events,
        })
    }

    /// Second half of `execute`: appends every decided event in one transaction. If an
    /// aggregate of the page changed since `prepare`, re-runs the page one by one.
    pub async fn commit(&self, page: PreparedPage<A>) -> Result<BatchReport<A>, StoreError> {
        match append_events(&self.db, &page.new_events).await {
            Ok(last_position) => {
                self.signal_if_appended(last_position);
                Ok(BatchReport {
                    outcomes: page.outcomes,
                    events_appended: page.new_events.len(),
                    last_position,
                    fell_back: false,
                })
            }
            Err(StoreError::Conflict) => {
                tracing::debug!(
                    aggregate_type = A::TYPE,
                    commands = page.commands.len(),
                    "concurrent append in page; falling back to one-by-one"
                );
                self.one_by_one(page.commands).await
            }
            Err(other) => Err(other),
        }
    }

    async fn one_by_one(
        &self,
        commands: Vec<BatchCommand<A>>,
    ) -> Result<BatchReport<A>, StoreError> {
        let mut report = BatchReport {
            outcomes: Vec::with_capacity(commands.len()),
            events_appended: 0,
            last_position: None,
            fell_back: true,
        };
        for command in &commands {
            let mut attempt = 1;
            loop {
                let mut loaded = self
                    .load(std::slice::from_ref(&command.aggregate_id))
                    .await?;
                let mut new_events = Vec::new();
                let outcome = decide(&mut loaded, command, &mut new_events).await?;
                match append_events(&self.db, &new_events).await {
                    Ok(position) => {
                        self.signal_if_appended(position);
                        report.events_appended += new_events.len();
                        report.last_position = position.or(report.last_position);
                        report.outcomes.push(outcome);
                        break;
                    }
                    Err(StoreError::Conflict) if attempt < ONE_BY_ONE_ATTEMPTS => attempt += 1,
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(report)
    }

    /// The current state of one aggregate (default if it has no events yet).
    pub async fn load_one(&self, aggregate_id: &str) -> Result<A, StoreError> {
        let mut loaded = self.load(&[aggregate_id.to_string()]).await?;
        Ok(loaded
            .remove(aggregate_id)
            .map(|(aggregate, _)| aggregate)
            .unwrap_or_default())
    }

    fn signal_if_appended(&self, position: Option<LogPosition>) {
        if position.is_some() {
            self.signal.notify();
        }
    }

    /// Rebuilds every aggregate named in `ids` from its events, in one query.
    async fn load(&self, ids: &[String]) -> Result<Loaded<A>, StoreError> {
        let rows: Vec<(String, i64, String)> = match &self.db {
            Db::Postgres(pool) => sqlx::query(
                "select aggregate_id, sequence, payload::text from events
                 where aggregate_type = $1 and aggregate_id = any($2)
                 order by aggregate_id, sequence",
            )
            .bind(A::TYPE)
            .bind(ids)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?,
            Db::Sqlite(pool) => sqlx::query(
                // SQLite has no array parameters; a JSON array expands through json_each.
                "select aggregate_id, sequence, payload from events
                 where aggregate_type = ?
                   and aggregate_id in (select value from json_each(?))
                 order by aggregate_id, sequence",
            )
            .bind(A::TYPE)
            .bind(serde_json::to_string(ids)?)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?,
        };
        let mut loaded: Loaded<A> = HashMap::with_capacity(ids.len());
        for (aggregate_id, sequence, payload) in rows {
            let event: A::Event = serde_json::from_str(&payload)?;
            let (aggregate, last) = loaded.entry(aggregate_id).or_default();
            aggregate.apply(event);
            *last = sequence;
        }
        Ok(loaded)
    }
}

/// Runs one command against its in-memory aggregate with the aggregate's own `handle`, and
/// queues the resulting events with their next sequence numbers. A refusal leaves the
/// aggregate untouched, so later commands of the page see the state before it.
async fn decide<A>(
    loaded: &mut Loaded<A>,
    command: &BatchCommand<A>,
    new_events: &mut Vec<NewEvent>,
) -> Result<CommandOutcome<A>, StoreError>
where
    A: Aggregate<Services = ()> + Clone,
    A::Command: Clone,
{
    let (aggregate, sequence) = loaded.entry(command.aggregate_id.clone()).or_default();
    let mut working = aggregate.clone();
    let sink = EventSink::default();
    if let Err(refusal) = working.handle(command.command.clone(), &(), &sink).await {
        return Ok(CommandOutcome::Refused(refusal));
    }
    let events = sink.collect().await;
    let metadata = serde_json::to_string(&command.metadata)?;
    for event in &events {
        *sequence += 1;
        new_events.push(NewEvent {
            aggregate_type: A::TYPE.to_string(),
            aggregate_id: command.aggregate_id.clone(),
            sequence: *sequence,
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_string(event)?,
            metadata: metadata.clone(),
        });
    }
    *aggregate = working;
    Ok(CommandOutcome::Applied(events))
}
