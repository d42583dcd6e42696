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
    },
}

/// Caches assumed-role credentials by [`SessionKey`].
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<SessionKey, Cached>>,
    /// One fetch per key at a time: validations of many connections that use
    /// the same role wait for the first one's credentials instead of each
    /// asking STS.
    fetching: Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl CredentialCache {
    /// The credentials of `key`, unless they expire within [`REFRESH_MARGIN`] of `now`.
    pub fn get(&self, key: &SessionKey, now: SystemTime) -> Option<Credentials> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(key)
            .filter(|c| c.expires > now + REFRESH_MARGIN)
            .map(|c| c.credentials.clone())
    }

    /// Keep `credentials` of `key` until `expires`.
    pub fn put(&self, key: SessionKey, credentials: Credentials, expires: SystemTime) {
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
    pub async fn fetching(&self, key: &SessionKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.fetching.lock().unwrap();
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Forget credentials S3 or STS rejected, so the next attempt re-assumes.
    pub fn invalidate(&self, key: &SessionKey) {
        self.entries.lock().unwrap().remove(key);
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
        }
    }

    #[test]
    fn cache_expires_before_credentials_do() {
        let cache = CredentialCache::default();
        let now = SystemTime::now();
        let c = Credentials::new("a", "b", None, None, "t");
        cache.put(key("k"), c.clone(), now + Duration::from_secs(3600));
        assert!(cache.get(&key("k"), now).is_some());
        assert!(
            cache
                .get(&key("k"), now + Duration::from_secs(3400))
                .is_none()
        );
        cache.invalidate(&key("k"));
        assert!(cache.get(&key("k"), now).is_none());
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
