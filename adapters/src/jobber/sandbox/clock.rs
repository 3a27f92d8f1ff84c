//! The sandbox's clock: real time plus an offset tests move forward, so tokens and codes
//! expire without anyone waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Default)]
pub(crate) struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Unix seconds: JWT `exp`/`iat` have no finer grain, so neither does anything else here.
    pub(crate) fn now(&self) -> i64 {
        Utc::now()
            .timestamp()
            .saturating_add(self.offset_secs.load(Ordering::SeqCst))
    }

    pub(crate) fn now_utc(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.now(), 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Sub-second parts are dropped: the clock only counts whole seconds.
    pub(crate) fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let _ = self
            .offset_secs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                Some(offset.saturating_add(secs))
            });
    }
}
