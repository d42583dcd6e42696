//! How many events one object may have: at most [`PER_OBJECT`] in a minute.
//! A connection whose endpoint answers one way and then another (at its
//! owner's will, with a forced check each time) would otherwise have one
//! event per check, each an etcd write; the status always says the truth,
//! the events beyond the budget are dropped and counted
//! (`s3connection_events_total{outcome="suppressed"}`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Events one object may have in [`WINDOW`].
pub const PER_OBJECT: u32 = 3;
/// The window of the budget.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Objects remembered before those with no event within the window are
/// forgotten (at most once a window, so that a burst of first events of
/// many objects costs no scan per event).
const PRUNE_ABOVE: usize = 1024;

/// Events spent per object (by uid) in its current window.
#[derive(Debug, Default)]
pub struct Budget {
    spent: Mutex<Spent>,
}

#[derive(Debug, Default)]
struct Spent {
    by_object: HashMap<String, Window>,
    pruned: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    events: u32,
}

impl Budget {
    /// Whether object `uid` may have one more event at `now`; counts it
    /// when it may.
    pub fn take(&self, uid: &str, now: Instant) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let due = spent
            .pruned
            .is_none_or(|p| now.saturating_duration_since(p) >= WINDOW);
        if spent.by_object.len() > PRUNE_ABOVE && due {
            spent
                .by_object
                .retain(|_, w| now.saturating_duration_since(w.started) < WINDOW);
            spent.pruned = Some(now);
        }
        let w = spent.by_object.entry(uid.to_string()).or_insert(Window {
            started: now,
            events: 0,
        });
        if now.saturating_duration_since(w.started) >= WINDOW {
            *w = Window {
                started: now,
                events: 0,
            };
        }
        if w.events >= PER_OBJECT {
            return false;
        }
        w.events += 1;
        true
    }

    /// Objects remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.spent.lock().unwrap().by_object.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_budget_per_object_per_window() {
        let b = Budget::default();
        let t = Instant::now();
        for i in 0..PER_OBJECT {
            assert!(b.take("a", t + Duration::from_secs(u64::from(i))));
        }
        assert!(!b.take("a", t + Duration::from_secs(30)), "spent");
        assert!(b.take("b", t + Duration::from_secs(30)), "b has its own");
        assert!(!b.take("a", t + Duration::from_secs(59)));
        assert!(b.take("a", t + WINDOW), "a new window");
    }

    #[test]
    fn objects_without_recent_events_are_forgotten() {
        let b = Budget::default();
        let t = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            b.take(&i.to_string(), t);
        }
        b.take("late", t + WINDOW);
        assert!(b.take("late", t + WINDOW));
        assert_eq!(b.len(), 1);
        // Not again within the window, however many come.
        for i in 0..=PRUNE_ABOVE {
            b.take(&i.to_string(), t + WINDOW);
        }
        b.take("later", t + WINDOW + WINDOW / 2);
        assert_eq!(b.len(), PRUNE_ABOVE + 3);
    }
}
