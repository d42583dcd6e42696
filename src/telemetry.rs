//! Logging and Prometheus metrics.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::outcome::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub watch: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PatchLabels {
    pub outcome: &'static str,
}

type ReadyCounter = dyn Fn() -> Vec<(String, i64)> + Send + Sync;

/// The operator's metrics, all prefixed `s3connection_`.
#[derive(Clone)]
pub struct Metrics {
    pub validations: Family<ResultLabels, Counter>,
    pub validation_duration: Histogram,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub status_patches: Family<PatchLabels, Counter>,
    pub status_patch_duration: Histogram,
    pub leader: Gauge,
    pub deferred: Counter,
    pub panics: Counter,
    pub watch_restarts: Family<WatchLabels, Counter>,
    pub kube_requests: Family<VerbLabels, Counter>,
    ready_source: Arc<OnceLock<Box<ReadyCounter>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            validations: Family::default(),
            validation_duration: Histogram::new([
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            reconcile_errors: Family::default(),
            status_patches: Family::default(),
            status_patch_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            leader: Gauge::default(),
            deferred: Counter::default(),
            panics: Counter::default(),
            watch_restarts: Family::default(),
            kube_requests: Family::default(),
            ready_source: Arc::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("s3connection");
        r.register(
            "validations",
            "Validations by result (the Ready reason)",
            self.validations.clone(),
        );
        r.register(
            "validation_duration_seconds",
            "Time one validation took, credentials and S3 probes included",
            self.validation_duration.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconciles that failed on the operator's side, by error",
            self.reconcile_errors.clone(),
        );
        r.register(
            "status_patches",
            "Status writes by outcome (written, unchanged, failed)",
            self.status_patches.clone(),
        );
        r.register(
            "status_patch_duration_seconds",
            "Time a status patch took",
            self.status_patch_duration.clone(),
        );
        r.register(
            "leader",
            "1 while this process holds the leader lease (or runs without leader election)",
            self.leader.clone(),
        );
        r.register(
            "validations_deferred",
            "Reconciles put back for a moment because the operator, or the connection's namespace, had no free validation slot",
            self.deferred.clone(),
        );
        r.register(
            "validation_panics",
            "Validations that failed internally (a panic, caught; the connection reports InternalError)",
            self.panics.clone(),
        );
        r.register(
            "watch_restarts",
            "Times a watch was started again: after an error (each failed attempt during an outage counts) or to relist when the API server no longer had its resource version",
            self.watch_restarts.clone(),
        );
        r.register(
            "kube_requests",
            "Requests the operator sent to the Kubernetes API server, by verb",
            self.kube_requests.clone(),
        );
        r.register_collector(Box::new(ConnectionsByReady(self.ready_source.clone())));
    }

    /// Where the `connections` gauge reads from (the controller's cache).
    pub fn set_ready_source(&self, f: impl Fn() -> Vec<(String, i64)> + Send + Sync + 'static) {
        let _ = self.ready_source.set(Box::new(f));
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    pub fn validated(&self, reason: Reason, took: Duration) {
        self.validations
            .get_or_create(&ResultLabels {
                result: reason.as_str(),
            })
            .inc();
        self.validation_duration.observe(took.as_secs_f64());
    }

    pub fn deferred(&self) {
        self.deferred.inc();
    }

    /// A tower layer for the Kubernetes client that counts its requests in
    /// `s3connection_kube_requests_total{verb}`.
    pub fn kube_request_layer<B>(
        &self,
    ) -> tower::util::MapRequestLayer<impl Fn(http::Request<B>) -> http::Request<B> + Clone + use<B>>
    {
        let family = self.kube_requests.clone();
        tower::util::MapRequestLayer::new(move |req: http::Request<B>| {
            let verb = kube_verb(req.method(), req.uri().query().unwrap_or_default());
            family.get_or_create(&VerbLabels { verb }).inc();
            req
        })
    }

    pub fn watch_restarted(&self, watch: &'static str) {
        self.watch_restarts
            .get_or_create(&WatchLabels { watch })
            .inc();
    }

    pub fn validation_panicked(&self) {
        self.panics.inc();
    }

    pub fn reconcile_error(&self, label: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels { error: label })
            .inc();
    }

    pub fn status_patch(&self, outcome: &'static str, took: Option<Duration>) {
        self.status_patches
            .get_or_create(&PatchLabels { outcome })
            .inc();
        if let Some(t) = took {
            self.status_patch_duration.observe(t.as_secs_f64());
        }
    }
}

struct ConnectionsByReady(Arc<OnceLock<Box<ReadyCounter>>>);

impl fmt::Debug for ConnectionsByReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionsByReady")
    }
}

impl Collector for ConnectionsByReady {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let counts = self.0.get().map(|f| f()).unwrap_or_default();
        let mut family = encoder.encode_descriptor(
            "connections",
            "S3Connections by the status of their Ready condition",
            None,
            MetricType::Gauge,
        )?;
        for (ready, n) in counts {
            let labels = [("ready", ready)];
            ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The verb of a Kubernetes API request, from its method (and `watch=` for
/// watches).
fn kube_verb(method: &http::Method, query: &str) -> &'static str {
    match *method {
        http::Method::GET
            if query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1") =>
        {
            "watch"
        }
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PATCH => "patch",
        http::Method::PUT => "update",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// Encode a registry in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_verbs() {
        assert_eq!(
            kube_verb(&http::Method::GET, "watch=true&resourceVersion=1"),
            "watch"
        );
        assert_eq!(kube_verb(&http::Method::GET, "limit=500"), "get");
        assert_eq!(kube_verb(&http::Method::PATCH, ""), "patch");
    }

    #[test]
    fn metrics_are_exported_with_prefix_and_labels() {
        let m = Metrics::default();
        let mut reg = Registry::default();
        m.register(&mut reg);
        m.validated(Reason::Validated, Duration::from_millis(120));
        m.validated(Reason::PermissionDenied, Duration::from_millis(80));
        m.reconcile_error("kube_forbidden");
        m.set_ready_source(|| vec![("True".into(), 2), ("Unknown".into(), 1)]);
        let text = encode(&reg);
        assert!(
            text.contains("s3connection_validations_total{result=\"Validated\"} 1"),
            "{text}"
        );
        assert!(text.contains("s3connection_validations_total{result=\"PermissionDenied\"} 1"));
        assert!(text.contains("s3connection_validation_duration_seconds_count 2"));
        assert!(text.contains("s3connection_reconcile_errors_total{error=\"kube_forbidden\"} 1"));
        assert!(
            text.contains("s3connection_connections{ready=\"True\"} 2"),
            "{text}"
        );
        assert!(text.contains("s3connection_connections{ready=\"Unknown\"} 1"));
    }
}
