//! Fault injection: throttling, gateway and server errors, latency, dropped connections, writes
//! whose answer is lost, and records that change while a client pages. Dice come from a
//! generator seeded with the sandbox seed, so a sequential client sees the same faults on every
//! run.

use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use poem::http::StatusCode;

use super::rng::{mix, Rng};

/// What goes wrong, and how often. Probabilities are per request in `[0, 1]`; the default is a
/// perfectly healthy server.
///
/// Dropped connections, 429s, 502/503/504, 500s and (for writes) lost answers are mutually
/// exclusive outcomes of one roll (in that order), so their rates add up; latency and churn
/// are rolled independently.
///
/// A write is any request that is not a `GET`: `POST`/`PUT` under `/api1`, the upload
/// endpoints and the presigned `PUT`. Faults that strike before the write (a dropped
/// connection, a 429, a 5xx with `server_error_after_write` lost) leave the data untouched;
/// the others apply the write first and then fail, which is what makes a create ambiguous.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Close the connection without writing any response.
    pub drop_connection: f64,
    /// Answer `429 Too Many Requests`.
    pub rate_limit: f64,
    /// Share of 429s that carry `Retry-After` (the real API documents no header at all).
    pub retry_after_share: f64,
    /// The `Retry-After` value, in whole seconds.
    pub retry_after_secs: u64,
    /// Answer 502, 503 or 504 (equally likely) with an HTML gateway page.
    pub server_error: f64,
    /// Answer 500 with a JSON error body (the application failing, not its gateway).
    pub internal_error: f64,
    /// Share of the 5xx answers (`server_error` and `internal_error`) to writes that come
    /// after the write was applied: a gateway timing out on a backend that finished, or a
    /// crash after the commit. 0 = a 5xx never applied anything; 1 = it always did.
    pub server_error_after_write: f64,
    /// Apply a write, then close the connection without answering: the client cannot tell
    /// it from a write that never arrived. Writes only; reads are not affected.
    pub drop_response_after_write: f64,
    /// Added to every request.
    pub latency: Duration,
    /// Probability of an extra [`FaultConfig::spike`] on top of `latency`.
    pub spike_probability: f64,
    /// Length of a latency spike.
    pub spike: Duration,
    /// Probability that a list request first changes records of the listed resource, so an
    /// offset-paging client sees rows shift between pages.
    pub churn: f64,
    /// Records saved (only `date_updated` moves) per churn.
    pub churn_edits: usize,
    /// New records created per churn (jobs and contacts only).
    pub churn_inserts: usize,
}

/// What the sandbox actually injected since start (or the last reset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Every request that reached the sandbox, faulted or not.
    pub requests: u64,
    pub dropped_connections: u64,
    pub rate_limited_with_retry_after: u64,
    pub rate_limited_without_retry_after: u64,
    pub bad_gateway: u64,
    pub service_unavailable: u64,
    pub gateway_timeout: u64,
    pub internal_server_error: u64,
    /// Requests that were writes (not `GET`), faulted or not.
    pub write_requests: u64,
    /// 5xx answers to writes that were processed first (see
    /// [`FaultConfig::server_error_after_write`]).
    pub server_errors_after_write: u64,
    /// Writes processed, then their connection closed without an answer.
    pub dropped_after_write: u64,
    pub latency_spikes: u64,
    /// List requests that changed records before answering.
    pub churned_lists: u64,
    /// Records edited or created by churn.
    pub churned_records: u64,
}

/// The fate of one request, decided before routing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Drop,
    RateLimited {
        retry_after: Option<u64>,
    },
    /// A 5xx; `after_write` (writes only) means the request is processed first and its
    /// answer replaced by the error.
    ServerError {
        code: StatusCode,
        after_write: bool,
    },
    /// Process the write, then close the connection instead of answering.
    DropAfterWrite,
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) delay: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) churn: Option<(usize, usize)>,
}

pub(crate) struct Faults {
    config: RwLock<FaultConfig>,
    dice: Mutex<Rng>,
    stats: Mutex<FaultStats>,
}

impl Faults {
    pub(crate) fn new(seed: u64, config: FaultConfig) -> Self {
        Self {
            config: RwLock::new(config),
            dice: Mutex::new(Rng::new(mix(seed ^ 0xFA17_FA17))),
            stats: Mutex::new(FaultStats::default()),
        }
    }

    pub(crate) fn config(&self) -> FaultConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_config(&self, config: FaultConfig) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    pub(crate) fn stats(&self) -> FaultStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner) = FaultStats::default();
    }

    /// Rolls this request's faults and counts them. Always five rolls, whatever the outcome,
    /// so one request's fate does not shift the dice of the next. The write-only bands sit
    /// after the others, so a read-only client sees the same faults as before they existed.
    pub(crate) fn plan(&self, is_write: bool) -> Plan {
        let config = self.config();
        let rolls: [f64; 5] = {
            let mut dice = self.dice.lock().unwrap_or_else(PoisonError::into_inner);
            [
                dice.unit(),
                dice.unit(),
                dice.unit(),
                dice.unit(),
                dice.unit(),
            ]
        };
        let [spike_roll, outcome_roll, code_roll, header_roll, churn_roll] = rolls;
        let spiked = spike_roll < config.spike_probability;
        let delay = if spiked {
            config.latency.saturating_add(config.spike)
        } else {
            config.latency
        };
        let drop_until = config.drop_connection;
        let limit_until = drop_until + config.rate_limit;
        let error_until = limit_until + config.server_error;
        let internal_until = error_until + config.internal_error;
        let lost_until = if is_write {
            internal_until + config.drop_response_after_write
        } else {
            internal_until
        };
        // The header roll only matters for 429s, so a 5xx can reuse it.
        let after_write = is_write && header_roll < config.server_error_after_write;
        let outcome = if outcome_roll < drop_until {
            Outcome::Drop
        } else if outcome_roll < limit_until {
            Outcome::RateLimited {
                retry_after: (header_roll < config.retry_after_share)
                    .then_some(config.retry_after_secs),
            }
        } else if outcome_roll < error_until {
            let code = match (code_roll * 3.0) as u8 {
                0 => StatusCode::BAD_GATEWAY,
                1 => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::GATEWAY_TIMEOUT,
            };
            Outcome::ServerError { code, after_write }
        } else if outcome_roll < internal_until {
            Outcome::ServerError {
                code: StatusCode::INTERNAL_SERVER_ERROR,
                after_write,
            }
        } else if outcome_roll < lost_until {
            Outcome::DropAfterWrite
        } else {
            Outcome::Pass
        };
        let churn = (churn_roll < config.churn && config.churn_edits + config.churn_inserts > 0)
            .then_some((config.churn_edits, config.churn_inserts));

        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.requests += 1;
        stats.write_requests += u64::from(is_write);
        stats.latency_spikes += u64::from(spiked);
        match &outcome {
            Outcome::Pass => {}
            Outcome::Drop => stats.dropped_connections += 1,
            Outcome::RateLimited {
                retry_after: Some(_),
            } => stats.rate_limited_with_retry_after += 1,
            Outcome::RateLimited { retry_after: None } => {
                stats.rate_limited_without_retry_after += 1
            }
            Outcome::ServerError { code, after_write } => {
                stats.server_errors_after_write += u64::from(*after_write);
                match *code {
                    StatusCode::BAD_GATEWAY => stats.bad_gateway += 1,
                    StatusCode::SERVICE_UNAVAILABLE => stats.service_unavailable += 1,
                    StatusCode::GATEWAY_TIMEOUT => stats.gateway_timeout += 1,
                    _ => stats.internal_server_error += 1,
                }
            }
            Outcome::DropAfterWrite => stats.dropped_after_write += 1,
        }
        Plan {
            delay,
            outcome,
            churn,
        }
    }

    /// Counts a churn that actually happened (only list requests that got through churn).
    pub(crate) fn record_churn(&self, records: usize) {
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.churned_lists += 1;
        stats.churned_records += records as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_config_never_faults() {
        let faults = Faults::new(1, FaultConfig::default());
        for _ in 0..1_000 {
            let plan = faults.plan(false);
            assert_eq!(plan.outcome, Outcome::Pass);
            assert_eq!(plan.delay, Duration::ZERO);
            assert!(plan.churn.is_none());
        }
        assert_eq!(faults.stats().requests, 1_000);
    }

    #[test]
    fn the_same_seed_rolls_the_same_faults() {
        let config = FaultConfig {
            rate_limit: 0.2,
            server_error: 0.2,
            drop_connection: 0.1,
            ..FaultConfig::default()
        };
        let a = Faults::new(7, config.clone());
        let b = Faults::new(7, config);
        for _ in 0..200 {
            assert_eq!(a.plan(false).outcome, b.plan(false).outcome);
        }
    }

    #[test]
    fn exclusive_outcomes_split_one_roll_at_their_rates() {
        let faults = Faults::new(
            3,
            FaultConfig {
                drop_connection: 0.1,
                rate_limit: 0.2,
                retry_after_share: 0.5,
                server_error: 0.3,
                ..FaultConfig::default()
            },
        );
        for _ in 0..10_000 {
            faults.plan(false);
        }
        let s = faults.stats();
        let near = |n: u64, expected: u64| n.abs_diff(expected) < expected / 8;
        assert!(near(s.dropped_connections, 1_000), "{s:?}");
        assert!(near(s.rate_limited_with_retry_after, 1_000), "{s:?}");
        assert!(near(s.rate_limited_without_retry_after, 1_000), "{s:?}");
        assert!(near(s.bad_gateway, 1_000), "{s:?}");
        assert!(near(s.service_unavailable, 1_000), "{s:?}");
        assert!(near(s.gateway_timeout, 1_000), "{s:?}");
    }

    #[test]
    fn write_only_faults_never_strike_reads() {
        let faults = Faults::new(
            5,
            FaultConfig {
                drop_response_after_write: 1.0,
                server_error: 0.5,
                server_error_after_write: 1.0,
                ..FaultConfig::default()
            },
        );
        for _ in 0..500 {
            let outcome = faults.plan(false).outcome;
            assert!(
                matches!(
                    outcome,
                    Outcome::Pass
                        | Outcome::ServerError {
                            after_write: false,
                            ..
                        }
                ),
                "{outcome:?}"
            );
        }
        let s = faults.stats();
        assert_eq!((s.write_requests, s.dropped_after_write), (0, 0));
        assert_eq!(s.server_errors_after_write, 0);
    }

    #[test]
    fn writes_lose_their_answer_and_fail_after_applying_at_their_rates() {
        let faults = Faults::new(
            9,
            FaultConfig {
                internal_error: 0.2,
                server_error: 0.2,
                server_error_after_write: 0.5,
                drop_response_after_write: 0.3,
                ..FaultConfig::default()
            },
        );
        for _ in 0..10_000 {
            faults.plan(true);
        }
        let s = faults.stats();
        let near = |n: u64, expected: u64| n.abs_diff(expected) < expected / 8;
        assert_eq!(s.write_requests, 10_000);
        assert!(near(s.internal_server_error, 2_000), "{s:?}");
        assert!(near(s.dropped_after_write, 3_000), "{s:?}");
        assert!(near(s.server_errors_after_write, 2_000), "{s:?}");
    }
}
