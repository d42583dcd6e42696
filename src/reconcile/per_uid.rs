//! Small values kept per connection, by the connection's UID: the one map
//! type [`super::Freshness`] and [`super::Latest`] keep theirs in. Entries
//! of deleted connections go with [`PerUid::retain`], which the periodic
//! prune calls with the UIDs still in the cache.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// A UID (a UUID when the API server made it) as 16 bytes rather than a
/// 36-character String; any other UID by its hash.
pub type Key = u128;

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

/// A value per connection UID.
pub struct PerUid<V>(Mutex<HashMap<Key, V>>);

impl<V> Default for PerUid<V> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<V> PerUid<V> {
    /// The map, locked (a panic elsewhere does not poison it for good).
    pub fn map(&self) -> MutexGuard<'_, HashMap<Key, V>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget objects for which `live` is false (deleted); `live` gets
    /// [`key`]s.
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        let mut m = self.map();
        m.retain(|k, _| live(*k));
        m.shrink_to_fit();
    }

    /// How many connections have a value.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no connection has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
