//! The Secret and ServiceAccount watches' first lists, and why they trigger
//! no validation.
//!
//! A Secret or ServiceAccount event re-validates the connections naming
//! it. The events of a watch's first list would do so for every connection
//! right after a start, when every connection is already being validated
//! for the S3Connection watch's own first list: each connection was
//! validated twice after every restart, upgrade and leader change. So the
//! first list's events are dropped ([`after_first_list`]), and validations
//! wait until every such list is complete ([`RelatedWatches::wait`]):
//! whatever a first list showed, a validation then reads at that version or
//! newer. Later events, and the events of a relist after an outage, trigger
//! as before.

use std::time::Duration;

use futures::{Stream, StreamExt, future};
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tracing::warn;

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

/// `events` without the first list's `Init` and `InitApply` events;
/// `listed` runs once: at the first list's end, or at the first error
/// before it (a watch that cannot list, for want of RBAC say, must not keep
/// every validation waiting for a list that may never come; validations
/// then read what they need and report the error themselves). Everything
/// else passes.
pub fn after_first_list<K>(
    events: impl Stream<Item = Result<Event<K>, watcher::Error>>,
    mut listed: impl FnMut() + Send,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> {
    let mut first_done = false;
    let mut released = false;
    let mut release = move || {
        if !released {
            released = true;
            listed();
        }
    };
    events.filter(move |ev| {
        let keep = match ev {
            Ok(Event::Init | Event::InitApply(_)) => first_done,
            Ok(Event::InitDone) => {
                first_done = true;
                release();
                true
            }
            Err(_) => {
                release();
                true
            }
            _ => true,
        };
        future::ready(keep)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn the_first_list_is_dropped_and_later_events_and_relists_pass() {
        let events: Vec<Result<Event<u32>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply(1)),
            Ok(Event::InitApply(2)),
            Ok(Event::InitDone),
            Ok(Event::Apply(3)),
            Ok(Event::Delete(1)),
            Ok(Event::Init),
            Ok(Event::InitApply(4)),
            Ok(Event::InitDone),
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let count = listed.clone();
        let out: Vec<_> = after_first_list(futures::stream::iter(events), move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .map(|e| format!("{:?}", e.unwrap()))
        .collect()
        .await;
        assert_eq!(
            out,
            [
                "InitDone",
                "Apply(3)",
                "Delete(1)",
                "Init",
                "InitApply(4)",
                "InitDone"
            ]
        );
        assert_eq!(listed.load(Ordering::SeqCst), 1, "once, for the first list");
    }

    #[tokio::test]
    async fn a_watch_that_cannot_list_releases_the_validations_once() {
        let events: Vec<Result<Event<u32>, watcher::Error>> = vec![
            Err(watcher::Error::NoResourceVersion),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitApply(1)),
            Ok(Event::InitDone),
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let count = listed.clone();
        let out: Vec<_> = after_first_list(futures::stream::iter(events), move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .collect()
        .await;
        assert_eq!(out.len(), 3, "the errors and the end of the first list");
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
