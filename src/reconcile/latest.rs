//! The newest `resourceVersion` this process knows of each connection: the
//! one its own last status write produced, or its own last read.
//!
//! kube's cache learns of the operator's own status writes through the
//! watch, a moment after they are made. A reconcile that starts in that
//! moment (a Secret's or ServiceAccount's event right after a validation, a
//! retry) would see the status from before the write and compute the next
//! status from it: a transient problem then erased what the previous
//! validation had just proved. So a reconcile whose cached copy is not the
//! newest version known here reads the object first
//! ([`super::reconcile`]), and every status write carries the version it
//! was computed from as a precondition ([`crate::status::write::apply`]).
//!
//! Versions are compared for equality only: Kubernetes defines no order on
//! them. One entry per connection this process wrote or read, dropped with
//! the connection ([`Latest::retain`]).

use std::hash::{Hash, Hasher};

use super::per_uid::{Key, PerUid, key};

/// The newest resourceVersion known, per connection uid.
#[derive(Default)]
pub struct Latest(PerUid<u64>);

/// A resourceVersion by its hash: 8 bytes, whatever the API server's format.
fn digest(resource_version: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    resource_version.hash(&mut h);
    h.finish()
}

impl Latest {
    /// `resource_version` of object `uid` is the newest this process knows.
    pub fn note(&self, uid: &str, resource_version: &str) {
        let mut m = self.0.map();
        m.insert(key(uid), digest(resource_version));
    }

    /// Whether a cached copy at `resource_version` may be used as it is:
    /// this process knows of no other version of `uid` (it never wrote or
    /// read it), or the newest it knows is this one.
    pub fn is_current(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let m = self.0.map();
        match (m.get(&key(uid)), resource_version) {
            (None, _) => true,
            (Some(known), Some(rv)) => *known == digest(rv),
            (Some(_), None) => false,
        }
    }

    /// Keep only the entries of live objects.
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

    const UID: &str = "6f1d2c3b-0a9e-4c8d-8b7a-1234567890ab";

    #[test]
    fn a_copy_is_current_until_a_newer_version_is_known() {
        let l = Latest::default();
        assert!(l.is_current(UID, Some("10")), "nothing known yet");
        assert!(l.is_current(UID, None), "nothing known yet");
        l.note(UID, "11");
        assert!(!l.is_current(UID, Some("10")), "the cache is behind");
        assert!(!l.is_current(UID, None));
        assert!(l.is_current(UID, Some("11")));
        l.note(UID, "12");
        assert!(!l.is_current(UID, Some("11")));
        assert!(l.is_current("another-uid", Some("1")));
    }

    #[test]
    fn entries_of_deleted_objects_go() {
        let l = Latest::default();
        l.note(UID, "1");
        l.note("other", "2");
        let keep = key(UID);
        l.retain(|k| k == keep);
        assert_eq!(l.len(), 1);
        assert!(!l.is_current(UID, Some("0")));
        assert!(l.is_current("other", Some("0")), "forgotten");
    }
}
