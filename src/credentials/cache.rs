//! Assumed-role credentials, kept until shortly before they expire so that
//! re-validating does not call STS every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

/// Cached credentials are renewed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    expires: SystemTime,
}

/// Caches assumed-role credentials by everything that identifies the session.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, Cached>>,
    /// One fetch per key at a time: validations of many connections that use
    /// the same role wait for the first one's credentials instead of each
    /// asking STS.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl CredentialCache {
    pub fn get(&self, key: &str, now: SystemTime) -> Option<Credentials> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(key)
            .filter(|c| c.expires > now + REFRESH_MARGIN)
            .map(|c| c.credentials.clone())
    }

    pub fn put(&self, key: String, credentials: Credentials, expires: SystemTime) {
        let mut entries = self.entries.lock().unwrap();
        let now = SystemTime::now();
        entries.retain(|_, c| c.expires > now);
        entries.insert(
            key,
            Cached {
                credentials,
                expires,
            },
        );
    }

    /// Hold this while fetching credentials for `key`; others fetching the
    /// same key wait, then find them cached.
    pub async fn fetching(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.fetching.lock().unwrap();
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Forget credentials S3 or STS rejected, so the next attempt re-assumes.
    pub fn invalidate(&self, key: &str) {
        self.entries.lock().unwrap().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_expires_before_credentials_do() {
        let cache = CredentialCache::default();
        let now = SystemTime::now();
        let c = Credentials::new("a", "b", None, None, "t");
        cache.put("k".into(), c.clone(), now + Duration::from_secs(3600));
        assert!(cache.get("k", now).is_some());
        assert!(cache.get("k", now + Duration::from_secs(3400)).is_none());
        cache.invalidate("k");
        assert!(cache.get("k", now).is_none());
    }

    #[tokio::test]
    async fn one_fetch_per_key_at_a_time() {
        let cache = Arc::new(CredentialCache::default());
        let first = cache.fetching("k").await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let _g = cache.fetching("k").await;
            })
        };
        let other = cache.fetching("other").await;
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the same key waits");
        drop(first);
        waiter.await.unwrap();
        drop(other);
        assert!(cache.fetching.lock().unwrap().len() <= 2);
    }
}
