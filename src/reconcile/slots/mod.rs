//! Fairness between tenants and between stores, and no idle probe slot
//! while work waits.
//!
//! `total` validations probe endpoints at once. Nobody is capped while
//! alone: one namespace validating against one store may use every slot.
//! When several want slots, a freed slot goes to the waiter whose namespace
//! and endpoint (its host and port) hold the fewest slots for their fair
//! share (`total` over the namespaces, or the endpoints, with validations
//! running or waiting), first come first served among equals.
//!
//! A validation cannot be stopped half-way (it may have written a probe
//! object), and one that hangs holds its slot until its deadline. So that
//! whoever came first cannot keep the others out until then, a validation
//! whose namespace *and* endpoint both hold less than their fair share
//! starts at once even when all `total` slots are taken, in up to `total`
//! slots beyond them: at most `2 × total` run at once, and only while
//! others hold more than their share.
//!
//! At most `queue` validations of one namespace, and `total` in all, wait
//! in line; a reconcile beyond that does not wait (it would hold one of the
//! controller's own slots): it is requeued shortly. A slot is given back as
//! soon as the probes are done: the status write and the event that follow
//! do not keep the next validation from starting (the controller runs
//! [`Slots::controller_concurrency`] reconciles at once for that).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The probe slots, and who holds and waits for them.
#[derive(Debug)]
pub struct Slots {
    total: usize,
    queue: usize,
    state: Arc<Mutex<State>>,
}

/// Who runs and who waits.
#[derive(Debug, Default)]
struct State {
    /// Validations probing now.
    running: usize,
    /// Namespaces with validations running or waiting.
    namespaces: HashMap<String, Group>,
    /// Endpoints with validations running or waiting.
    endpoints: HashMap<String, Group>,
    /// Waiters by their number: first come, first in this map.
    waiting: BTreeMap<u64, Waiter>,
    next: u64,
}

/// A namespace's or an endpoint's validations.
#[derive(Debug, Default)]
struct Group {
    running: usize,
    waiting: usize,
}

#[derive(Debug)]
struct Waiter {
    namespace: String,
    endpoint: String,
    granted: oneshot::Sender<()>,
}

/// A validation's place in line (or its slot, when it was given one at
/// once); counted until dropped.
#[derive(Debug)]
pub struct Place {
    ticket: Ticket,
    granted: oneshot::Receiver<()>,
}

/// A probe slot; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    _ticket: Ticket,
}

/// One validation's claim: waiting, then running; released when dropped.
#[derive(Debug)]
struct Ticket {
    id: u64,
    namespace: String,
    endpoint: String,
    slots: Arc<Mutex<State>>,
    total: usize,
}

impl Slots {
    /// `total` validations at once (more only for those below their fair
    /// share, see the module docs); at most `queue` of one namespace wait.
    pub fn new(total: usize, queue: usize) -> Self {
        let total = total.max(1);
        Self {
            total,
            queue: queue.clamp(1, total),
            state: Arc::default(),
        }
    }

    /// Reconciles the controller runs at once: every probe slot busy (up to
    /// `2 × total`), `total` waiting, and as many again writing status or
    /// being put back, so a newcomer always finds a reconcile slot.
    pub fn controller_concurrency(&self) -> u16 {
        u16::try_from(self.total * 4).unwrap_or(u16::MAX)
    }

    /// A place in line for a validation in `namespace` against `endpoint`
    /// (given a slot at once when the rules allow), unless it would have to
    /// wait and the line is full: the namespace's `queue`, or `total` in
    /// all.
    pub fn place(&self, namespace: &str, endpoint: &str) -> Option<Place> {
        let mut state = lock(&self.state);
        let (tx, rx) = oneshot::channel();
        let id = state.next;
        state.next += 1;
        state.waiting.insert(
            id,
            Waiter {
                namespace: namespace.to_string(),
                endpoint: endpoint.to_string(),
                granted: tx,
            },
        );
        group(&mut state.namespaces, namespace).waiting += 1;
        group(&mut state.endpoints, endpoint).waiting += 1;
        state.dispatch(self.total);
        let ticket = Ticket {
            id,
            namespace: namespace.to_string(),
            endpoint: endpoint.to_string(),
            slots: self.state.clone(),
            total: self.total,
        };
        if state.waiting.contains_key(&id) {
            let line = state.waiting.len() - 1;
            let mine = state.namespaces.get(namespace).map_or(0, |g| g.waiting) - 1;
            if line >= self.total || mine >= self.queue {
                drop(state);
                // The ticket's drop takes it out of line.
                drop(ticket);
                return None;
            }
        }
        Some(Place {
            ticket,
            granted: rx,
        })
    }

    /// Wait until the place is given a slot.
    pub async fn slot(&self, place: Place) -> Slot {
        let Place { ticket, granted } = place;
        // The sender lives in the line until it is used: an error would
        // mean the waiter was dropped from the line, which only its own
        // ticket does.
        let _ = granted.await;
        Slot { _ticket: ticket }
    }

    /// Validations probing now.
    pub fn running(&self) -> usize {
        lock(&self.state).running
    }
}

impl State {
    /// Give slots to waiters while the rules allow.
    fn dispatch(&mut self, total: usize) {
        while let Some(id) = self.next_to_run(total) {
            let Some(w) = self.waiting.remove(&id) else {
                return;
            };
            self.running += 1;
            for (groups, key) in [
                (&mut self.namespaces, &w.namespace),
                (&mut self.endpoints, &w.endpoint),
            ] {
                let g = group(groups, key);
                g.waiting -= 1;
                g.running += 1;
            }
            // A receiver dropped meanwhile: its ticket gives the slot back.
            let _ = w.granted.send(());
        }
    }

    /// The waiter to run next, if one may run now.
    fn next_to_run(&self, total: usize) -> Option<u64> {
        if self.running >= 2 * total {
            return None;
        }
        let beyond = self.running >= total;
        // The fewest slots for its share (its running times the number of
        // groups sharing), of its namespace and its endpoint, whichever is
        // more; the first come among equals.
        let load = |groups: &HashMap<String, Group>, key: &str| {
            groups.get(key).map_or(0, |g| g.running) * groups.len()
        };
        self.waiting
            .iter()
            .map(|(id, w)| {
                let ns = load(&self.namespaces, &w.namespace);
                let ep = load(&self.endpoints, &w.endpoint);
                (ns.max(ep), *id, ns < total && ep < total)
            })
            .filter(|(_, _, below_share)| !beyond || *below_share)
            .min_by_key(|(load, id, _)| (*load, *id))
            .map(|(_, id, _)| id)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut guard = lock(&self.slots);
        let state = &mut *guard;
        let was_waiting = state.waiting.remove(&self.id).is_some();
        for (groups, key) in [
            (&mut state.namespaces, &self.namespace),
            (&mut state.endpoints, &self.endpoint),
        ] {
            if let Some(g) = groups.get_mut(key.as_str()) {
                if was_waiting {
                    g.waiting = g.waiting.saturating_sub(1);
                } else {
                    g.running = g.running.saturating_sub(1);
                }
                if g.running == 0 && g.waiting == 0 {
                    groups.remove(key.as_str());
                }
            }
        }
        if !was_waiting {
            state.running = state.running.saturating_sub(1);
        }
        state.dispatch(self.total);
    }
}

fn group<'a>(groups: &'a mut HashMap<String, Group>, key: &str) -> &'a mut Group {
    groups.entry(key.to_string()).or_default()
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The endpoint a connection's validation probes, as the key it is shared
/// fairly by: the host and port of `spec.endpoint` (scheme and path
/// dropped, lower case), or AWS's endpoint of `region`. At most 256 bytes.
pub fn endpoint_key(endpoint: Option<&str>, region: &str) -> String {
    let key = match endpoint {
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // Credentials in the authority are not part of the store's name.
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            host.to_ascii_lowercase()
        }
        None => format!("s3.{region}.amazonaws.com"),
    };
    let mut cut = key.len().min(256);
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    key[..cut].to_string()
}
