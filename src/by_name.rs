//! [`ByName`]: a value per namespaced object, by namespace and name, for the
//! indexes the metadata watches keep of every Secret and ServiceAccount in
//! scope (100,000 Secrets and more). Each namespace's text is kept once,
//! and each name once, in a box of its length: a key of two Strings took
//! about 100 bytes per object more.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::ObjectMeta;

/// An object's namespace (`""` for none) and name: its key in a
/// [`ByName`].
pub fn name_of(m: &ObjectMeta) -> Option<(&str, &str)> {
    Some((
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref()?,
    ))
}

/// A value per object, by namespace (`""` for none) and name.
#[derive(Debug)]
pub struct ByName<V> {
    namespaces: HashMap<Arc<str>, HashMap<Box<str>, V>>,
}

impl<V> Default for ByName<V> {
    fn default() -> Self {
        Self {
            namespaces: HashMap::new(),
        }
    }
}

impl<V> ByName<V> {
    /// The value of `ns/name`.
    pub fn get(&self, ns: &str, name: &str) -> Option<&V> {
        self.namespaces.get(ns)?.get(name)
    }

    /// Set the value of `ns/name`; the one it had.
    pub fn insert(&mut self, ns: &str, name: &str, value: V) -> Option<V> {
        match self.namespaces.get_mut(ns) {
            Some(names) => names.insert(name.into(), value),
            None => {
                let names = HashMap::from([(Box::from(name), value)]);
                self.namespaces.insert(Arc::from(ns), names);
                None
            }
        }
    }

    /// Forget `ns/name`; the value it had.
    pub fn remove(&mut self, ns: &str, name: &str) -> Option<V> {
        let names = self.namespaces.get_mut(ns)?;
        let old = names.remove(name);
        if names.is_empty() {
            self.namespaces.remove(ns);
        }
        old
    }

    /// Keep the objects for which `keep(ns, name, value)` is true; the
    /// tables then give back what they no longer need.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str, &mut V) -> bool) {
        self.namespaces.retain(|ns, names| {
            names.retain(|name, v| keep(ns, name, v));
            names.shrink_to_fit();
            !names.is_empty()
        });
        self.namespaces.shrink_to_fit();
    }

    /// How many objects have a value.
    pub fn len(&self) -> usize {
        self.namespaces.values().map(HashMap::len).sum()
    }

    /// Whether no object has a value.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_namespace_and_name() {
        let mut m = ByName::default();
        assert!(m.is_empty());
        assert_eq!(m.insert("a", "x", 1), None);
        assert_eq!(m.insert("a", "y", 2), None);
        assert_eq!(m.insert("", "x", 3), None);
        assert_eq!(m.insert("a", "x", 4), Some(1));
        assert_eq!(
            (m.get("a", "x"), m.get("", "x"), m.get("b", "x")),
            (Some(&4), Some(&3), None)
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m.remove("a", "x"), Some(4));
        assert_eq!(m.remove("a", "x"), None);
        assert_eq!(m.remove("a", "y"), Some(2));
        // The namespace went with its last object.
        assert_eq!(m.namespaces.len(), 1);
        m.retain(|ns, name, v| {
            assert_eq!((ns, name, *v), ("", "x", 3));
            false
        });
        assert!(m.is_empty() && m.get("", "x").is_none());
    }
}
