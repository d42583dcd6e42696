//! Assumed-role credentials, kept until shortly before they expire so that
//! re-validating does not call STS every time. The cache is bounded by
//! entries and bytes and forgets the least recently used first: whatever an
//! STS endpoint answers, and for however many sessions, what the operator
//! holds stays within [`Limits`]. Its size is published as gauges.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use prometheus_client::metrics::gauge::Gauge;

/// Cached credentials are renewed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The longest session STS issues (a role's maximum session duration is at
/// most 12 hours): no expiry later than this after the request is believed.
pub const LONGEST_SESSION: Duration = Duration::from_secs(12 * 3600);

/// When credentials STS issued at `asked_at` for `requested` expire, as the
/// operator believes it: what STS said (`said`), but never later than the
/// lifetime asked for nor [`LONGEST_SESSION`]. An answer without a usable
/// expiry is believed for the lifetime asked for. Never earlier than STS
/// said: one exchange per identity per credential lifetime.
pub fn believed_expiry(
    asked_at: SystemTime,
    requested: Duration,
    said: Option<SystemTime>,
) -> SystemTime {
    let latest = asked_at + requested.min(LONGEST_SESSION);
    said.map_or(latest, |said| said.min(latest))
}

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions kept at most.
    pub entries: usize,
    /// Bytes kept at most: each session's strings plus a fixed overhead.
    pub bytes: usize,
}

impl Default for Limits {
    /// Room for thousands of sessions even with the longest session token
    /// the operator accepts (8 KiB; AWS's are one or two).
    fn default() -> Self {
        Self {
            entries: 16_384,
            bytes: 32 * 1024 * 1024,
        }
    }
}

/// What a cached entry is counted as, besides its strings: the map entries,
/// the recency index and the allocations' own bookkeeping.
const ENTRY_OVERHEAD: usize = 256;

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    expires: SystemTime,
    /// When it was last used (larger: more recent).
    used: u64,
    size: usize,
}

/// Everything that identifies an assumed-role session: two connections
/// whose keys are equal may share credentials, and nothing else may.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionKey {
    /// IRSA: a ServiceAccount (by name and uid, so a ServiceAccount deleted
    /// and created again is a new one) exchanging its token for a role.
    Irsa {
        /// The connection's (and the ServiceAccount's) namespace.
        namespace: String,
        /// The ServiceAccount's name.
        service_account: String,
        /// The ServiceAccount's uid.
        uid: String,
        /// The role assumed.
        role_arn: String,
        /// The audience of the ServiceAccount token.
        audience: String,
        /// The role session name.
        session: String,
        /// Where the token is exchanged: the STS location.
        sts: String,
    },
    /// The operator's own identity assuming a role for a namespace (with
    /// that namespace's ExternalId).
    Operator {
        /// The connection's namespace.
        namespace: String,
        /// The role assumed.
        role_arn: String,
        /// The role session name.
        session: String,
        /// `spec.stsEndpoint`, or empty for the operator's own STS.
        sts: String,
    },
}

impl SessionKey {
    fn size(&self) -> usize {
        let parts: &[&String] = match self {
            SessionKey::Irsa {
                namespace: a,
                service_account: b,
                uid: c,
                role_arn: d,
                audience: e,
                session: f,
                sts: g,
            } => &[a, b, c, d, e, f, g],
            SessionKey::Operator {
                namespace: a,
                role_arn: b,
                session: c,
                sts: d,
            } => &[a, b, c, d],
        };
        parts.iter().map(|s| s.len()).sum()
    }
}

/// What the cache holds, and in which order it was used.
#[derive(Default)]
struct Entries {
    by_key: HashMap<SessionKey, Cached>,
    by_use: BTreeMap<u64, SessionKey>,
    bytes: usize,
    clock: u64,
}

impl Entries {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn remove(&mut self, key: &SessionKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_use.remove(&old.used);
            self.bytes = self.bytes.saturating_sub(old.size);
        }
    }

    /// Forget the least recently used session; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, key)) = self.by_use.pop_first() else {
            return false;
        };
        self.remove(&key);
        true
    }
}

/// Caches assumed-role credentials by [`SessionKey`], within [`Limits`].
#[derive(Default)]
pub struct CredentialCache {
    limits: Limits,
    entries: Mutex<Entries>,
    /// Published size: sessions, and bytes.
    gauges: (Gauge, Gauge),
    /// One fetch per key at a time: validations of many connections that use
    /// the same role wait for the first one's credentials instead of each
    /// asking STS.
    fetching: Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl CredentialCache {
    /// A cache within `limits` that publishes its size in `entries` and
    /// `bytes`.
    pub fn new(limits: Limits, entries: Gauge, bytes: Gauge) -> Self {
        Self {
            limits,
            gauges: (entries, bytes),
            ..Default::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, e: &Entries) {
        self.gauges.0.set(e.by_key.len() as i64);
        self.gauges.1.set(e.bytes as i64);
    }

    /// The credentials of `key`, unless they expire within [`REFRESH_MARGIN`] of `now`.
    pub fn get(&self, key: &SessionKey, now: SystemTime) -> Option<Credentials> {
        let mut e = self.lock();
        let tick = e.tick();
        let Entries { by_key, by_use, .. } = &mut *e;
        let c = by_key.get_mut(key)?;
        if c.expires <= now + REFRESH_MARGIN {
            return None;
        }
        by_use.remove(&c.used);
        c.used = tick;
        by_use.insert(tick, key.clone());
        Some(c.credentials.clone())
    }

    /// Keep `credentials` of `key` until `expires` (see [`believed_expiry`]),
    /// forgetting expired entries and then the least recently used ones
    /// until it fits. Credentials larger than the whole cache are not kept.
    pub fn put(&self, key: SessionKey, credentials: Credentials, expires: SystemTime) {
        let size = ENTRY_OVERHEAD
            + key.size()
            + credentials.access_key_id().len()
            + credentials.secret_access_key().len()
            + credentials.session_token().map_or(0, str::len);
        let mut e = self.lock();
        e.remove(&key);
        let now = SystemTime::now();
        let expired: Vec<SessionKey> = e
            .by_key
            .iter()
            .filter(|(_, c)| c.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            e.remove(k);
        }
        if size <= self.limits.bytes && self.limits.entries > 0 {
            while (e.by_key.len() >= self.limits.entries || e.bytes + size > self.limits.bytes)
                && e.evict_oldest()
            {}
            let used = e.tick();
            e.by_use.insert(used, key.clone());
            e.bytes += size;
            e.by_key.insert(
                key,
                Cached {
                    credentials,
                    expires,
                    used,
                    size,
                },
            );
        }
        self.publish(&e);
    }

    /// Hold this while fetching credentials for `key`; others fetching the
    /// same key wait, then find them cached.
    pub async fn fetching(&self, key: &SessionKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Forget credentials S3 or STS rejected, so the next attempt re-assumes.
    pub fn invalidate(&self, key: &SessionKey) {
        let mut e = self.lock();
        e.remove(key);
        self.publish(&e);
    }

    /// Sessions kept, and their size in bytes.
    pub fn size(&self) -> (usize, usize) {
        let e = self.lock();
        (e.by_key.len(), e.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(session: &str) -> SessionKey {
        SessionKey::Operator {
            namespace: "ns".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            session: session.into(),
            sts: String::new(),
        }
    }

    #[test]
    fn sessions_at_other_sts_endpoints_are_not_shared() {
        let cache = CredentialCache::default();
        let far = SystemTime::now() + HOUR;
        cache.put(key("s"), creds(1), far);
        let elsewhere = SessionKey::Operator {
            namespace: "ns".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            session: "s".into(),
            sts: "https://sts-fips.us-east-1.amazonaws.com".into(),
        };
        assert!(cache.get(&key("s"), SystemTime::now()).is_some());
        assert!(cache.get(&elsewhere, SystemTime::now()).is_none());
    }

    fn creds(token_len: usize) -> Credentials {
        Credentials::new("a", "b", Some("T".repeat(token_len)), None, "t")
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn cache_expires_before_credentials_do() {
        let cache = CredentialCache::default();
        let now = SystemTime::now();
        let c = Credentials::new("a", "b", None, None, "t");
        cache.put(key("k"), c.clone(), now + HOUR);
        assert!(cache.get(&key("k"), now).is_some());
        assert!(
            cache
                .get(&key("k"), now + Duration::from_secs(3400))
                .is_none()
        );
        cache.invalidate(&key("k"));
        assert!(cache.get(&key("k"), now).is_none());
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn an_expiry_is_believed_up_to_the_lifetime_asked_for_and_never_beyond_12h() {
        let asked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // Year 9999: the lifetime asked for.
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert_eq!(believed_expiry(asked, HOUR, Some(far)), asked + HOUR);
        // Asked for more than STS ever issues: 12 hours.
        assert_eq!(
            believed_expiry(asked, 24 * HOUR, Some(far)),
            asked + LONGEST_SESSION
        );
        // Shorter than asked: believed, never shortened further.
        let soon = asked + Duration::from_secs(1800);
        assert_eq!(believed_expiry(asked, HOUR, Some(soon)), soon);
        assert_eq!(
            believed_expiry(asked, HOUR, Some(asked + HOUR)),
            asked + HOUR
        );
        // No usable expiry: the lifetime asked for.
        assert_eq!(believed_expiry(asked, HOUR, None), asked + HOUR);
    }

    #[test]
    fn the_least_recently_used_go_first_when_entries_run_out() {
        let (n, b) = (Gauge::default(), Gauge::default());
        let limits = Limits {
            entries: 3,
            bytes: 1 << 20,
        };
        let cache = CredentialCache::new(limits, n.clone(), b.clone());
        let now = SystemTime::now();
        for k in ["a", "b", "c"] {
            cache.put(key(k), creds(10), now + HOUR);
        }
        assert!(cache.get(&key("a"), now).is_some(), "a is used again");
        cache.put(key("d"), creds(10), now + HOUR);
        assert!(cache.get(&key("b"), now).is_none(), "b was the oldest");
        for k in ["a", "c", "d"] {
            assert!(cache.get(&key(k), now).is_some(), "{k}");
        }
        assert_eq!(n.get(), 3);
        assert_eq!(b.get() as usize, cache.size().1);
        // Putting a key again replaces it, it does not count twice.
        cache.put(key("d"), creds(10), now + HOUR);
        assert_eq!(cache.size().0, 3);
    }

    #[test]
    fn bytes_are_bounded_whatever_sts_answers() {
        let (n, b) = (Gauge::default(), Gauge::default());
        let limits = Limits {
            entries: 10_000,
            bytes: 64 * 1024,
        };
        let cache = CredentialCache::new(limits, n.clone(), b.clone());
        let now = SystemTime::now();
        for i in 0..200 {
            cache.put(key(&format!("s{i}")), creds(8192), now + HOUR);
            assert!(cache.size().1 <= limits.bytes);
        }
        let (entries, bytes) = cache.size();
        assert!((5..10).contains(&entries), "{entries} entries");
        assert_eq!((n.get(), b.get()), (entries as i64, bytes as i64));
        assert!(cache.get(&key("s199"), now).is_some(), "the newest stays");
        assert!(cache.get(&key("s0"), now).is_none());
        // Larger than the whole cache: not kept, nothing else lost.
        cache.put(key("huge"), creds(128 * 1024), now + HOUR);
        assert!(cache.get(&key("huge"), now).is_none());
        assert_eq!(cache.size().0, entries);
    }

    #[test]
    fn expired_entries_go_first() {
        let limits = Limits {
            entries: 2,
            bytes: 1 << 20,
        };
        let cache = CredentialCache::new(limits, Gauge::default(), Gauge::default());
        let now = SystemTime::now();
        cache.put(key("old"), creds(1), now - Duration::from_secs(1));
        cache.put(key("live"), creds(1), now + HOUR);
        cache.put(key("new"), creds(1), now + HOUR);
        assert!(cache.get(&key("live"), now).is_some());
        assert!(cache.get(&key("new"), now).is_some());
    }

    #[tokio::test]
    async fn one_fetch_per_key_at_a_time() {
        let cache = Arc::new(CredentialCache::default());
        let first = cache.fetching(&key("k")).await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let _g = cache.fetching(&key("k")).await;
            })
        };
        let other = cache.fetching(&key("other")).await;
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the same key waits");
        drop(first);
        waiter.await.unwrap();
        drop(other);
        assert!(cache.fetching.lock().unwrap().len() <= 2);
    }
}
