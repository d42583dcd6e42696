//! The log subscriber (JSON or text, filtered by `RUST_LOG` or a level) and
//! a panic hook that logs panics as one structured line.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line, the event's fields at the top level.
    Json,
    /// `tracing_subscriber`'s human-readable lines.
    Text,
}

/// Crates whose debug output could include request details are kept at warn
/// unless `RUST_LOG` asks for more.
const QUIET: &str = ",aws_smithy_runtime=warn,aws_smithy_http_client=warn,aws_config=warn,aws_sdk_s3=warn,aws_sdk_sts=warn,aws_sdk_iam=warn,aws_runtime=warn,hyper=warn,hyper_util=warn,rustls=warn,tower=warn,h2=warn";

/// Install the global subscriber. `level` is used when `RUST_LOG` is unset.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level}{QUIET}")));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .init(),
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).init(),
    }
}

/// Log panics as one structured error line. The panic's message is logged
/// only when it is a fixed string: a formatted message may carry data (a
/// header value, say) that must not reach the log.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(message withheld: it may contain data)");
        let thread = std::thread::current();
        tracing::error!(
            location,
            thread = thread.name().unwrap_or("unnamed"),
            "panic: {message}"
        );
    }));
}
