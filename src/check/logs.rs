//! `check`'s log (`-v`, or `RUST_LOG`): kept in memory, at most
//! [`MAX_LOG`] bytes, and written to stderr at the end scrubbed of every
//! value the check handled, so a line logged before a value was known is
//! scrubbed too. The SDK's and HTTP crates' debug output, which can carry
//! request details, is capped at warn whatever `RUST_LOG` says.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::credentials::Redactor;

/// The most log kept, in bytes; what comes later is dropped.
pub const MAX_LOG: usize = 1024 * 1024;

/// Crates whose debug output may carry request or response details.
const CAPPED: [&str; 14] = [
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sdk_iam",
    "aws_sdk_s3",
    "aws_sdk_sts",
    "aws_sigv4",
    "aws_smithy_http_client",
    "aws_smithy_runtime",
    "h2",
    "hyper",
    "hyper_util",
    "rustls",
    "tower",
];

/// The log so far.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

/// Appends to a [`Log`].
pub struct LogWriter(Log);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut kept = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_LOG.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Log {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.clone())
    }
}

impl Log {
    /// Install the global subscriber writing here: `RUST_LOG` if set, else
    /// debug for this crate with `verbose`, else warnings only.
    pub fn install(verbose: bool) -> Self {
        let log = Self::default();
        let level = if verbose {
            "warn,s3_connection_operator=debug,kube=debug"
        } else {
            "warn"
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
        let cap = Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_targets(CAPPED.map(|t| (t, LevelFilter::WARN)));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(cap)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(log.clone()),
            )
            .try_init();
        log
    }

    /// The log so far, scrubbed by `redactor`.
    pub fn scrubbed(&self, redactor: &Redactor) -> String {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = redactor.scrub(&String::from_utf8_lossy(&kept));
        if kept.len() >= MAX_LOG {
            text.push_str("... (log cut)\n");
        }
        text
    }
}
