//! HTTPS clients that trust a connection's CA bundle (`spec.caSecretRef`),
//! kept per distinct bundle ([`TrustCache`]).
//!
//! The key is the SHA-256 digest of the bundle's bytes: bundles are written
//! by tenants, so an unkeyed 64-bit hash would let one tenant craft a bundle
//! that collides with another's and be handed a client trusting the other
//! tenant's CA (or evict it). A client is built outside the cache's lock:
//! building one bundle's client never holds up requests for another, and
//! callers asking for the same bundle at once wait for one build.
//!
//! Size: the cache holds the bundles in use, however many, rather than a
//! fixed count. A bundle is in use while a connection validates with it at
//! least once per [`IDLE`] (longer than the longest validation interval);
//! one unused for that long is dropped. [`CEILING`] bounds the memory a
//! tenant creating many bundles can cost: beyond it the least recently used
//! bundle's client is dropped (and rebuilt when next needed), never all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A bundle unused for this long is dropped: longer than the longest
/// validation interval, so a bundle of any connection stays built.
pub const IDLE: Duration = Duration::from_secs(crate::crd::rules::MAX_INTERVAL.as_secs() + 3600);

/// The most bundles kept at once.
pub const CEILING: usize = 1024;

/// The key of a bundle: the SHA-256 digest of its bytes.
pub type Key = [u8; 32];

/// The key of `pem`.
pub fn key_of(pem: &[u8]) -> Key {
    Sha256::digest(pem).into()
}

struct Slot<V> {
    value: Arc<OnceLock<V>>,
    used: Instant,
}

/// Values (HTTPS clients) by the digest of the bundle they trust.
pub struct TrustCache<V> {
    slots: Mutex<HashMap<Key, Slot<V>>>,
    ceiling: usize,
    idle: Duration,
}

impl<V> Default for TrustCache<V> {
    fn default() -> Self {
        Self::new(CEILING, IDLE)
    }
}

impl<V> TrustCache<V> {
    /// A cache of at most `ceiling` bundles, each dropped after `idle`
    /// unused.
    pub fn new(ceiling: usize, idle: Duration) -> Self {
        Self {
            slots: Mutex::default(),
            ceiling: ceiling.max(1),
            idle,
        }
    }
}

impl<V: Clone> TrustCache<V> {
    /// The value for `pem`, built by `build` if it is not kept. The lock is
    /// held only to find or reserve the bundle's slot; `build` runs outside
    /// it, once per bundle however many callers ask at the same time.
    pub fn get_or_build(&self, pem: &[u8], now: Instant, build: impl FnOnce() -> V) -> V {
        let key = key_of(pem);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = slots.get_mut(&key) {
                s.used = now;
                s.value.clone()
            } else {
                self.make_room(&mut slots, now);
                let value = Arc::new(OnceLock::new());
                slots.insert(
                    key,
                    Slot {
                        value: value.clone(),
                        used: now,
                    },
                );
                value
            }
        };
        slot.get_or_init(build).clone()
    }

    /// How many bundles are kept.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop bundles unused for `idle`, then, at the ceiling, the least
    /// recently used one.
    fn make_room(&self, slots: &mut HashMap<Key, Slot<V>>, now: Instant) {
        slots.retain(|_, s| now.saturating_duration_since(s.used) < self.idle);
        if slots.len() >= self.ceiling
            && let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| *k)
        {
            slots.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    fn pem(i: usize) -> Vec<u8> {
        format!("-----BEGIN CERTIFICATE-----\n{i}\n-----END CERTIFICATE-----\n").into_bytes()
    }

    #[test]
    fn the_key_is_the_sha256_digest_of_the_bytes() {
        let k = key_of(b"abc");
        assert_eq!(
            k[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") begins ba7816bf"
        );
        let cache = TrustCache::<usize>::default();
        let now = Instant::now();
        assert_eq!(cache.get_or_build(&pem(1), now, || 1), 1);
        // Another bundle never gets the first one's value.
        assert_eq!(cache.get_or_build(&pem(2), now, || 2), 2);
        assert_eq!(cache.get_or_build(&pem(1), now, || 99), 1);
    }

    #[test]
    fn every_bundle_in_use_stays_built_however_many() {
        let cache = TrustCache::<usize>::default();
        let builds = AtomicUsize::new(0);
        let now = Instant::now();
        // Far more than the 64 the cache used to clear itself at.
        for round in 0..3 {
            for i in 0..500 {
                let v = cache.get_or_build(&pem(i), now, || {
                    builds.fetch_add(1, Ordering::SeqCst);
                    i
                });
                assert_eq!(v, i, "round {round}");
            }
        }
        assert_eq!(builds.load(Ordering::SeqCst), 500, "each built once");
        assert_eq!(cache.len(), 500);
    }

    #[test]
    fn unused_bundles_go_and_the_ceiling_drops_the_least_recently_used() {
        let idle = Duration::from_secs(100);
        let cache = TrustCache::<usize>::new(3, idle);
        let t0 = Instant::now();
        for i in 0..3 {
            cache.get_or_build(&pem(i), t0 + Duration::from_secs(i as u64), || i);
        }
        // Bundle 0 used again: 1 is now the least recently used.
        cache.get_or_build(&pem(0), t0 + Duration::from_secs(10), || 99);
        cache.get_or_build(&pem(3), t0 + Duration::from_secs(11), || 3);
        assert_eq!(cache.len(), 3);
        assert_eq!(
            cache.get_or_build(&pem(0), t0 + Duration::from_secs(12), || 99),
            0
        );
        assert_eq!(
            cache.get_or_build(&pem(1), t0 + Duration::from_secs(13), || 11),
            11,
            "1 was dropped and is rebuilt"
        );
        // Long after: everything unused for `idle` goes at the next build.
        let later = t0 + Duration::from_secs(13) + idle;
        cache.get_or_build(&pem(7), later, || 7);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_slow_build_holds_up_neither_the_lock_nor_other_bundles() {
        let cache = Arc::new(TrustCache::<usize>::default());
        let (started_tx, started_rx) = mpsc::channel();
        let (other_done_tx, other_done_rx) = mpsc::channel::<()>();
        let slow = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache.get_or_build(&pem(1), Instant::now(), || {
                    started_tx.send(()).unwrap();
                    // Finishes only once another bundle was built and the
                    // cache was read meanwhile: with the lock held here,
                    // that could never happen.
                    other_done_rx.recv().unwrap();
                    1
                })
            })
        };
        started_rx.recv().unwrap();
        assert_eq!(cache.get_or_build(&pem(2), Instant::now(), || 2), 2);
        assert_eq!(cache.len(), 2);
        other_done_tx.send(()).unwrap();
        assert_eq!(slow.join().unwrap(), 1);
    }

    #[test]
    fn callers_asking_for_one_bundle_at_once_share_one_build() {
        let cache = Arc::new(TrustCache::<usize>::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, builds, barrier) = (cache.clone(), builds.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache.get_or_build(&pem(5), Instant::now(), || {
                        builds.fetch_add(1, Ordering::SeqCst);
                        5
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 5);
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }
}
