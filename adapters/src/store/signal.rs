use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

/// Wakes tailing readers when events are appended, so they wait instead of polling.
///
/// A `watch` channel holding a counter: every append bumps it, and a reader that was busy
/// when it changed still sees the change on its next `changed()` (no lost wake-ups).
#[derive(Clone, Debug)]
pub struct AppendSignal {
    tx: watch::Sender<u64>,
}

impl Default for AppendSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl AppendSignal {
    pub fn new() -> Self {
        Self {
            tx: watch::channel(0).0,
        }
    }

    pub fn notify(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// Forwards PostgreSQL `events_appended` notifications (sent at commit by a trigger,
    /// whichever instance wrote) into this signal until the task is aborted.
    pub fn spawn_postgres_listener(&self, pool: PgPool) -> tokio::task::JoinHandle<()> {
        let signal = self.clone();
        tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(error) = listener.listen("events_appended").await {
                            tracing::warn!(%error, "cannot LISTEN for appended events");
                        } else {
                            // recv() reconnects by itself after a dropped connection; it
                            // only errors when the pool is closed.
                            while listener.recv().await.is_ok() {
                                signal.notify();
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot connect the event listener"),
                }
                if pool.is_closed() {
                    return;
                }
                // Wake readers in case we missed notifications while disconnected.
                signal.notify();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
