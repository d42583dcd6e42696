//! Watches that come back by themselves after the API server or etcd went
//! away.
//!
//! Why a plain `watcher(...).default_backoff()` under a `Controller` heard
//! changes minutes late after an API server restart: the restarted API
//! server's watch cache no longer holds the resource version a watch resumes
//! from, so the first resume is answered `410 Expired`. kube-runtime then
//! relists, which is right, but the 410 also counted as an error: each
//! watcher's backoff (0.8 s doubling to 30 s, reset only after 120 s without
//! errors) was already grown by the failed connects during the outage, and
//! the `Controller` applied a second backoff of the same kind to all its
//! trigger streams together, so one watch's 410 paused every watch (up to
//! 48 s was seen). Here a 410 is a relist, not an error; real errors back
//! off from 0.5 s to at most 10 s, and the backoff resets on the first event
//! that arrives; the controller adds no backoff of its own.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;
use tracing::{info, warn};

use crate::telemetry::Metrics;

/// Exponential from `first` to `max`, reset by the first event after errors.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(10))
    }
}

impl WatchBackoff {
    /// Starting at `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(now)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = self.first;
    }
}

/// No backoff at all: for the controller's merged trigger stream, whose
/// watches each back off on their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBackoff;

impl Iterator for NoBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoBackoff {
    fn reset(&mut self) {}
}

/// Whether a watch error only says "relist": the resource version to resume
/// from is gone (410 Expired/Gone).
pub fn is_expired(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::WatchError(s) if s.code == 410)
}

/// A watch stream that recovers on its own: `Expired` becomes a relist
/// without backoff, other errors are logged with the watch's `name`,
/// counted in `s3connection_watch_restarts_total{watch}` and back off
/// (see [`WatchBackoff`]).
pub fn resilient<K>(
    name: &'static str,
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    metrics: Metrics,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Send,
{
    let relisting = metrics.clone();
    stream
        .filter(move |ev| {
            let keep = match ev {
                Err(e) if is_expired(e) => {
                    relisting.watch_restarted(name);
                    info!(
                        watch = name,
                        "watch expired (the API server lost its resource version); relisting"
                    );
                    false
                }
                _ => true,
            };
            std::future::ready(keep)
        })
        .backoff(WatchBackoff::default())
        .inspect(move |ev| {
            if let Err(e) = ev {
                metrics.watch_restarted(name);
                warn!(watch = name, error = %e, "watch failed; retrying with backoff");
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = WatchBackoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let first: Vec<u64> = b.by_ref().take(7).map(|d| d.as_millis() as u64).collect();
        assert_eq!(first, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(500)));
        assert_eq!(NoBackoff.next(), Some(Duration::ZERO));
    }

    #[test]
    fn only_gone_resource_versions_are_relists() {
        let status = |code| kube::core::Status {
            code,
            ..kube::core::Status::failure("too old resource version: 1 (2)", "Expired")
        };
        assert!(is_expired(&watcher::Error::WatchError(Box::new(status(
            410
        )))));
        assert!(!is_expired(&watcher::Error::WatchError(Box::new(status(
            500
        )))));
        assert!(!is_expired(&watcher::Error::NoResourceVersion));
    }
}
