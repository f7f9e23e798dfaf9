//! Rate limits: a token bucket per key (GCRA, from `governor`).
//!
//! Each key gets a bucket of `burst` slots that refills at `per_minute` slots a minute. A key
//! that has not been seen for as long as its bucket takes to refill is indistinguishable from a
//! new one, so its state is dropped: every [`KeyedLimiter::SWEEP_EVERY`] checks, the limiter
//! forgets such keys. Memory stays proportional to the keys active within one refill period (plus
//! at most the keys first seen between two sweeps), however many keys come and go.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use wastatus_domain::SessionKey;
use wastatus_domain::ports::PublishPace;

/// A token bucket per key.
pub struct KeyedLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Admits `burst` requests at once per key, then `per_minute` a minute.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(per_minute, burst, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimiter<K, C> {
    /// How many checks pass between two sweeps of idle keys.
    pub const SWEEP_EVERY: u64 = 1024;

    /// Like [`KeyedLimiter::new`], with another clock (governor's `FakeRelativeClock` in tests).
    pub fn with_clock(per_minute: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self { limiter: RateLimiter::dashmap_with_clock(quota, clock), checks: AtomicU64::new(0) }
    }

    /// Takes a slot for `key`, or says how long until one is free: rounded up to whole seconds,
    /// never zero, so it can go straight into a `Retry-After` header and a client that waits
    /// that long is admitted.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % Self::SWEEP_EVERY == Self::SWEEP_EVERY - 1 {
            self.sweep();
        }
        self.limiter.check_key(key).map_err(|not_until| ceil_secs(not_until.wait_time_from(self.limiter.clock().now())))
    }

    /// Forgets the keys whose buckets are full again (they would be admitted as new ones).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many keys the limiter holds state for.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for KeyedLimiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter").field("keys", &self.len()).finish_non_exhaustive()
    }
}

/// `wait` rounded up to whole seconds, at least one.
fn ceil_secs(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// The domain's [`PublishPace`]: a bucket per session, so one busy session does not slow the
/// others down.
#[derive(Debug)]
pub struct SessionPace<C: Clock = DefaultClock> {
    limiter: KeyedLimiter<SessionKey, C>,
}

impl SessionPace {
    /// Lets a session publish `burst` statuses at once, then `per_minute` a minute.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { limiter: KeyedLimiter::new(per_minute, burst) }
    }
}

impl<C: Clock> SessionPace<C> {
    /// Like [`SessionPace::new`], with another clock.
    pub fn with_clock(per_minute: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        Self { limiter: KeyedLimiter::with_clock(per_minute, burst, clock) }
    }
}

impl<C: Clock + Send + Sync> PublishPace for SessionPace<C> {
    fn admit(&self, session: &SessionKey) -> Result<(), Duration> {
        self.limiter.check(session)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use governor::clock::FakeRelativeClock;
    use wastatus_domain::{SessionId, TenantId};

    use super::*;

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    fn fake(per_minute: u32, burst: u32) -> (KeyedLimiter<&'static str, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (KeyedLimiter::with_clock(n(per_minute), n(burst), clock.clone()), clock)
    }

    #[test]
    fn the_burst_is_admitted_then_the_next_waits() {
        // 6 a minute: one slot every 10 s.
        let (limiter, _clock) = fake(6, 3);
        for i in 0..3 {
            assert_eq!(limiter.check(&"a"), Ok(()), "request {i}");
        }
        assert_eq!(limiter.check(&"a"), Err(Duration::from_secs(10)));
        // Refusals take nothing: the wait does not grow.
        assert_eq!(limiter.check(&"a"), Err(Duration::from_secs(10)));
    }

    #[test]
    fn slots_come_back_at_the_rate() {
        let (limiter, clock) = fake(6, 2);
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        clock.advance(Duration::from_secs(4));
        assert_eq!(limiter.check(&"a"), Err(Duration::from_secs(6)));
        clock.advance(Duration::from_secs(6));
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert!(limiter.check(&"a").is_err());
        // After a long quiet spell, the whole burst is back, and no more.
        clock.advance(Duration::from_secs(3_600));
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_err());
    }

    #[test]
    fn waits_are_rounded_up_to_whole_seconds() {
        // 7 a minute: one slot every 8.571… s.
        let (limiter, clock) = fake(7, 1);
        assert!(limiter.check(&"a").is_ok());
        assert_eq!(limiter.check(&"a"), Err(Duration::from_secs(9)));
        clock.advance(Duration::from_millis(8_500));
        // 71 ms to go: still a whole second.
        assert_eq!(limiter.check(&"a"), Err(Duration::from_secs(1)));
        clock.advance(Duration::from_millis(100));
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(ceil_secs(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(ceil_secs(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(ceil_secs(Duration::from_nanos(5_000_000_001)), Duration::from_secs(6));
    }

    #[test]
    fn keys_are_independent() {
        let (limiter, _clock) = fake(1, 1);
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_err());
        assert!(limiter.check(&"b").is_ok());
        assert!(limiter.check(&"b").is_err());
        assert!(limiter.check(&"a").is_err());
    }

    #[test]
    fn the_real_clock_refills_too() {
        // 60 000 a minute: one slot every millisecond.
        let limiter = KeyedLimiter::new(n(60_000), n(2));
        assert!(limiter.check(&1).is_ok());
        assert!(limiter.check(&1).is_ok());
        // No sleep has passed a millisecond yet, most likely; whatever the wait, it is positive.
        if let Err(wait) = limiter.check(&1) {
            assert_eq!(wait, Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.check(&1).is_ok());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let (limiter, clock) = fake(60, 2);
        for key in ["a", "b", "c"] {
            assert!(limiter.check(&key).is_ok());
        }
        assert_eq!(limiter.len(), 3);
        // Still refilling: kept.
        limiter.sweep();
        assert_eq!(limiter.len(), 3);
        // Full again (2 slots at one a second): forgotten.
        clock.advance(Duration::from_secs(2));
        assert!(limiter.check(&"a").is_ok());
        limiter.sweep();
        assert_eq!(limiter.len(), 1);
        clock.advance(Duration::from_secs(2));
        limiter.sweep();
        assert!(limiter.is_empty());
    }

    #[test]
    fn memory_stays_bounded_without_explicit_sweeps() {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedLimiter::<u32, _>::with_clock(n(60), n(1), clock.clone());
        // Many one-off keys, each seen once, a second apart: each bucket is full again a second
        // later, so the periodic sweeps keep the map to about a sweep's worth of keys.
        for key in 0..5_000 {
            assert!(limiter.check(&key).is_ok());
            clock.advance(Duration::from_secs(1));
        }
        let bound = KeyedLimiter::<u32, FakeRelativeClock>::SWEEP_EVERY as usize;
        assert!(limiter.len() <= bound, "{} keys held", limiter.len());
    }

    #[test]
    fn sessions_are_paced_each_on_its_own() {
        let clock = FakeRelativeClock::default();
        let pace: Arc<dyn PublishPace> = Arc::new(SessionPace::with_clock(n(6), n(2), clock.clone()));
        let tenant = TenantId::from_uuid(uuid::Uuid::new_v4());
        let main = SessionKey { tenant, id: SessionId::new("main").unwrap() };
        let shop = SessionKey { tenant, id: SessionId::new("shop").unwrap() };
        let elsewhere = SessionKey { tenant: TenantId::from_uuid(uuid::Uuid::new_v4()), id: main.id.clone() };
        assert_eq!(pace.admit(&main), Ok(()));
        assert_eq!(pace.admit(&main), Ok(()));
        assert_eq!(pace.admit(&main), Err(Duration::from_secs(10)));
        assert_eq!(pace.admit(&shop), Ok(()));
        // The same session id in another tenant is another session.
        assert_eq!(pace.admit(&elsewhere), Ok(()));
        clock.advance(Duration::from_secs(10));
        assert_eq!(pace.admit(&main), Ok(()));
        assert!(pace.admit(&main).is_err());
    }

    #[test]
    fn the_default_clock_works_behind_the_port() {
        let pace: Arc<dyn PublishPace> = Arc::new(SessionPace::new(n(60), n(1)));
        let key = SessionKey { tenant: TenantId::from_uuid(uuid::Uuid::new_v4()), id: SessionId::new("s").unwrap() };
        assert!(pace.admit(&key).is_ok());
        assert_eq!(pace.admit(&key), Err(Duration::from_secs(1)));
    }
}
