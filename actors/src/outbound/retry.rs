//! When a `call_webhook` attempt is done with, and how long to wait before the next (SPEC §7).
//!
//! [`classify`] turns an attempt's outcome into an [`AttemptVerdict`]; a [`RetryPolicy`] holds
//! the schedule and its jitter and answers [`RetryPolicy::delay_after`]; [`parse_retry_after`]
//! reads a receiver's `Retry-After` header, which the policy honours as a lower bound.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;

/// The longest `Retry-After` honoured: a receiver asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The jitter of the default policy: each delay varies by up to 20 % either way.
pub const DEFAULT_JITTER: f64 = 0.2;

/// The delays of the default policy, in seconds, the first attempt's included.
const DEFAULT_SCHEDULE_SECS: [u64; 8] = [0, 10, 30, 120, 600, 1_800, 3_600, 10_800];

/// What an attempt's outcome means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The receiver accepted the call (a 2xx); the call succeeded.
    Succeeded,
    /// A passing failure (timeout, connection error, 408, 429 or 5xx); try again if allowed.
    Retry,
    /// The receiver refused the call for good (another 4xx, or a 3xx since redirects are not
    /// followed); the call fails now.
    Fail,
}

/// Says what an attempt's HTTP status means; `None` stands for a timeout or connection error.
pub fn classify(status: Option<u16>) -> AttemptVerdict {
    match status {
        None => AttemptVerdict::Retry,
        Some(200..=299) => AttemptVerdict::Succeeded,
        Some(408 | 429 | 500..=599) => AttemptVerdict::Retry,
        Some(_) => AttemptVerdict::Fail,
    }
}

/// How often and when a failing call is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delay before each attempt, the first one's included (normally zero); its length is
    /// the number of attempts.
    pub schedule: Vec<Duration>,
    /// The fraction by which each delay varies at random either way, taken within `0..=1`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// Eight attempts spread over about 4 h 43 min: at once, then 10 s, 30 s, 2 min, 10 min,
    /// 30 min, 1 h and 3 h after the previous one, each ±20 %.
    ///
    /// The short early steps ride out a blip or a receiver's restart; the long late ones ride
    /// out a deploy or an outage of a few hours. A journey step is time-sensitive (a welcome
    /// bonus message a day late does more harm than good), so after that the call is dead and
    /// the journey takes its failure branch; an operator can still retry a dead call by hand.
    fn default() -> Self {
        RetryPolicy {
            schedule: DEFAULT_SCHEDULE_SECS
                .iter()
                .map(|secs| Duration::from_secs(*secs))
                .collect(),
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetryPolicy {
    /// How many attempts a call gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule.len()).unwrap_or(u32::MAX)
    }

    /// How long to wait after `attempt` attempts (counted from 1) before the next one; `None`
    /// when no attempt remains.
    ///
    /// The scheduled delay is jittered, then raised to the receiver's `retry_after` (capped at
    /// [`MAX_RETRY_AFTER`]) if that is longer. `delay_after(0, _)` is the first attempt's delay.
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?;
        let scheduled = *self.schedule.get(index)?;

        let jittered = jittered(scheduled, self.jitter);
        let floor = retry_after.map_or(Duration::ZERO, |wait| wait.min(MAX_RETRY_AFTER));
        Some(jittered.max(floor))
    }
}

/// `delay` moved at random by up to `jitter` of itself either way; a jitter outside `0..=1`
/// (or not a number) is taken as the nearest bound (or zero).
fn jittered(delay: Duration, jitter: f64) -> Duration {
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    if jitter == 0.0 || delay.is_zero() {
        return delay;
    }

    let factor = 1.0 + rand::rng().random_range(-jitter..=jitter);
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
}

/// Reads a `Retry-After` value, either delta-seconds (`120`) or an HTTP date, as the wait from
/// `now`; a date in the past means no wait. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: a number too large for u64 is simply "very long".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }

    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Parses the three date forms HTTP/1.1 recipients accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`).
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn fixed(schedule: &[u64]) -> RetryPolicy {
        RetryPolicy {
            schedule: schedule.iter().map(|s| secs(*s)).collect(),
            jitter: 0.0,
        }
    }

    fn now() -> DateTime<Utc> {
        match Utc.with_ymd_and_hms(1994, 11, 6, 8, 48, 7) {
            chrono::LocalResult::Single(t) => t,
            _ => panic!("bad test time"),
        }
    }

    #[test]
    fn the_default_policy_makes_eight_attempts_over_under_five_hours() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 8);
        assert_eq!(policy.schedule[0], Duration::ZERO);
        assert_eq!(policy.schedule[7], secs(3 * 3600));
        let total: Duration = policy.schedule.iter().sum();
        assert_eq!(total, secs(4 * 3600 + 42 * 60 + 40));
        assert!((policy.jitter - 0.2).abs() < f64::EPSILON);
    }

    #[test]
    fn delays_follow_the_schedule_until_attempts_run_out() {
        let policy = fixed(&[0, 10, 30]);
        assert_eq!(policy.delay_after(0, None), Some(Duration::ZERO));
        assert_eq!(policy.delay_after(1, None), Some(secs(10)));
        assert_eq!(policy.delay_after(2, None), Some(secs(30)));
        assert_eq!(policy.delay_after(3, None), None);
        assert_eq!(policy.delay_after(3, Some(secs(5))), None);
        assert_eq!(policy.delay_after(u32::MAX, None), None);
        assert_eq!(fixed(&[]).delay_after(0, None), None);
    }

    #[test]
    fn retry_after_is_a_capped_lower_bound() {
        let policy = fixed(&[0, 10, 30, 3 * 3600]);
        assert_eq!(policy.delay_after(1, Some(secs(60))), Some(secs(60)));
        assert_eq!(policy.delay_after(1, Some(secs(5))), Some(secs(10)));
        assert_eq!(
            policy.delay_after(2, Some(secs(86_400))),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            policy.delay_after(3, Some(secs(7200))),
            Some(secs(3 * 3600))
        );
    }

    #[test]
    fn odd_jitter_and_huge_delays_do_not_panic() {
        for jitter in [f64::NAN, f64::INFINITY, -1.0, 5.0] {
            let policy = RetryPolicy {
                schedule: vec![Duration::MAX, secs(10)],
                jitter,
            };
            assert!(policy.delay_after(0, None).is_some());
            let d = policy.delay_after(1, None).unwrap_or_default();
            assert!(d <= secs(20), "{jitter}: {d:?}");
        }
    }

    #[test]
    fn retry_after_reads_delta_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        let huge = "99999999999999999999999";
        assert_eq!(parse_retry_after(huge, now()), Some(secs(u64::MAX)));
        for bad in ["", "-5", "1.5", "soon", "12 s", "+3"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_reads_the_three_http_date_forms() {
        let expected = Some(secs(90));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now()),
            expected
        );
        let past = parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now());
        assert_eq!(past, Some(Duration::ZERO));
    }

    #[test]
    fn statuses_are_classified() {
        use AttemptVerdict::*;
        let cases = [
            (None, Retry),
            (Some(200), Succeeded),
            (Some(201), Succeeded),
            (Some(204), Succeeded),
            (Some(299), Succeeded),
            (Some(301), Fail),
            (Some(302), Fail),
            (Some(304), Fail),
            (Some(400), Fail),
            (Some(401), Fail),
            (Some(404), Fail),
            (Some(408), Retry),
            (Some(410), Fail),
            (Some(422), Fail),
            (Some(429), Retry),
            (Some(500), Retry),
            (Some(502), Retry),
            (Some(503), Retry),
            (Some(599), Retry),
            (Some(100), Fail),
            (Some(600), Fail),
        ];
        for (status, verdict) in cases {
            assert_eq!(classify(status), verdict, "{status:?}");
        }
    }

    proptest! {
        #[test]
        fn delays_stay_within_jitter_and_above_retry_after(
            schedule in prop::collection::vec(0u64..200_000, 0..10),
            jitter in 0.0f64..=1.0,
            attempt in 0u32..12,
            retry_after in prop::option::of(0u64..20_000),
        ) {
            let policy = RetryPolicy {
                schedule: schedule.iter().map(|s| secs(*s)).collect(),
                jitter,
            };
            let delay = policy.delay_after(attempt, retry_after.map(secs));
            let Some(&base) = schedule.get(attempt as usize) else {
                prop_assert_eq!(delay, None);
                return Ok(());
            };
            let Some(delay) = delay else {
                return Err(TestCaseError::fail("no delay although attempts remain"));
            };

            let d = delay.as_secs_f64();
            let floor = retry_after.map_or(0.0, |r| r.min(MAX_RETRY_AFTER.as_secs()) as f64);
            let low = base as f64 * (1.0 - jitter);
            let high = (base as f64 * (1.0 + jitter)).max(floor);
            prop_assert!(d >= floor, "{d} below Retry-After {floor}");
            prop_assert!(d >= low - 1e-6 && d <= high + 1e-6, "{d} outside {low}..={high}");
        }

        #[test]
        fn any_retry_after_value_parses_without_panicking(value in any::<String>()) {
            let _ = parse_retry_after(&value, now());
        }
    }
}
