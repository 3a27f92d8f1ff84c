//! The global order of the event log, and that tailing it never skips an event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adapters::store::{append_events, Db, EventLog, LogPosition, NewEvent, StoreError};

use crate::support::{Backend, TestDb};

on_both_backends!(
    tailing_reader_sees_every_event_exactly_once_despite_late_commits,
    appended_events_read_back_byte_for_byte_with_the_position_of_the_last_one,
);

/// Many writers insert events in transactions that stay open for a random while after the
/// insert, so positions are handed out in one order and committed in another. A reader
/// tails the log the whole time; at the end it must have seen every event exactly once.
async fn tailing_reader_sees_every_event_exactly_once_despite_late_commits(backend: Backend) {
    const WRITERS: usize = 16;
    const EVENTS_PER_WRITER: usize = 25;
    const TOTAL: usize = WRITERS * EVENTS_PER_WRITER;
    let test_db = TestDb::new(backend).await;
    let db = test_db.db.clone();
    let writers_done = Arc::new(AtomicUsize::new(0));
    let commit_order = Arc::new(std::sync::Mutex::new(Vec::new()));

    let reader = {
        let log = EventLog::new(db.clone());
        let writers_done = writers_done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut at = LogPosition::START;
            loop {
                // Done only when every event arrived: an empty read proves nothing on
                // PostgreSQL, where an open transaction of another test anywhere in the
                // cluster holds the read horizon back. An event skipped for good would never
                // arrive, and the timeout below would fail the test.
                if writers_done.load(Ordering::SeqCst) == WRITERS && seen.len() >= TOTAL {
                    return seen;
                }
                let batch = log.read_after(at, 7).await.unwrap();
                for event in &batch {
                    assert!(event.position > at, "positions must increase");
                    at = event.position;
                    seen.push(event.position.global_position);
                }
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let db = db.clone();
        let done = writers_done.clone();
        let commit_order = commit_order.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..EVENTS_PER_WRITER {
                // Deterministic but uneven delays: some transactions hold their position
                // long after later ones committed.
                let delay = Duration::from_millis(((writer * 7 + n * 13) % 23) as u64);
                let position = insert_with_delayed_commit(&db, writer, n, delay).await;
                commit_order.lock().unwrap().push(position);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("every event reached the reader within a minute")
        .unwrap();

    let mut counts: HashMap<i64, usize> = HashMap::new();
    for p in &seen {
        *counts.entry(*p).or_default() += 1;
    }
    assert_eq!(seen.len(), TOTAL, "nothing read beyond the events written");
    assert_eq!(counts.len(), TOTAL, "every event seen");
    assert!(counts.values().all(|c| *c == 1), "no event seen twice");

    if backend == Backend::Postgres {
        // The hazard must really have happened, or this test proves nothing: some event
        // committed after an event with a higher position had already committed.
        let order = commit_order.lock().unwrap().clone();
        let inversions = order
            .iter()
            .enumerate()
            .filter(|(i, p)| order[..*i].iter().any(|earlier| earlier > p))
            .count();
        assert!(
            inversions > 0,
            "no late commits happened; the test did not exercise gaps"
        );
    }
}

/// Inserts one event and commits `delay` later; returns its global position.
async fn insert_with_delayed_commit(db: &Db, writer: usize, n: usize, delay: Duration) -> i64 {
    let aggregate_id = format!("writer-{writer}");
    let sequence = n as i64 + 1;
    match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            let position: i64 = sqlx::query_scalar(
                "insert into events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 values ('Probe', $1, $2, 'Probed', '1', '{}', '{}')
                 returning global_position",
            )
            .bind(&aggregate_id)
            .bind(sequence)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            tokio::time::sleep(delay).await;
            tx.commit().await.unwrap();
            position
        }
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(
                "insert into events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 values ('Probe', ?, ?, 'Probed', '1', '{}', '{}')",
            )
            .bind(&aggregate_id)
            .bind(sequence)
            .execute(&mut *tx)
            .await
            .unwrap();
            let position: i64 = sqlx::query_scalar(
                "select global_position from events
                 where aggregate_type = 'Probe' and aggregate_id = ? and sequence = ?",
            )
            .bind(&aggregate_id)
            .bind(sequence)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            // SQLite holds the write lock until commit, so delays only slow the others.
            tokio::time::sleep(delay / 10).await;
            tx.commit().await.unwrap();
            position
        }
    }
}

/// The bulk append path encodes rows itself (COPY text format on PostgreSQL): ids with tabs
/// and newlines and payloads full of JSON escapes must come back exactly as written, and the
/// position it reports must be that of the last row, or read-your-writes waits would stop
/// short.
async fn appended_events_read_back_byte_for_byte_with_the_position_of_the_last_one(
    backend: Backend,
) {
    let test_db = TestDb::new(backend).await;
    let awkward = |i: usize| NewEvent {
        aggregate_type: "Probe".into(),
        aggregate_id: format!("id\twith\ttabs\nline {i}\r\\end"),
        sequence: 1,
        event_type: "Probed".into(),
        event_version: "1.0".into(),
        payload: format!(r#"{{"text":"quote \" backslash \\ tab \t newline \n unicode é {i}"}}"#),
        metadata: r#"{"actor":"tab\there"}"#.into(),
    };
    let events: Vec<NewEvent> = (0..3).map(awkward).collect();

    let last = append_events(&test_db.db, &events)
        .await
        .unwrap()
        .expect("a position for a non-empty append");

    // The gap-safe reader stops below the oldest transaction in flight anywhere on the
    // PostgreSQL cluster (transaction ids are cluster-wide, and other tests write to their
    // own databases meanwhile), so like any tailing reader it may need another look.
    let log = EventLog::new(test_db.db.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let read = loop {
        let read = log.read_after(LogPosition::START, 10).await.unwrap();
        if read.len() >= events.len() || std::time::Instant::now() > deadline {
            break read;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(read.len(), 3);
    for (written, stored) in events.iter().zip(&read) {
        assert_eq!(stored.aggregate_id, written.aggregate_id);
        let payload: serde_json::Value = serde_json::from_str(&stored.payload).unwrap();
        let expected: serde_json::Value = serde_json::from_str(&written.payload).unwrap();
        assert_eq!(payload, expected);
        let metadata: serde_json::Value = serde_json::from_str(&stored.metadata).unwrap();
        assert_eq!(metadata["actor"], "tab\there");
    }
    assert_eq!(read.last().unwrap().position, last);

    let again = append_events(&test_db.db, &events[..1]).await;
    assert!(
        matches!(again, Err(StoreError::Conflict)),
        "a taken sequence is a conflict, got {again:?}"
    );
}
