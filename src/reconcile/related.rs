//! What the Secret and ServiceAccount watches tell the controller: which
//! objects changed, so that the connections naming them are validated again.
//!
//! A Secret or ServiceAccount event re-validates the connections naming
//! it. The events of a watch's first list would do so for every connection
//! right after a start, when every connection is already being validated
//! for the S3Connection watch's own first list: each connection was
//! validated twice after every restart, upgrade and leader change. So the
//! first list triggers nothing ([`changes`]), and validations wait until
//! every such list is complete ([`RelatedWatches::wait`]): whatever a first
//! list showed, a validation then reads at that version or newer.
//!
//! After that, an object triggers when it is seen with a `resourceVersion`
//! not seen before, and when it is deleted. A watch that was down (the API
//! server restarted, say) lists again, and a list shows no deletions: an
//! object deleted meanwhile is simply not in it. So each watch keeps the
//! version of every object it has seen ([`Seen`]; the one set it holds, a
//! key and a hash per object), and at the end of a relist the objects it
//! did not show count as deleted.

use std::marker::PhantomData;
use std::time::Duration;

use futures::{Stream, StreamExt, stream};
use kube::api::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::by_name::{ByName, name_of};
use crate::credentials::versions::{Version, version_of};

/// How many Secret and ServiceAccount watches have yet to complete their
/// first list. Zero (nothing to wait for) unless [`RelatedWatches::expect`]
/// said otherwise.
pub struct RelatedWatches(watch::Sender<usize>);

impl Default for RelatedWatches {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl RelatedWatches {
    /// `n` more watches are starting.
    pub fn expect(&self, n: usize) {
        self.0.send_modify(|left| *left += n);
    }

    /// One watch completed its first list.
    pub fn listed(&self) {
        self.0.send_modify(|left| *left = left.saturating_sub(1));
    }

    /// Wait until every watch completed its first list, for at most
    /// `bound`: a watch that cannot list (say, RBAC forbids it; its errors
    /// are logged and counted where it runs) must not stop validations.
    pub async fn wait(&self, bound: Duration) {
        let mut rx = self.0.subscribe();
        if *rx.borrow() == 0 {
            return;
        }
        if tokio::time::timeout(bound, rx.wait_for(|left| *left == 0))
            .await
            .is_err()
        {
            warn!(
                waited_s = bound.as_secs(),
                "Secret or ServiceAccount watch has not listed yet; validating without waiting for it"
            );
        }
    }
}

fn version(m: &ObjectMeta) -> Version {
    version_of(m.resource_version.as_deref().unwrap_or_default())
}

/// What one watch has seen: each object's version, and which list last
/// showed it. Pure; [`changes`] feeds it.
pub struct Seen<K> {
    /// By object: a hash of its `resourceVersion`, and the list (or, for
    /// later events, the list before them) it was last seen in.
    versions: ByName<(Version, u32)>,
    /// The list in progress or last completed.
    list: u32,
    /// Whether the first list is complete.
    first_done: bool,
    _kind: PhantomData<fn(K)>,
}

impl<K> Default for Seen<K> {
    fn default() -> Self {
        Self {
            versions: ByName::default(),
            list: 0,
            first_done: false,
            _kind: PhantomData,
        }
    }
}

impl<K> Seen<K> {
    /// Take one event; the objects whose connections to validate again.
    pub fn observe(&mut self, event: Event<PartialObjectMeta<K>>) -> Vec<PartialObjectMeta<K>> {
        match event {
            Event::Apply(o) => self.seen(o).into_iter().collect(),
            Event::InitApply(o) => {
                let changed = self.seen(o);
                if self.first_done {
                    changed.into_iter().collect()
                } else {
                    vec![]
                }
            }
            Event::Delete(o) => {
                if let Some((ns, name)) = name_of(&o.metadata) {
                    self.versions.remove(ns, name);
                }
                vec![o]
            }
            Event::Init => {
                self.list = self.list.wrapping_add(1);
                vec![]
            }
            Event::InitDone => {
                let list = self.list;
                let mut gone = vec![];
                self.versions.retain(|ns, name, (_, seen_in)| {
                    let kept = *seen_in == list;
                    if !kept {
                        gone.push((ns.to_string(), name.to_string()));
                    }
                    kept
                });
                if !std::mem::replace(&mut self.first_done, true) {
                    return vec![];
                }
                gone.into_iter()
                    .map(|(ns, name)| deleted(ns, name))
                    .collect()
            }
        }
    }

    /// `o` was seen (in the current list, or after it): `Some(o)` when its
    /// version is new.
    fn seen(&mut self, o: PartialObjectMeta<K>) -> Option<PartialObjectMeta<K>> {
        let Some((ns, name)) = name_of(&o.metadata) else {
            return Some(o);
        };
        let v = version(&o.metadata);
        let old = self.versions.insert(ns, name, (v, self.list));
        (old.map(|(was, _)| was) != Some(v)).then_some(o)
    }

    /// How many objects are kept.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether no object is kept.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}

/// An object known to be gone, by name: what a connection names it by.
fn deleted<K>(namespace: String, name: String) -> PartialObjectMeta<K> {
    PartialObjectMeta {
        types: None,
        metadata: ObjectMeta {
            name: Some(name),
            namespace: (!namespace.is_empty()).then_some(namespace),
            ..Default::default()
        },
        _phantom: PhantomData,
    }
}

/// The objects of the metadata watch `events` (named `watch` in logs) that
/// changed or went (see [`Seen`]); errors pass. `listed` runs once: at the
/// first list's end, or at the first error before it (a watch that cannot
/// list, for want of RBAC say, must not keep every validation waiting for a
/// list that may never come; validations then read what they need and
/// report the error themselves).
pub fn changes<K>(
    watch: &'static str,
    events: impl Stream<Item = Result<Event<PartialObjectMeta<K>>, watcher::Error>>,
    mut listed: impl FnMut() + Send,
) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> {
    let mut seen = Seen::<K>::default();
    let mut released = false;
    let mut release = move || {
        if !released {
            released = true;
            listed();
        }
    };
    events.flat_map(move |ev| {
        let out: Vec<Result<PartialObjectMeta<K>, watcher::Error>> = match ev {
            Ok(ev) => {
                let relist_done = matches!(ev, Event::InitDone) && seen.first_done;
                let done = matches!(ev, Event::InitDone);
                let objects = seen.observe(ev);
                if done {
                    release();
                }
                if relist_done && !objects.is_empty() {
                    info!(
                        watch,
                        gone = objects.len(),
                        "objects deleted while the watch was down; validating the connections naming them"
                    );
                }
                objects.into_iter().map(Ok).collect()
            }
            Err(e) => {
                release();
                vec![Err(e)]
            }
        };
        stream::iter(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn meta(name: &str, rv: &str) -> PartialObjectMeta<Secret> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            _phantom: PhantomData,
        }
    }

    /// The names `events` trigger, event by event.
    fn triggered(
        seen: &mut Seen<Secret>,
        events: Vec<Event<PartialObjectMeta<Secret>>>,
    ) -> Vec<Vec<String>> {
        events
            .into_iter()
            .map(|ev| {
                let mut names: Vec<String> = seen
                    .observe(ev)
                    .into_iter()
                    .map(|o| o.metadata.name.unwrap_or_default())
                    .collect();
                names.sort();
                names
            })
            .collect()
    }

    #[test]
    fn a_relist_triggers_what_changed_and_what_it_no_longer_shows() {
        let mut seen = Seen::default();
        let first = vec![
            Event::Init,
            Event::InitApply(meta("kept", "1")),
            Event::InitApply(meta("changed", "1")),
            Event::InitApply(meta("gone", "1")),
            Event::InitApply(meta("also-gone", "1")),
            Event::InitDone,
        ];
        let none: Vec<Vec<String>> = vec![vec![]; 6];
        assert_eq!(
            triggered(&mut seen, first),
            none,
            "the first list triggers nothing"
        );
        assert_eq!(seen.len(), 4);

        // While watching: a new version triggers, the same one does not.
        let watching = vec![
            Event::Apply(meta("kept", "1")),
            Event::Apply(meta("new", "2")),
        ];
        assert_eq!(
            triggered(&mut seen, watching),
            [vec![], vec!["new".to_string()]]
        );

        // The watch was down; a relist that fails half-way, then one that
        // completes. "also-gone" was in the failed one only.
        let relist = vec![
            Event::Init,
            Event::InitApply(meta("also-gone", "1")),
            Event::Init,
            Event::InitApply(meta("kept", "1")),
            Event::InitApply(meta("changed", "5")),
            Event::InitApply(meta("new", "2")),
            Event::InitDone,
        ];
        let out = triggered(&mut seen, relist);
        assert_eq!(out[4], ["changed"], "a new version");
        assert!(out[..4].iter().chain(&out[5..6]).all(|o| o.is_empty()));
        assert_eq!(out[6], ["also-gone", "gone"], "not in the relist: deleted");
        assert_eq!(seen.len(), 3, "what is gone is forgotten");

        // A deletion seen as an event triggers, and is forgotten.
        let out = triggered(&mut seen, vec![Event::Delete(meta("kept", "9"))]);
        assert_eq!(out, [["kept"]]);
        assert_eq!(seen.len(), 2);
        // An empty relist: everything left is gone.
        let out = triggered(&mut seen, vec![Event::Init, Event::InitDone]);
        assert_eq!(out[1], ["changed", "new"]);
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn the_first_list_releases_validations_once_and_errors_pass() {
        let events: Vec<Result<Event<PartialObjectMeta<Secret>>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply(meta("a", "1"))),
            Ok(Event::InitDone),
            Ok(Event::Apply(meta("a", "2"))),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitDone),
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let count = listed.clone();
        let out: Vec<_> = changes("secrets", futures::stream::iter(events), move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .map(|r| r.map(|o| o.metadata.resource_version.unwrap_or_default()))
        .collect()
        .await;
        let out: Vec<_> = out.into_iter().map(|r| r.map_err(|_| ())).collect();
        // The new version, the error, and "a" gone at the relist's end (a
        // deleted object is named, without a version).
        assert_eq!(out, [Ok("2".to_string()), Err(()), Ok(String::new())]);
        assert_eq!(listed.load(Ordering::SeqCst), 1, "once, for the first list");
    }

    #[tokio::test]
    async fn a_watch_that_cannot_list_releases_the_validations_once() {
        let events: Vec<Result<Event<PartialObjectMeta<Secret>>, watcher::Error>> = vec![
            Err(watcher::Error::NoResourceVersion),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitApply(meta("a", "1"))),
            Ok(Event::InitDone),
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let count = listed.clone();
        let out: Vec<_> = changes("secrets", futures::stream::iter(events), move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .collect()
        .await;
        assert_eq!(out.len(), 2, "the errors; the first list triggers nothing");
        assert_eq!(listed.load(Ordering::SeqCst), 1, "once, at the first error");
    }

    #[tokio::test(start_paused = true)]
    async fn validations_wait_for_every_first_list_but_not_forever() {
        let w = Arc::new(RelatedWatches::default());
        w.wait(Duration::from_secs(30)).await; // nothing expected
        w.expect(2);
        let waiting = tokio::spawn({
            let w = w.clone();
            async move { w.wait(Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        w.listed();
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one list is still missing");
        w.listed();
        waiting.await.unwrap();

        // A watch that never lists holds validations for the bound only.
        w.expect(1);
        let started = tokio::time::Instant::now();
        w.wait(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
