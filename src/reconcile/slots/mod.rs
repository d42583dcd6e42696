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
//! At most `total` validations wait in line, and one namespace alone may
//! take every place: a slot freed is taken at once while anyone waits. A
//! reconcile that finds the line full does not wait (it would hold one of
//! the controller's own slots) unless its namespace, or its endpoint, holds
//! fewer places in line than its fair share (`total` over the namespaces,
//! or endpoints, with validations waiting): it then takes the place of the
//! newest waiter of whoever holds the most places (namespaces and endpoints
//! counted together: the swap must leave the line more even). A connection
//! that lost its place is not bumped again on its next one, so none is
//! bumped every time.
//!
//! Refused and bumped reconciles are requeued for when a place should be
//! free: a full line drains in the time a slot is held (on average,
//! recently); the first put back comes again when it is half drained, the
//! others one place's time (that over `total`) apart, in the order they
//! were put back, between [`MIN_RETRY`] and [`MAX_RETRY`] later. So slots
//! do not sit idle waiting for them, and a crowd put back does not come
//! back all at once.
//!
//! A slot is given back as soon as the probes are done: the status write
//! and the event that follow do not keep the next validation from starting
//! (the controller runs [`Slots::controller_concurrency`] reconciles at
//! once for that).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::per_uid::{self, Key};

/// The soonest a reconcile put back asks again.
pub const MIN_RETRY: Duration = Duration::from_millis(10);
/// The latest a reconcile put back asks again.
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// How long a slot is taken to be held before any was given back.
const FIRST_HOLD: Duration = Duration::from_millis(500);

/// Connections that lost their place remembered per probe slot, until
/// they have a place again (the oldest are forgotten first beyond that).
const BUMPED_PER_SLOT: usize = 64;

/// The probe slots, and who holds and waits for them.
#[derive(Debug)]
pub struct Slots {
    total: usize,
    state: Arc<Mutex<State>>,
}

/// Who runs and who waits.
#[derive(Debug, Default)]
struct State {
    /// Tickets of validations probing now, and since when.
    running: HashMap<u64, Instant>,
    /// How long a slot is held, on average (recent validations weigh most).
    hold: Option<Duration>,
    /// When the next reconcile put back is to come again.
    next_return: Option<Instant>,
    /// Namespaces with validations running or waiting.
    namespaces: HashMap<String, Group>,
    /// Endpoints with validations running or waiting.
    endpoints: HashMap<String, Group>,
    /// Waiters by their number: first come, first in this map.
    waiting: BTreeMap<u64, Waiter>,
    /// Connections that lost their place in line and have not had one
    /// since, with the number of the place they lost.
    bumped: HashMap<Key, u64>,
    /// The same, oldest first (entries of connections that had a place
    /// since are skipped when they come up).
    bumped_order: VecDeque<(Key, u64)>,
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
    connection: Key,
    /// It lost its place last time: not bumped again.
    spared: bool,
    answer: oneshot::Sender<Answer>,
}

/// What a waiter is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A slot is its.
    Slot,
    /// Another took its place in line: come again after this long.
    Bumped(Duration),
}

/// A validation's place in line (or its slot, when it was given one at
/// once); counted until dropped.
#[derive(Debug)]
pub struct Place {
    ticket: Ticket,
    answer: oneshot::Receiver<Answer>,
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
    /// share) and `total` waiting, see the module docs.
    pub fn new(total: usize) -> Self {
        Self {
            total: total.max(1),
            state: Arc::default(),
        }
    }

    /// Reconciles the controller runs at once: every probe slot busy (up to
    /// `2 × total`), `total` waiting, and as many again writing status or
    /// being put back, so a newcomer always finds a reconcile slot.
    pub fn controller_concurrency(&self) -> u16 {
        u16::try_from(self.total * 4).unwrap_or(u16::MAX)
    }

    /// A place in line for a validation of the connection `uid` in
    /// `namespace` against `endpoint` (given a slot at once when the rules
    /// allow), unless it would have to wait, the line is full and it may
    /// not take anyone's place (see the module docs): then how long to
    /// wait before asking again.
    pub fn place(&self, namespace: &str, endpoint: &str, uid: &str) -> Result<Place, Duration> {
        let connection = per_uid::key(uid);
        let mut state = lock(&self.state);
        let (tx, rx) = oneshot::channel();
        let id = state.next;
        state.next += 1;
        let spared = state.bumped.contains_key(&connection);
        state.waiting.insert(
            id,
            Waiter {
                namespace: namespace.to_string(),
                endpoint: endpoint.to_string(),
                connection,
                spared,
                answer: tx,
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
        if state.waiting.len() > self.total && state.waiting.contains_key(&id) {
            let Some(victim) = state.victim(id, self.total) else {
                let retry = state.put_back(self.total, Instant::now());
                drop(state);
                // The ticket's drop takes it out of line.
                drop(ticket);
                return Err(retry);
            };
            state.bump(victim, self.total);
        }
        state.bumped.remove(&connection);
        Ok(Place { ticket, answer: rx })
    }

    /// Wait until the place is given a slot; when another took the place
    /// in line, how long to wait before asking again (see the module docs).
    pub async fn slot(&self, place: Place) -> Result<Slot, Duration> {
        let Place { ticket, answer } = place;
        match answer.await {
            Ok(Answer::Slot) => Ok(Slot { _ticket: ticket }),
            Ok(Answer::Bumped(retry)) => Err(retry),
            // The sender lives in the line until it is used: the waiter was
            // dropped from the line, which only its own ticket does.
            Err(_) => Err(MIN_RETRY),
        }
    }

    /// Validations probing now.
    pub fn running(&self) -> usize {
        lock(&self.state).running.len()
    }
}

impl State {
    /// Give slots to waiters while the rules allow.
    fn dispatch(&mut self, total: usize) {
        while let Some(id) = self.next_to_run(total) {
            let Some(w) = self.waiting.remove(&id) else {
                return;
            };
            self.running.insert(id, Instant::now());
            for (groups, key) in [
                (&mut self.namespaces, &w.namespace),
                (&mut self.endpoints, &w.endpoint),
            ] {
                let g = group(groups, key);
                g.waiting -= 1;
                g.running += 1;
            }
            // A receiver dropped meanwhile: its ticket gives the slot back.
            let _ = w.answer.send(Answer::Slot);
        }
    }

    /// The waiter to run next, if one may run now.
    fn next_to_run(&self, total: usize) -> Option<u64> {
        if self.running.len() >= 2 * total {
            return None;
        }
        let beyond = self.running.len() >= total;
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

    /// Whose place the waiter `id` takes in a full line: none unless its
    /// namespace or its endpoint holds fewer places than its share of the
    /// line. Then the waiter (not spared) whose namespace and endpoint hold
    /// the most places more than the newcomer's, the newest among equals,
    /// if the swap leaves the places more even.
    fn victim(&self, id: u64, total: usize) -> Option<u64> {
        let me = self.waiting.get(&id)?;
        let places =
            |groups: &HashMap<String, Group>, key: &str| groups.get(key).map_or(0, |g| g.waiting);
        let sharing =
            |groups: &HashMap<String, Group>| groups.values().filter(|g| g.waiting > 0).count();
        // Places held besides the newcomer's own.
        let my_ns = places(&self.namespaces, &me.namespace).saturating_sub(1);
        let my_ep = places(&self.endpoints, &me.endpoint).saturating_sub(1);
        if my_ns * sharing(&self.namespaces) >= total && my_ep * sharing(&self.endpoints) >= total {
            return None;
        }
        // How many more places than the newcomer's group the other group
        // holds after the swap (0 for the same group).
        let margin = |groups: &HashMap<String, Group>, theirs: &str, mine: &str, held: usize| {
            if theirs == mine {
                0
            } else {
                places(groups, theirs) as isize - held as isize - 1
            }
        };
        self.waiting
            .iter()
            .filter(|(w_id, w)| **w_id != id && !w.spared)
            .map(|(w_id, w)| {
                let ns = margin(&self.namespaces, &w.namespace, &me.namespace, my_ns);
                let ep = margin(&self.endpoints, &w.endpoint, &me.endpoint, my_ep);
                (ns + ep, *w_id)
            })
            .filter(|(margin, _)| *margin > 0)
            .max()
            .map(|(_, w_id)| w_id)
    }

    /// Take the waiter `id` out of line and tell it so; its connection is
    /// spared next time.
    fn bump(&mut self, id: u64, total: usize) {
        let Some(w) = self.waiting.remove(&id) else {
            return;
        };
        release(&mut self.namespaces, &w.namespace, true);
        release(&mut self.endpoints, &w.endpoint, true);
        let retry = self.put_back(total, Instant::now());
        self.bumped.insert(w.connection, id);
        self.bumped_order.push_back((w.connection, id));
        while self.bumped_order.len() > total * BUMPED_PER_SLOT {
            if let Some((connection, lost)) = self.bumped_order.pop_front()
                && self.bumped.get(&connection) == Some(&lost)
            {
                self.bumped.remove(&connection);
            }
        }
        // A receiver dropped meanwhile: its ticket finds nothing to free.
        let _ = w.answer.send(Answer::Bumped(retry));
    }

    /// How long from `now` a reconcile put back waits: until the line, full
    /// now, is half drained (half the time a slot is held), and one place's
    /// time after the one put back before it.
    fn put_back(&mut self, total: usize, now: Instant) -> Duration {
        let hold = self.hold.unwrap_or(FIRST_HOLD);
        let per_place = hold / u32::try_from(total).unwrap_or(u32::MAX);
        let half_drained = now + hold / 2;
        let at = self
            .next_return
            .map_or(half_drained, |next| next.max(half_drained))
            .min(now + MAX_RETRY);
        self.next_return = Some(at + per_place);
        (at - now).clamp(MIN_RETRY, MAX_RETRY)
    }

    /// A slot taken at `since` was given back.
    fn held(&mut self, since: Instant) {
        let took = since.elapsed();
        self.hold = Some(self.hold.map_or(took, |h| (h * 7 + took) / 8));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut guard = lock(&self.slots);
        let state = &mut *guard;
        let was_waiting = state.waiting.remove(&self.id).is_some();
        let was_running = state.running.remove(&self.id);
        if let Some(since) = was_running {
            state.held(since);
        }
        // Neither waiting nor running: it lost its place, already counted.
        if was_waiting || was_running.is_some() {
            release(&mut state.namespaces, &self.namespace, was_waiting);
            release(&mut state.endpoints, &self.endpoint, was_waiting);
        }
        state.dispatch(self.total);
    }
}

/// One fewer waiting (or running) in the group `key`; a group with none
/// left is forgotten.
fn release(groups: &mut HashMap<String, Group>, key: &str, waiting: bool) {
    if let Some(g) = groups.get_mut(key) {
        if waiting {
            g.waiting = g.waiting.saturating_sub(1);
        } else {
            g.running = g.running.saturating_sub(1);
        }
        if g.running == 0 && g.waiting == 0 {
            groups.remove(key);
        }
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
