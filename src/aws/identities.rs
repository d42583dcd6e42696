//! Who credentials are, as STS last said: one GetCallerIdentity per set of
//! credentials and STS location for a while ([`IDENTITY_TTL`]), not one per
//! validation. Connections that share a Secret (or an assumed role) share
//! the answer.
//!
//! What this does not change: every validation still proves the credentials
//! themselves with its S3 requests (S3 checks the signature and the key
//! before anything else; a key that was deleted or deactivated answers
//! `InvalidAccessKeyId` there). Only the ARN the credentials belong to,
//! which cannot change for an access key or an assumed-role session, is
//! taken from the earlier answer. Credentials that S3 rejects are forgotten
//! at once ([`Identities::forget`]).
//!
//! Entries are keyed by a SHA-256 digest of the STS location and every
//! credential value, so nothing secret is kept here, and a Secret whose
//! value changed (or a wrong secret with the right key ID) never matches.
//! At most [`MAX_ENTRIES`] are kept, whatever tenants create.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};

/// How long STS's answer stands in for a new GetCallerIdentity: the
/// default validation interval, so no status names an identity older than
/// that.
pub const IDENTITY_TTL: Duration = Duration::from_secs(600);

/// Identities kept at most (about 100 bytes each).
pub const MAX_ENTRIES: usize = 4096;

type Key = [u8; 32];

/// The identity STS gave for credentials at a location, for a while.
#[derive(Debug)]
pub struct Identities {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<Key, (Instant, Arc<str>)>>,
}

impl Default for Identities {
    fn default() -> Self {
        Self::new(IDENTITY_TTL, MAX_ENTRIES)
    }
}

fn key(location: &str, credentials: &Credentials) -> Key {
    let mut h = Sha256::new();
    // Length-prefixed, so no two different tuples hash the same input.
    for part in [
        location,
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token().unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl Identities {
    /// Answers kept for `ttl` each, at most `max` (at least one).
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            entries: Mutex::default(),
        }
    }

    /// The identity STS gave for `credentials` at `location`, if it is
    /// recent enough at `now`.
    pub fn get(&self, location: &str, credentials: &Credentials, now: Instant) -> Option<Arc<str>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key(location, credentials)) {
            Some((until, arn)) if *until > now => Some(arn.clone()),
            _ => None,
        }
    }

    /// Remember what STS answered at `now`. When full, expired entries go
    /// first, then the one that expires soonest.
    pub fn learn(&self, location: &str, credentials: &Credentials, arn: &str, now: Instant) {
        let k = key(location, credentials);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max && !entries.contains_key(&k) {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.max
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (until, _))| *until)
                    .map(|(k, _)| *k)
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(k, (now + self.ttl, Arc::from(arn)));
    }

    /// Drop what is known of `credentials` at `location`: they were
    /// rejected.
    pub fn forget(&self, location: &str, credentials: &Credentials) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&key(location, credentials));
    }

    /// Identities kept now (expired ones included until the next prune).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop the expired entries.
    pub fn prune(&self, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (until, _)| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(ak: &str, sk: &str, token: Option<&str>) -> Credentials {
        Credentials::new(ak, sk, token.map(str::to_string), None, "test")
    }

    const STS: &str = "https://sts.us-east-1.amazonaws.com";
    const ARN: &str = "arn:aws:iam::123456789012:user/a";

    #[test]
    fn an_answer_stands_for_its_ttl_only() {
        let ids = Identities::new(Duration::from_secs(60), 10);
        let c = creds("AKIA1", "s1", None);
        let t0 = Instant::now();
        assert_eq!(ids.get(STS, &c, t0), None);
        ids.learn(STS, &c, ARN, t0);
        assert_eq!(ids.get(STS, &c, t0).as_deref(), Some(ARN));
        assert_eq!(
            ids.get(STS, &c, t0 + Duration::from_secs(59)).as_deref(),
            Some(ARN)
        );
        assert_eq!(ids.get(STS, &c, t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn every_credential_value_and_the_location_count() {
        let ids = Identities::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        ids.learn(STS, &creds("AKIA1", "s1", None), ARN, t0);
        for (loc, c) in [
            (STS, creds("AKIA1", "s2", None)),
            (STS, creds("AKIA2", "s1", None)),
            (STS, creds("AKIA1", "s1", Some("tok"))),
            ("http://127.0.0.1:9000", creds("AKIA1", "s1", None)),
            // The same bytes, split differently between the values.
            (STS, creds("AKIA1s", "1", None)),
        ] {
            assert_eq!(ids.get(loc, &c, t0), None, "{loc} {c:?}");
        }
    }

    #[test]
    fn rejected_credentials_are_forgotten() {
        let ids = Identities::new(Duration::from_secs(60), 10);
        let c = creds("AKIA1", "s1", None);
        let t0 = Instant::now();
        ids.learn(STS, &c, ARN, t0);
        ids.forget(STS, &c);
        assert_eq!(ids.get(STS, &c, t0), None);
        assert!(ids.is_empty());
    }

    #[test]
    fn never_more_than_the_bound_and_the_newest_stays() {
        let ids = Identities::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..100u64 {
            let c = creds(&format!("AKIA{i}"), "s", None);
            ids.learn(STS, &c, ARN, t0 + Duration::from_millis(i));
            assert!(ids.len() <= 3);
            assert!(ids.get(STS, &c, t0 + Duration::from_millis(i)).is_some());
        }
        // The oldest answers went first.
        let first = creds("AKIA0", "s", None);
        assert_eq!(ids.get(STS, &first, t0 + Duration::from_millis(100)), None);
    }

    #[test]
    fn expired_entries_are_pruned() {
        let ids = Identities::new(Duration::from_secs(1), 10);
        let t0 = Instant::now();
        ids.learn(STS, &creds("AKIA1", "s1", None), ARN, t0);
        ids.prune(t0 + Duration::from_secs(2));
        assert!(ids.is_empty());
    }

    #[test]
    fn no_credential_value_is_kept() {
        let ids = Identities::new(Duration::from_secs(60), 10);
        ids.learn(
            STS,
            &creds("AKIAVISIBLE", "SECRETVALUE", Some("TOKENVALUE")),
            ARN,
            Instant::now(),
        );
        let dump = format!("{ids:?}");
        for v in ["AKIAVISIBLE", "SECRETVALUE", "TOKENVALUE"] {
            assert!(!dump.contains(v), "{v} in {dump}");
        }
    }
}
