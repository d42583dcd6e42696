//! Reading a Secret only when it changed: the metadata-only Secret watch
//! keeps each Secret's `resourceVersion`, and the credentials read from a
//! Secret are kept with the version they were read at. A validation whose
//! Secret still has that version uses them without a GET; any change to the
//! Secret (a new version) means a fresh read. Only Secrets connections name
//! are kept, and an entry goes when its Secret changes or is deleted.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;

use super::Resolved;
use crate::by_name::{ByName, name_of};
use crate::spec::SecretKeys;

/// Which Secret (namespace and [`SecretKeys`]: its name and which of its
/// keys).
type Key = (String, SecretKeys);

fn key(ns: &str, keys: &SecretKeys) -> Key {
    (ns.to_string(), keys.clone())
}

/// A small value per object of one metadata-only watch, by namespace and
/// name: all the watch keeps (a reflector's cache of metadata took about
/// 700 bytes per object).
type Index<V> = ByName<V>;

/// A Secret's `resourceVersion`, as a hash: all a version is used for is
/// telling whether it changed (a String of it took 24 bytes and an
/// allocation per Secret).
pub type Version = u64;

/// The [`Version`] of `resource_version`.
pub fn version_of(resource_version: &str) -> Version {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    resource_version.hash(&mut h);
    h.finish()
}

/// Keeps one watch's index up to date.
pub struct IndexWriter<K, V> {
    index: Arc<RwLock<Index<V>>>,
    /// A relist in progress: it replaces the index when it is complete.
    relist: Option<Index<V>>,
    /// What is kept of an object; `None`: nothing (looked up as unknown).
    value: fn(&ObjectMeta) -> Option<V>,
    _kind: PhantomData<fn(K)>,
}

impl<K, V> IndexWriter<K, V> {
    /// Apply one watch event.
    pub fn apply(&mut self, event: &Event<PartialObjectMeta<K>>) {
        let value = self.value;
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Apply(m) => match (name_of(&m.metadata), value(&m.metadata)) {
                (Some((ns, name)), Some(v)) => {
                    index.insert(ns, name, v);
                }
                // Nothing worth keeping: as good as gone.
                (Some((ns, name)), None) => {
                    index.remove(ns, name);
                }
                (None, _) => {}
            },
            Event::Delete(m) => {
                if let Some((ns, name)) = name_of(&m.metadata) {
                    index.remove(ns, name);
                }
            }
            Event::Init => self.relist = Some(Index::default()),
            Event::InitApply(m) => {
                let into = self.relist.as_mut().unwrap_or(&mut index);
                if let (Some((ns, name)), Some(v)) = (name_of(&m.metadata), value(&m.metadata)) {
                    into.insert(ns, name, v);
                }
            }
            Event::InitDone => {
                if let Some(relist) = self.relist.take() {
                    *index = relist;
                }
            }
        }
    }
}

/// The indexes of every watch of one kind (one watch per watched namespace).
pub struct Indexes<V> {
    watches: RwLock<Vec<Arc<RwLock<Index<V>>>>>,
}

impl<V> Default for Indexes<V> {
    fn default() -> Self {
        Self {
            watches: RwLock::default(),
        }
    }
}

impl<V: Clone> Indexes<V> {
    /// A writer for one more watch, keeping `value` of each object.
    pub fn watch<K>(&self, value: fn(&ObjectMeta) -> Option<V>) -> IndexWriter<K, V> {
        let index = Arc::new(RwLock::new(Index::default()));
        self.watches
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(index.clone());
        IndexWriter {
            index,
            relist: None,
            value,
            _kind: PhantomData,
        }
    }

    /// What the watches last saw of object `ns/name`.
    pub fn get(&self, ns: &str, name: &str) -> Option<V> {
        self.watches
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find_map(|w| {
                w.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(ns, name)
                    .cloned()
            })
    }
}

/// The versions the Secret watches know, and credentials read per version.
#[derive(Default)]
pub struct SecretVersions {
    versions: Indexes<Version>,
    read: Mutex<HashMap<Key, (Version, Resolved)>>,
}

/// Keeps one Secret watch's versions up to date.
pub type VersionWriter = IndexWriter<Secret, Version>;

impl SecretVersions {
    /// A writer for one more Secret watch (one per watched namespace).
    pub fn watch(&self) -> VersionWriter {
        self.versions
            .watch(|m| m.resource_version.as_deref().map(version_of))
    }

    /// The version the watch last saw of Secret `ns/name`.
    pub fn current(&self, ns: &str, name: &str) -> Option<Version> {
        self.versions.get(ns, name)
    }

    /// Credentials read with `keys` from their Secret in `ns` at its current
    /// version, if any.
    pub fn cached(&self, ns: &str, keys: &SecretKeys) -> Option<Resolved> {
        let current = self.current(ns, &keys.secret_name)?;
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let key = key(ns, keys);
        match read.get(&key) {
            Some((version, resolved)) if *version == current => Some(resolved.clone()),
            Some(_) => {
                read.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keep what was read with `keys` in `ns` at `version`.
    pub fn remember(
        &self,
        ns: &str,
        keys: &SecretKeys,
        resource_version: Option<&str>,
        resolved: &Resolved,
    ) {
        let Some(version) = resource_version.map(version_of) else {
            return;
        };
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.insert(key(ns, keys), (version, resolved.clone()));
    }

    /// Drop what was read from Secrets that are gone or changed.
    pub fn prune(&self) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.retain(|(ns, keys), (version, _)| {
            self.current(ns, &keys.secret_name) == Some(*version)
        });
    }

    /// How many Secrets' credentials are kept.
    pub fn len(&self) -> usize {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no credentials are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ns: &str, name: &str, rv: &str) -> PartialObjectMeta<Secret> {
        PartialObjectMeta {
            types: None,
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            _phantom: Default::default(),
        }
    }

    #[test]
    fn credentials_are_reused_only_for_the_version_they_were_read_at() {
        let v = SecretVersions::default();
        let mut writer = v.watch();
        let creds = Resolved::new(
            aws_credential_types::Credentials::new("AKIAX", "secret", None, None, "t"),
            None,
            None,
        );
        let keys = SecretKeys {
            secret_name: "creds".into(),
            access_key_id_key: "id".into(),
            secret_access_key_key: "key".into(),
            session_token_key: None,
        };
        let other_keys = SecretKeys {
            access_key_id_key: "other-id".into(),
            ..keys.clone()
        };
        writer.apply(&Event::Apply(meta("ns", "creds", "1")));
        assert!(v.cached("ns", &keys).is_none(), "never read");
        v.remember("ns", &keys, Some("1"), &creds);
        assert!(v.cached("ns", &keys).is_some());
        assert!(v.cached("other", &keys).is_none());
        assert!(
            v.cached("ns", &other_keys).is_none(),
            "other keys: read them"
        );

        // The Secret changes: read again.
        writer.apply(&Event::Apply(meta("ns", "creds", "2")));
        assert!(v.cached("ns", &keys).is_none());
        assert!(v.is_empty(), "the stale entry went");

        // Read at 2, then deleted: pruned.
        v.remember("ns", &keys, Some("2"), &creds);
        writer.apply(&Event::Delete(meta("ns", "creds", "2")));
        v.prune();
        assert!(v.is_empty());
    }

    #[test]
    fn a_relist_replaces_the_versions_once_complete() {
        let v = SecretVersions::default();
        let mut writer = v.watch();
        writer.apply(&Event::Apply(meta("ns", "kept", "1")));
        writer.apply(&Event::Apply(meta("ns", "gone", "1")));
        writer.apply(&Event::Init);
        writer.apply(&Event::InitApply(meta("ns", "kept", "5")));
        assert_eq!(
            v.current("ns", "gone"),
            Some(version_of("1")),
            "the old versions answer until the relist is complete"
        );
        writer.apply(&Event::InitDone);
        assert_eq!(v.current("ns", "kept"), Some(version_of("5")));
        assert_eq!(v.current("ns", "gone"), None, "deleted during the outage");
        // A second watch (another namespace) is looked up too.
        let mut other = v.watch();
        other.apply(&Event::Apply(meta("team-b", "creds", "7")));
        assert_eq!(v.current("team-b", "creds"), Some(version_of("7")));
        assert_eq!(v.current("ns", "creds"), None);
    }
}
