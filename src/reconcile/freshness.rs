//! When each connection was last validated, and last found working: kept
//! in memory, not in status, so that a re-validation that finds what the
//! previous one found writes nothing (10,000 connections validated every
//! 10 minutes would otherwise be 17 status writes a second, each one a
//! watch event for every client of the API server). The metrics serve it
//! (`s3connection_last_success_timestamp_seconds`), which is what the
//! staleness alert needs; the status says since when a connection has been
//! Ready or not (the conditions' `lastTransitionTime`).

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;

/// Unix seconds of the last validation and the last success, per object UID.
#[derive(Default)]
pub struct Freshness(Mutex<HashMap<Key, Seen>>);

/// A UID (a UUID when the API server made it) as 16 bytes rather than a
/// 36-character String; any other UID by its hash.
pub type Key = u128;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Seen {
    validated: i64,
    succeeded: Option<i64>,
}

/// The key of `uid`: its 32 hex digits when it is a UUID, else its hash
/// with the top two bits set. A hashed key has zeros where a UUID keeps its
/// version (bits 76-79, 1 to 8 for every UUID the API server makes), so it
/// never equals a parsed one. Called per validation and per connection at
/// each scrape: it allocates nothing.
pub fn key(uid: &str) -> Key {
    let mut k: u128 = 0;
    let mut digits = 0;
    for c in uid.chars().filter(|c| *c != '-') {
        match c.to_digit(16) {
            Some(d) if digits < 32 => {
                k = k << 4 | u128::from(d);
                digits += 1;
            }
            _ => {
                digits = 0;
                break;
            }
        }
    }
    if digits == 32 {
        return k;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut h);
    (1u128 << 127) | (1 << 126) | u128::from(h.finish())
}

impl Freshness {
    /// A validation finished at `at`; `ok` if it found the connection working.
    pub fn note(&self, uid: &str, at: Timestamp, ok: bool) {
        let now = at.as_second();
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seen = m.entry(key(uid)).or_default();
        seen.validated = now;
        if ok {
            seen.succeeded = Some(now);
        }
    }

    /// Unix seconds of the last validation that found it working, since
    /// this process started.
    pub fn last_success(&self, uid: &str) -> Option<i64> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&key(uid)).and_then(|s| s.succeeded)
    }

    /// Unix seconds of the last validation, since this process started.
    pub fn last_validation(&self, uid: &str) -> Option<i64> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&key(uid)).map(|s| s.validated)
    }

    /// Forget objects for which `live` is false (deleted); `live` gets
    /// [`key`]s.
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|k, _| live(*k));
        m.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn success_is_kept_through_later_failures() {
        let f = Freshness::default();
        let uid = "0b8c5a63-2f6e-4d36-9a1c-6c3f1e1d2a7b";
        assert_eq!(f.last_success(uid), None);
        f.note(uid, at(100), true);
        f.note(uid, at(200), false);
        assert_eq!(f.last_success(uid), Some(100));
        assert_eq!(f.last_validation(uid), Some(200));
        f.note(uid, at(300), true);
        assert_eq!(f.last_success(uid), Some(300));
    }

    #[test]
    fn keys_are_compact_and_distinct_and_pruned() {
        let a = "0b8c5a63-2f6e-4d36-9a1c-6c3f1e1d2a7b";
        let b = "0B8C5A63-2F6E-4D36-9A1C-6C3F1E1D2A7C";
        assert_eq!(key(a), 0x0b8c5a632f6e4d369a1c6c3f1e1d2a7b);
        assert_ne!(key(a), key(b));
        assert_ne!(key("not-a-uuid"), key("not-a-uuid-either"));
        assert!(key("not-a-uuid") >> 126 == 0b11);
        // 33 hex digits, or 31: not a UUID, hashed.
        assert!(key("0b8c5a63-2f6e-4d36-9a1c-6c3f1e1d2a7b0") >> 126 == 0b11);
        assert!(key("0b8c5a63-2f6e-4d36-9a1c-6c3f1e1d2a7") >> 126 == 0b11);
        let f = Freshness::default();
        for uid in [a, b, "not-a-uuid"] {
            f.note(uid, at(1), true);
        }
        assert_eq!(f.len(), 3);
        f.retain(|k| k == key(b));
        assert_eq!(f.len(), 1);
        assert_eq!(f.last_success(b), Some(1));
        assert_eq!(f.last_success(a), None);
    }
}
