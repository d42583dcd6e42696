//! Fairness between tenants: at most `total` validations run at once, and at
//! most `per_namespace` of them for one namespace, so one namespace whose
//! connections point at an endpoint that never answers cannot take every
//! slot. A reconcile that finds no free slot does not wait (that would hold
//! the controller's own concurrency slot): it is requeued shortly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The slots of running validations.
#[derive(Debug)]
pub struct Slots {
    total: usize,
    per_namespace: usize,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    by_namespace: HashMap<String, usize>,
}

/// A taken slot; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    namespace: String,
    state: Arc<Mutex<State>>,
}

impl Slots {
    pub fn new(total: usize, per_namespace: usize) -> Self {
        Self {
            total: total.max(1),
            per_namespace: per_namespace.clamp(1, total.max(1)),
            state: Arc::default(),
        }
    }

    /// A slot for a validation in `namespace`, unless all are taken or the
    /// namespace holds its share.
    pub fn try_take(&self, namespace: &str) -> Option<Slot> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mine = s.by_namespace.get(namespace).copied().unwrap_or(0);
        if s.running >= self.total || mine >= self.per_namespace {
            return None;
        }
        s.running += 1;
        *s.by_namespace.entry(namespace.to_string()).or_default() += 1;
        Some(Slot {
            namespace: namespace.to_string(),
            state: self.state.clone(),
        })
    }

    /// Validations running now.
    pub fn running(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).running
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.running = s.running.saturating_sub(1);
        if let Some(n) = s.by_namespace.get_mut(&self.namespace) {
            *n -= 1;
            if *n == 0 {
                s.by_namespace.remove(&self.namespace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_namespace_cannot_take_every_slot() {
        let slots = Slots::new(4, 2);
        let a1 = slots.try_take("a").unwrap();
        let _a2 = slots.try_take("a").unwrap();
        assert!(slots.try_take("a").is_none(), "a holds its share");
        let _b1 = slots.try_take("b").unwrap();
        let _c1 = slots.try_take("c").unwrap();
        assert!(slots.try_take("d").is_none(), "all four taken");
        drop(a1);
        assert_eq!(slots.running(), 3);
        assert!(slots.try_take("d").is_some());
    }

    #[test]
    fn freed_namespaces_leave_no_entry_behind() {
        let slots = Slots::new(2, 2);
        drop(slots.try_take("x").unwrap());
        assert!(slots.state.lock().unwrap().by_namespace.is_empty());
        assert_eq!(slots.running(), 0);
    }

    #[test]
    fn the_share_never_exceeds_the_total() {
        let slots = Slots::new(1, 8);
        let _a = slots.try_take("a").unwrap();
        assert!(slots.try_take("b").is_none());
    }
}
