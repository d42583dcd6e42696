//! Which S3Connection watch events are worth a reconcile: those that
//! change what makes a connection worth validating again (its generation,
//! a requested-at value, its deletion starting), not the operator's own
//! status and finalizer writes. A connection seen for the first time (all
//! of them at a start) is told apart ([`Sight::First`]): its first look is
//! paced by [`super::wakeups`], not left to kube's scheduler.
//!
//! Kept as a hash per connection UID ([`PerUid`]): kube's
//! `predicate_filter` kept a key of three Strings per object (about 0.2 KiB
//! each), and counted an entry not refreshed for an hour as changed, so a
//! connection quiet for an hour was validated again on the next write of
//! its status.

use std::hash::{Hash, Hasher};

use super::per_uid::{Key, PerUid, key};
use crate::crd::S3Connection;

/// What makes a connection worth reconciling again when it changes: its
/// generation (the spec), a new value of a requested-at annotation, or its
/// deletion (see [`super::finalizer`]). Not its status or its finalizers.
fn spec_or_request(c: &S3Connection) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.metadata.generation.hash(&mut h);
    super::requested_at(c).hash(&mut h);
    c.metadata.deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}

/// What a watch event shows of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Not seen before by this process.
    First,
    /// Changed in its generation, a requested-at value or its deletion (or
    /// without a UID).
    Changed,
    /// Nothing worth a reconcile: a status write, say.
    Same,
}

/// What was last seen of each connection: a hash of its generation,
/// requested-at value and deletion.
#[derive(Default)]
pub struct Triggers(PerUid<u64>);

impl Triggers {
    /// What `c`, just seen by the watch, shows.
    pub fn sight(&self, c: &S3Connection) -> Sight {
        let Some(uid) = c.metadata.uid.as_deref() else {
            return Sight::Changed;
        };
        let h = spec_or_request(c);
        match self.0.map().insert(key(uid), h) {
            None => Sight::First,
            Some(was) if was != h => Sight::Changed,
            Some(_) => Sight::Same,
        }
    }

    /// Forget connections whose UID [`Key`] `live` says is gone.
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        self.0.retain(live);
    }
}

#[cfg(test)]
mod tests;
