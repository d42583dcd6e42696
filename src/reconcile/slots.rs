//! Fairness between tenants, and no idle probe slot while work waits.
//!
//! At most `total` validations probe endpoints at once, and at most
//! `per_namespace` of them belong to one namespace, so one namespace whose
//! connections point at an endpoint that never answers cannot take every
//! slot. A namespace also has at most `per_namespace` validations waiting
//! for a slot; a reconcile beyond that does not wait (it would hold one of
//! the controller's own slots): it is requeued shortly. The others wait,
//! first come first served, and a slot is given back as soon as the probes
//! are done: the status write and the event that follow do not keep the
//! next validation from starting (the controller runs
//! [`Slots::controller_concurrency`] reconciles at once for that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The probe slots, and each namespace's share of them.
#[derive(Debug)]
pub struct Slots {
    total: usize,
    per_namespace: usize,
    probes: Arc<Semaphore>,
    namespaces: Arc<Mutex<HashMap<String, Namespace>>>,
}

/// A namespace with validations running or waiting.
#[derive(Debug)]
struct Namespace {
    /// Its share of the probe slots.
    share: Arc<Semaphore>,
    /// Validations running or waiting.
    places: usize,
}

/// A namespace's place in line: counted until dropped.
#[derive(Debug)]
pub struct Place {
    namespace: String,
    share: Arc<Semaphore>,
    namespaces: Arc<Mutex<HashMap<String, Namespace>>>,
}

/// A probe slot (and the place it was taken for); freed when dropped.
#[derive(Debug)]
pub struct Slot {
    // Fields drop in order: the slot is free before the place is.
    _probe: OwnedSemaphorePermit,
    _share: OwnedSemaphorePermit,
    _place: Place,
}

impl Slots {
    /// `total` validations at once, `per_namespace` of one namespace.
    pub fn new(total: usize, per_namespace: usize) -> Self {
        let total = total.max(1);
        Self {
            total,
            per_namespace: per_namespace.clamp(1, total),
            probes: Arc::new(Semaphore::new(total)),
            namespaces: Arc::default(),
        }
    }

    /// Reconciles the controller runs at once: every probe slot busy, and
    /// as many again writing status or waiting for a slot.
    pub fn controller_concurrency(&self) -> u16 {
        u16::try_from(self.total * 2).unwrap_or(u16::MAX)
    }

    /// A place in line for a validation in `namespace`, unless the
    /// namespace has its share running and as many waiting.
    pub fn place(&self, namespace: &str) -> Option<Place> {
        let mut all = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        let ns = all
            .entry(namespace.to_string())
            .or_insert_with(|| Namespace {
                share: Arc::new(Semaphore::new(self.per_namespace)),
                places: 0,
            });
        if ns.places >= 2 * self.per_namespace {
            return None;
        }
        ns.places += 1;
        Some(Place {
            namespace: namespace.to_string(),
            share: ns.share.clone(),
            namespaces: self.namespaces.clone(),
        })
    }

    /// Wait for a probe slot within the namespace's share, in the order
    /// asked.
    pub async fn slot(&self, place: Place) -> Slot {
        // Always the namespace's share first, then the common slot: no
        // waiter holds one while it waits for the other in reverse order.
        let share = place
            .share
            .clone()
            .acquire_owned()
            .await
            .expect("a share is never closed");
        let probe = self
            .probes
            .clone()
            .acquire_owned()
            .await
            .expect("the probe slots are never closed");
        Slot {
            _probe: probe,
            _share: share,
            _place: place,
        }
    }

    /// Validations probing now.
    pub fn running(&self) -> usize {
        self.total - self.probes.available_permits()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut all = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ns) = all.get_mut(&self.namespace) {
            ns.places = ns.places.saturating_sub(1);
            if ns.places == 0 {
                all.remove(&self.namespace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_namespace_cannot_take_every_slot() {
        let slots = Slots::new(4, 2);
        let a1 = slots.slot(slots.place("a").unwrap()).await;
        let _a2 = slots.slot(slots.place("a").unwrap()).await;
        let a3 = slots.slot(slots.place("a").unwrap());
        tokio::pin!(a3);
        assert!(
            futures::poll!(&mut a3).is_pending(),
            "a runs its share: a third waits"
        );
        let _b1 = slots.slot(slots.place("b").unwrap()).await;
        let _c1 = slots.slot(slots.place("c").unwrap()).await;
        assert_eq!(slots.running(), 4);
        drop(a1);
        assert_eq!(slots.running(), 3);
        let _a3 = tokio::time::timeout(Duration::from_secs(5), a3)
            .await
            .expect("a's waiter runs once a's share allows");
        assert_eq!(slots.running(), 4);
    }

    #[tokio::test]
    async fn a_namespace_waits_at_most_its_share() {
        let slots = Slots::new(2, 2);
        let _b1 = slots.slot(slots.place("b").unwrap()).await;
        let _b2 = slots.slot(slots.place("b").unwrap()).await;
        let b3 = slots.place("b").unwrap();
        let _b4 = slots.place("b").unwrap();
        assert!(slots.place("b").is_none(), "two of b run, two wait");
        let a1 = slots.place("a").expect("a has its own share");
        let waiting = slots.slot(a1);
        tokio::pin!(waiting);
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "both slots are taken"
        );
        drop(b3);
        assert!(slots.place("b").is_some(), "a place in line is free again");
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_first_waiter() {
        let slots = Arc::new(Slots::new(1, 1));
        let first = slots.slot(slots.place("x").unwrap()).await;
        let next = {
            let slots = slots.clone();
            let place = slots.place("y").unwrap();
            tokio::spawn(async move { slots.slot(place).await })
        };
        tokio::task::yield_now().await;
        assert!(!next.is_finished(), "the slot is still taken");
        drop(first);
        let taken = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the waiter got the slot")
            .unwrap();
        assert_eq!(slots.running(), 1);
        drop(taken);
        assert_eq!(slots.running(), 0);
    }

    #[tokio::test]
    async fn freed_namespaces_leave_no_entry_behind() {
        let slots = Slots::new(2, 2);
        drop(slots.slot(slots.place("x").unwrap()).await);
        drop(slots.place("y").unwrap());
        assert!(slots.namespaces.lock().unwrap().is_empty());
        assert_eq!(slots.running(), 0);
    }

    #[test]
    fn the_share_never_exceeds_the_total() {
        let slots = Slots::new(1, 8);
        let _a1 = slots.place("a").unwrap();
        let _a2 = slots.place("a").unwrap();
        assert!(slots.place("a").is_none(), "one running, one waiting");
        assert_eq!(slots.controller_concurrency(), 2);
    }
}
