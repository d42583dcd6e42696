//! Assumed-role credentials, kept until shortly before they expire so that
//! re-validating does not call STS every time.

use std::collections::HashMap;
use std::sync::Mutex;
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
}
