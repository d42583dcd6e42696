//! When to look at each connection again. Reconcile says "again in `d`"
//! here ([`Wakeups::after`]) and returns `Action::await_change()`; each
//! controller takes the connections that are due from the stream of its
//! scope ([`Wakeups::open`], `Controller::reconcile_on`).
//!
//! kube's own scheduler keeps, for every object waiting for its next
//! turn, two copies of the request (four strings each) and a slot of its
//! timer wheel: about 0.5 KiB per connection, the largest per-connection
//! cost after the cache itself. Here a connection waiting costs one entry:
//! its UID's [`Key`], the time, its namespace (shared by every connection
//! of that namespace) and its name. Triggers from watches still go
//! through kube's scheduler, and leave it once they have run.
//!
//! Connections are handed to the controller at most `limit` at a time
//! ([`Wakeups::open`]): one handed out counts until a reconcile of it ends
//! ([`Wakeups::turn`]), or for [`OUT_FOR`] at most (it was deleted before
//! its turn, say). kube's scheduler never gives back the capacity of its
//! tables: a start with 100,000 connections all due at once would keep
//! three tables of 100,000 requests (some 60 MiB) for the life of the
//! process. So the first validations of a start come through here too
//! (see [`super::triggers`]), paced.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{Stream, StreamExt, stream};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::per_uid::{Key, key};
use crate::crd::S3Connection;

/// At most this many due connections are handed to the controller at
/// once; the rest follow at once after.
const BATCH: usize = 512;

/// A connection handed to the controller counts against the limit until
/// a reconcile of it ends, or this long at most.
pub const OUT_FOR: Duration = Duration::from_secs(60);

/// One connection waiting.
struct Entry {
    /// Milliseconds after the queue's origin.
    at: u64,
    namespace: Arc<str>,
    name: Box<str>,
}

/// The connections one controller is to look at again, by time.
struct Queue {
    /// The scope of the controller (`None`: all namespaces).
    scope: Option<String>,
    state: Mutex<State>,
    /// Woken when an entry is due earlier than every entry before it.
    wake: Notify,
}

struct State {
    origin: Instant,
    order: BTreeSet<(u64, Key)>,
    entries: HashMap<Key, Entry>,
    /// Each namespace once.
    namespaces: HashSet<Arc<str>>,
    /// Handed to the controller, its reconcile not ended yet: when (ms).
    out: HashMap<Key, u64>,
    /// At most this many out at once.
    limit: usize,
}

impl Queue {
    fn new(scope: Option<String>, limit: usize) -> Self {
        Self {
            scope,
            state: Mutex::new(State {
                origin: Instant::now(),
                order: BTreeSet::new(),
                entries: HashMap::new(),
                namespaces: HashSet::new(),
                out: HashMap::new(),
                limit: limit.max(1),
            }),
            wake: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Look at `namespace`/`name` (UID key `k`) again `after` from now;
    /// this replaces any earlier request for it.
    fn put(&self, namespace: &str, name: &str, k: Key, after: Duration) {
        let mut s = self.state();
        let at = s
            .millis(Instant::now())
            .saturating_add(after.as_millis() as u64);
        let first = s.order.first().map(|(t, _)| *t);
        let namespace = match s.namespaces.get(namespace) {
            Some(ns) => ns.clone(),
            None => {
                let ns: Arc<str> = Arc::from(namespace);
                s.namespaces.insert(ns.clone());
                ns
            }
        };
        let entry = Entry {
            at,
            namespace,
            name: Box::from(name),
        };
        if let Some(old) = s.entries.insert(k, entry) {
            s.order.remove(&(old.at, k));
        }
        s.order.insert((at, k));
        drop(s);
        if first.is_none_or(|t| at < t) {
            self.wake.notify_one();
        }
    }

    /// The entries due at `now` (at most [`BATCH`], and no more than the
    /// limit leaves room for), and when to look again: when the next is
    /// due or, with no room, when the oldest one out stops counting
    /// ([`OUT_FOR`]; a reconcile ending wakes the stream earlier).
    fn take_due(&self, now: Instant) -> (Vec<ObjectRef<S3Connection>>, Option<Instant>) {
        let mut s = self.state();
        let now = s.millis(now);
        let out_for = OUT_FOR.as_millis() as u64;
        s.out.retain(|_, at| now.saturating_sub(*at) < out_for);
        let mut due = vec![];
        while due.len() < BATCH && s.out.len() < s.limit {
            let Some(&(at, k)) = s.order.first() else {
                break;
            };
            if at > now {
                break;
            }
            s.order.pop_first();
            if let Some(e) = s.entries.remove(&k) {
                due.push(ObjectRef::new(&e.name).within(&e.namespace));
                s.out.insert(k, now);
            }
        }
        let next_due = s.order.first().map(|(at, _)| *at);
        let next = if s.out.len() >= s.limit {
            let freed = s.out.values().min().map(|at| at + out_for);
            next_due.max(freed)
        } else {
            next_due
        };
        let next = next.map(|at| s.origin + Duration::from_millis(at));
        (due, next)
    }

    /// Forget `k`: waiting or out.
    fn forget(&self, k: Key) {
        let mut s = self.state();
        if let Some(e) = s.entries.remove(&k) {
            s.order.remove(&(e.at, k));
        }
        if s.out.remove(&k).is_some() {
            drop(s);
            self.wake.notify_one();
        }
    }

    /// A reconcile of `k` ended: if it was out, it counts no more.
    fn done(&self, k: Key) {
        if self.state().out.remove(&k).is_some() {
            self.wake.notify_one();
        }
    }

    /// Forget connections for which `live` is false, and namespaces no
    /// entry names any more.
    fn retain(&self, live: &impl Fn(Key) -> bool) {
        let mut s = self.state();
        s.entries.retain(|k, _| live(*k));
        let State {
            order,
            entries,
            namespaces,
            out,
            ..
        } = &mut *s;
        order.retain(|(_, k)| entries.contains_key(k));
        out.retain(|k, _| live(*k));
        namespaces.clear();
        namespaces.extend(entries.values().map(|e| e.namespace.clone()));
        entries.shrink_to_fit();
        namespaces.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.state().entries.len()
    }
}

impl State {
    fn millis(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_millis() as u64
    }
}

/// The connections waiting for their next look, for every controller of
/// this process.
#[derive(Default)]
pub struct Wakeups(Mutex<Vec<Arc<Queue>>>);

impl Wakeups {
    fn queues(&self) -> MutexGuard<'_, Vec<Arc<Queue>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `f` on every controller's queue (outside the lock of the list).
    fn each(&self, f: impl Fn(&Queue)) {
        let queues: Vec<_> = self.queues().clone();
        for q in queues {
            f(&q);
        }
    }

    /// A controller for `scope` (a namespace, or `None`: all) starts:
    /// the stream of its connections as they fall due, at most `limit`
    /// of them out at once. What an earlier controller of that scope left
    /// waiting is dropped: the new one validates every connection of its
    /// first list.
    pub fn open(
        &self,
        scope: Option<String>,
        limit: usize,
    ) -> impl Stream<Item = ObjectRef<S3Connection>> + Send + 'static {
        let q = Arc::new(Queue::new(scope, limit));
        {
            let mut queues = self.queues();
            queues.retain(|old| old.scope != q.scope);
            queues.push(q.clone());
        }
        stream::unfold(q, |q| async move {
            loop {
                let (due, next) = q.take_due(Instant::now());
                if !due.is_empty() {
                    return Some((stream::iter(due), q));
                }
                match next {
                    Some(at) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = q.wake.notified() => {}
                        }
                    }
                    None => q.wake.notified().await,
                }
            }
        })
        .flatten()
    }

    /// Look at `conn` again `after` from now (replacing any earlier
    /// request for it). Without a controller for its namespace, nothing.
    pub fn after(&self, conn: &S3Connection, after: Duration) {
        let (Some(ns), Some(name), Some(uid)) = (
            conn.metadata.namespace.as_deref(),
            conn.metadata.name.as_deref(),
            conn.metadata.uid.as_deref(),
        ) else {
            return;
        };
        let queue = {
            let queues = self.queues();
            queues
                .iter()
                .find(|q| q.scope.as_deref() == Some(ns))
                .or_else(|| queues.iter().find(|q| q.scope.is_none()))
                .cloned()
        };
        if let Some(q) = queue {
            q.put(ns, name, key(uid), after);
        }
    }

    /// A reconcile of the connection with UID `uid` runs: while the
    /// guard lives. When it ends the connection no longer counts against
    /// the limit of its controller.
    pub fn turn(&self, uid: &str) -> Turn<'_> {
        Turn {
            wakeups: self,
            key: key(uid),
        }
    }

    /// The connection with UID `uid` is gone (deleted, or no longer of
    /// this shard): nothing is kept for it, and it no longer counts
    /// against a limit.
    pub fn forget(&self, uid: &str) {
        let k = key(uid);
        self.each(|q| q.forget(k));
    }

    /// Forget connections whose UID [`Key`] `live` says is gone.
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        self.each(|q| q.retain(&live));
    }

    /// How long until the connection with UID `uid` is due, if it waits.
    pub fn due_in(&self, uid: &str) -> Option<Duration> {
        let k = key(uid);
        self.queues().iter().find_map(|q| {
            let s = q.state();
            let at = s.entries.get(&k)?.at;
            Some(Duration::from_millis(
                at.saturating_sub(s.millis(Instant::now())),
            ))
        })
    }

    /// How many connections are waiting.
    pub fn len(&self) -> usize {
        self.queues().iter().map(|q| q.len()).sum()
    }

    /// Whether no connection is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A reconcile running ([`Wakeups::turn`]).
pub struct Turn<'a> {
    wakeups: &'a Wakeups,
    key: Key,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.wakeups.each(|q| q.done(self.key));
    }
}

#[cfg(test)]
mod tests;
