//! When each connection was last validated, and last found working: kept
//! in memory, not in status, so that a re-validation that finds what the
//! previous one found writes nothing (10,000 connections validated every
//! 10 minutes would otherwise be 17 status writes a second, each one a
//! watch event for every client of the API server). The metrics serve it
//! (`s3connection_last_success_timestamp_seconds`), which is what the
//! staleness alert needs; the status says since when a connection has been
//! Ready or not (the conditions' `lastTransitionTime`). With them, the S3
//! requests of the last validation by price class, which the cost metrics
//! serve (`s3connection_estimated_monthly_cost_dollars`).

use jiff::Timestamp;

use super::per_uid::{Key, PerUid, key};
use crate::cost::ByClass;

/// Unix seconds of the last validation and the last success, and the S3
/// requests of the last validation, per object UID.
#[derive(Default)]
pub struct Freshness(PerUid<Seen>);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Seen {
    validated: i64,
    succeeded: Option<i64>,
    requests: Option<ByClass>,
}

impl Freshness {
    /// A validation finished at `at`; `ok` if it found the connection working.
    pub fn note(&self, uid: &str, at: Timestamp, ok: bool) {
        let now = at.as_second();
        let mut m = self.0.map();
        let seen = m.entry(key(uid)).or_default();
        seen.validated = now;
        if ok {
            seen.succeeded = Some(now);
        }
    }

    /// The last validation sent `s3` requests to S3.
    pub fn note_requests(&self, uid: &str, s3: ByClass) {
        self.0.map().entry(key(uid)).or_default().requests = Some(s3);
    }

    /// The S3 requests of the last validation, since this process started.
    pub fn requests(&self, uid: &str) -> Option<ByClass> {
        self.0.map().get(&key(uid)).and_then(|s| s.requests)
    }

    /// Unix seconds of the last validation that found it working, since
    /// this process started.
    pub fn last_success(&self, uid: &str) -> Option<i64> {
        let m = self.0.map();
        m.get(&key(uid)).and_then(|s| s.succeeded)
    }

    /// Unix seconds of the last validation, since this process started.
    pub fn last_validation(&self, uid: &str) -> Option<i64> {
        let m = self.0.map();
        m.get(&key(uid)).map(|s| s.validated)
    }

    /// Forget objects for which `live` is false (deleted).
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        self.0.retain(live);
    }

    /// How many connections are known.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no connection is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        assert_eq!(f.requests(uid), None);
        f.note_requests(uid, ByClass([2, 2, 1]));
        f.note_requests(uid, ByClass([2, 3, 1]));
        assert_eq!(f.requests(uid), Some(ByClass([2, 3, 1])));
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
