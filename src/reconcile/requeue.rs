//! When to look at a connection again: exponential backoff after failures,
//! the interval (spread a little per object) after an answer.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use super::per_uid::{Key, PerUid, key};

/// `base * 2^(n-1)`, capped.
pub fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

/// [`backoff`], spread by ±20% per object and attempt, so that connections
/// that failed together (say, during an STS outage) do not retry together.
pub fn spread_backoff(base: Duration, failures: u32, cap: Duration, uid: &str) -> Duration {
    let d = backoff(base, failures, cap);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (uid, failures).hash(&mut h);
    let permille = 800 + h.finish() % 401; // 0.8 ..= 1.2
    (d * permille as u32 / 1000).min(cap)
}

/// Spread re-validations of many connections over up to a tenth of the
/// interval, deterministically per object.
pub fn jittered(interval: Duration, uid: &str) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut h);
    let spread = interval.as_millis() as u64 / 10;
    if spread == 0 {
        return interval;
    }
    interval + Duration::from_millis(h.finish() % spread)
}

/// A point in `[0, interval)` that depends only on `uid`: where in its
/// interval a connection's first validation after a restart falls, so
/// that the fleet's first validations spread over one interval.
pub fn spread_within(interval: Duration, uid: &str) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ("first", uid).hash(&mut h);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % ms)
}

/// Consecutive failures per object UID, for exponential backoff.
#[derive(Default)]
pub struct Failures(PerUid<u32>);

impl Failures {
    /// Count one more failure; returns how many in a row.
    pub fn note(&self, uid: &str) -> u32 {
        let mut f = self.0.map();
        let n = f.entry(key(uid)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// The connection succeeded: its failures are forgotten.
    pub fn clear(&self, uid: &str) {
        self.0.map().remove(&key(uid));
    }

    /// Forget objects whose UID [`Key`] `live` says is gone (deleted while
    /// failing).
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        self.0.retain(live);
    }

    /// How many connections are failing.
    pub fn len(&self) -> usize {
        self.0.map().len()
    }

    /// Whether no connection is failing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(base, 1, cap), Duration::from_secs(5));
        assert_eq!(backoff(base, 2, cap), Duration::from_secs(10));
        assert_eq!(backoff(base, 4, cap), Duration::from_secs(40));
        assert_eq!(backoff(base, 5, cap), cap);
        assert_eq!(backoff(base, 1000, cap), cap);
    }

    #[test]
    fn retries_after_a_shared_failure_are_spread() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(600);
        let delays: std::collections::HashSet<Duration> = (0..100)
            .map(|i| spread_backoff(base, 3, cap, &format!("uid-{i}")))
            .collect();
        assert!(
            delays.len() > 50,
            "spread: {} distinct delays",
            delays.len()
        );
        for d in &delays {
            assert!(
                *d >= Duration::from_secs(16) && *d <= Duration::from_secs(24),
                "{d:?}"
            );
        }
        assert!(spread_backoff(base, 30, cap, "x") <= cap);
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let i = Duration::from_secs(600);
        let j = jittered(i, "some-uid");
        assert!(j >= i && j < i + Duration::from_secs(60));
        assert_eq!(j, jittered(i, "some-uid"));
    }

    #[test]
    fn failures_count_per_object() {
        let f = Failures::default();
        assert_eq!(f.note("a"), 1);
        assert_eq!(f.note("a"), 2);
        assert_eq!(f.note("b"), 1);
        f.clear("a");
        assert_eq!(f.note("a"), 1);
        f.retain(|k| k == key("b"));
        assert_eq!(f.len(), 1);
    }
}
