//! In-process budgets: governor's keyed GCRA, one map of clients per group.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use super::{ClientKey, Decision, Group, GroupQuota, Policy};

/// How often clients whose budget has refilled are forgotten. A forgotten client is
/// indistinguishable from a full one, so this bounds memory to the clients seen within
/// about this long plus a refill, without changing any decision.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

pub(super) struct LocalLimits<C: Clock = DefaultClock> {
    auth: KeyedGcra<C>,
    api: KeyedGcra<C>,
}

impl LocalLimits {
    pub(super) fn new(policy: &Policy) -> Self {
        Self::with_clock(policy, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> LocalLimits<C> {
    fn with_clock(policy: &Policy, clock: &C) -> Self {
        Self {
            auth: KeyedGcra::new(policy.auth, clock.clone()),
            api: KeyedGcra::new(policy.api, clock.clone()),
        }
    }

    pub(super) fn check(&self, group: Group, client: ClientKey) -> Decision {
        match group {
            Group::Auth => self.auth.check(client),
            Group::Api => self.api.check(client),
        }
    }
}

type KeyedGovernor<C> = Governor<
    ClientKey,
    DefaultKeyedStateStore<ClientKey>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

struct KeyedGcra<C: Clock> {
    limiter: KeyedGovernor<C>,
    origin: C::Instant,
    /// Nanoseconds after `origin` of the last sweep.
    last_sweep: AtomicU64,
}

impl<C: Clock + Clone> KeyedGcra<C> {
    fn new(quota: GroupQuota, clock: C) -> Self {
        // The interval is at least a microsecond (`GroupQuota::MAX_PER_MINUTE`), never zero.
        let quota = Quota::with_period(quota.emission_interval())
            .unwrap_or_else(|| Quota::per_minute(quota.per_minute))
            .allow_burst(quota.burst);
        let origin = clock.now();
        Self {
            limiter: Governor::new(quota, DefaultKeyedStateStore::default(), clock),
            origin,
            last_sweep: AtomicU64::new(0),
        }
    }

    fn check(&self, client: ClientKey) -> Decision {
        let now = self.limiter.clock().now();
        self.sweep_if_due(now);
        match self.limiter.check_key(&client) {
            Ok(()) => Decision::Allowed,
            Err(not_until) => Decision::Limited {
                retry_after: not_until.wait_time_from(now),
            },
        }
    }

    /// On the request path, but only one caller per period does it, and it costs one pass
    /// over the map.
    fn sweep_if_due(&self, now: C::Instant) {
        let elapsed = now.duration_since(self.origin).as_u64();
        let last = self.last_sweep.load(Ordering::Relaxed);
        let due = elapsed.saturating_sub(last) >= SWEEP_EVERY.as_nanos() as u64;
        if due
            && self
                .last_sweep
                .compare_exchange(last, elapsed, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let before = self.limiter.len();
            self.limiter.retain_recent();
            // Give a burst of one-off clients' memory back, not just their entries.
            if self.limiter.len() < before / 2 {
                self.limiter.shrink_to_fit();
            }
        }
    }

    #[cfg(test)]
    fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn quota(per_minute: u32, burst: u32) -> GroupQuota {
        GroupQuota {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn limits(clock: &FakeRelativeClock) -> LocalLimits<FakeRelativeClock> {
        let policy = Policy {
            auth: quota(6, 2),
            api: quota(60, 3),
            trust_proxy_headers: false,
        };
        LocalLimits::with_clock(&policy, clock)
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::from_ip([192, 0, 2, n].into())
    }

    fn allowed_in_a_row(
        limits: &LocalLimits<FakeRelativeClock>,
        group: Group,
        c: ClientKey,
    ) -> usize {
        (0..100)
            .take_while(|_| limits.check(group, c) == Decision::Allowed)
            .count()
    }

    #[test]
    fn a_fresh_client_gets_its_burst_and_then_waits_one_interval() {
        let clock = FakeRelativeClock::default();
        let limits = limits(&clock);

        assert_eq!(allowed_in_a_row(&limits, Group::Auth, client(1)), 2);
        assert_eq!(
            limits.check(Group::Auth, client(1)),
            Decision::Limited {
                retry_after: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn a_client_that_waits_out_retry_after_is_served_again() {
        let clock = FakeRelativeClock::default();
        let limits = limits(&clock);
        allowed_in_a_row(&limits, Group::Api, client(1));
        let Decision::Limited { retry_after } = limits.check(Group::Api, client(1)) else {
            panic!("the budget should be spent");
        };

        clock.advance(retry_after);

        assert_eq!(limits.check(Group::Api, client(1)), Decision::Allowed);
        assert_ne!(limits.check(Group::Api, client(1)), Decision::Allowed);
    }

    #[test]
    fn clients_and_groups_have_separate_budgets() {
        let clock = FakeRelativeClock::default();
        let limits = limits(&clock);
        allowed_in_a_row(&limits, Group::Auth, client(1));

        assert_eq!(allowed_in_a_row(&limits, Group::Auth, client(2)), 2);
        assert_eq!(allowed_in_a_row(&limits, Group::Api, client(1)), 3);
    }

    #[test]
    fn clients_whose_budget_refilled_are_forgotten_by_the_next_sweep() {
        let clock = FakeRelativeClock::default();
        let limits = limits(&clock);
        for n in 0..50 {
            limits.check(Group::Api, client(n));
        }
        assert_eq!(limits.api.tracked_clients(), 50);

        clock.advance(SWEEP_EVERY);
        limits.check(Group::Api, client(200));

        assert_eq!(limits.api.tracked_clients(), 1);
    }

    #[test]
    fn a_client_still_waiting_is_not_forgotten() {
        let clock = FakeRelativeClock::default();
        let limits = limits(&clock);
        allowed_in_a_row(&limits, Group::Auth, client(1));

        clock.advance(SWEEP_EVERY);
        limits.check(Group::Auth, client(2));

        assert_eq!(limits.auth.tracked_clients(), 2);
        // One interval later a remembered client has one request back, not a fresh burst.
        assert_eq!(allowed_in_a_row(&limits, Group::Auth, client(1)), 1);
    }
}
