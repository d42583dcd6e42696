//! `/metrics` as the scraper reads it: the registry is encoded on a
//! blocking thread into chunks of [`CHUNK`] bytes, and a chunk is encoded
//! only when the scraper has taken all but [`AHEAD`] of the ones before.
//! With 100,000 connections the text is about 84 MB (six series per
//! connection); encoded into one String, each scrape raised the process's
//! peak by that much. Here a scrape holds a few hundred KiB of text at most.
//!
//! A scraper that stops reading for [`STALL`] ends its scrape (the text is
//! cut short, and the blocking thread is free); at most [`AT_ONCE`] scrapes
//! encode at a time, the others are told to come back ([`Scrapes::start`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use prometheus_client::registry::Registry;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Bytes of text per chunk.
pub const CHUNK: usize = 64 * 1024;

/// Chunks encoded ahead of the scraper.
pub const AHEAD: usize = 2;

/// How long a chunk waits for the scraper to take it before the scrape
/// ends.
pub const STALL: Duration = Duration::from_secs(30);

/// Scrapes encoding at once.
pub const AT_ONCE: usize = 4;

/// The registry `/metrics` serves, and how many scrapes may encode it at
/// once.
#[derive(Clone)]
pub struct Scrapes {
    registry: Arc<Registry>,
    permits: Arc<Semaphore>,
}

/// There are [`AT_ONCE`] scrapes encoding already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Scrapes {
    /// Scrapes of `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            permits: Arc::new(Semaphore::new(AT_ONCE)),
        }
    }

    /// The registry's text, chunk by chunk as the stream is read; or
    /// [`Busy`]. Call from within the Tokio runtime.
    pub fn start(&self) -> Result<impl Stream<Item = Bytes> + Send + 'static, Busy> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (tx, rx) = mpsc::channel(AHEAD);
        let registry = self.registry.clone();
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || encode(&registry, tx, handle, permit));
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((chunk, rx))
        }))
    }
}

/// Encode `registry` into chunks sent on `tx`; stops at the first chunk the
/// scraper does not take within [`STALL`] (or at all: it went away).
fn encode(
    registry: &Registry,
    tx: mpsc::Sender<Bytes>,
    handle: Handle,
    permit: OwnedSemaphorePermit,
) {
    let mut out = Chunks {
        _permit: permit,
        text: String::with_capacity(CHUNK),
        tx,
        handle,
    };
    if prometheus_client::encoding::text::encode(&mut out, registry).is_ok() {
        let _ = out.send();
    }
}

/// A `fmt::Write` that sends every [`CHUNK`] bytes.
struct Chunks {
    /// First, so that it is given back before the stream ends (fields drop
    /// in order).
    _permit: OwnedSemaphorePermit,
    text: String,
    tx: mpsc::Sender<Bytes>,
    handle: Handle,
}

impl Chunks {
    /// Send what is written so far; an error when the scraper did not take
    /// it in time.
    fn send(&mut self) -> fmt::Result {
        if self.text.is_empty() {
            return Ok(());
        }
        let text = std::mem::replace(&mut self.text, String::with_capacity(CHUNK));
        let sent = self
            .handle
            .block_on(tokio::time::timeout(STALL, self.tx.send(Bytes::from(text))));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Write for Chunks {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text.push_str(s);
        if self.text.len() >= CHUNK {
            self.send()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    /// A registry whose text is `families` counters, each with a long help.
    fn registry(families: usize) -> Arc<Registry> {
        let mut r = Registry::default();
        for i in 0..families {
            let c: Counter = Counter::default();
            c.inc_by(i as u64);
            r.register(format!("family_{i}"), "x".repeat(1000), c);
        }
        Arc::new(r)
    }

    #[tokio::test]
    async fn chunks_join_to_the_whole_text() {
        let r = registry(300);
        let whole = super::super::encode(&r);
        assert!(whole.len() > 3 * CHUNK, "the text spans several chunks");
        let chunks: Vec<Bytes> = Scrapes::new(r).start().unwrap().collect().await;
        assert!(chunks.len() > 3);
        let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        // Each chunk is sent once it has CHUNK bytes: it ends with the
        // write that passed that (a family's help of about a KiB here).
        let (last, full) = sizes.split_last().unwrap();
        assert!(
            full.iter().all(|n| (CHUNK..CHUNK + 8192).contains(n)),
            "{sizes:?}"
        );
        assert!(*last <= CHUNK, "{sizes:?}");
        let joined: Vec<u8> = chunks.concat();
        assert_eq!(String::from_utf8(joined).unwrap(), whole);
    }

    #[tokio::test]
    async fn more_than_at_once_scrapes_are_busy_until_one_ends() {
        let scrapes = Scrapes::new(registry(300));
        let mut open: Vec<_> = (0..AT_ONCE)
            .map(|_| Box::pin(scrapes.start().unwrap()))
            .collect();
        assert_eq!(scrapes.start().err(), Some(Busy));
        // One read to its end has given its place back.
        let first = open.pop().unwrap();
        let _: Vec<Bytes> = first.collect().await;
        assert!(scrapes.start().is_ok());
    }

    #[tokio::test]
    async fn a_scraper_that_goes_away_ends_the_encoding() {
        let scrapes = Scrapes::new(registry(300));
        for _ in 0..AT_ONCE {
            let mut s = Box::pin(scrapes.start().unwrap());
            assert!(s.next().await.is_some());
            // Dropped after one chunk of several.
        }
        // Each encoding thread stops when its scraper is gone, and gives
        // its place back.
        let all = scrapes.permits.acquire_many(AT_ONCE as u32);
        let all = tokio::time::timeout(Duration::from_secs(30), all).await;
        assert!(matches!(all, Ok(Ok(_))), "every encoding ended");
    }
}
