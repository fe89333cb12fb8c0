//! Per-adapter rate limits: a token bucket in front of each adapter's webhooks.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A token bucket: `per_sec` sustained, `burst` at once.
pub struct AdapterLimiter {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl AdapterLimiter {
    /// A bucket refilled at `per_sec` per second holding up to `burst` tokens.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
        AdapterLimiter {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token, or says how long until one is free.
    pub fn check(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_bucket_is_refused_with_a_wait() {
        let limiter = AdapterLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check().is_ok());
        }
        let wait = limiter.check().unwrap_err();
        assert!(wait <= Duration::from_secs(1));
    }
}
