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
pub struct AwsLabels {
    pub service: String,
    pub operation: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsOperationLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
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

/// What the metrics say about one connection (from the operator's cache, at
/// scrape time: a deleted connection's series are gone with it).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView {
    pub namespace: String,
    pub name: String,
    /// The Ready condition's status (`True`, `False`, `Unknown`).
    pub ready: String,
    pub reason: String,
    /// Unix time of the last validation that found it working.
    pub last_success: Option<f64>,
    pub interval_seconds: f64,
    /// `spec.suspend` is set: not validated, so alerts leave it out.
    pub suspended: bool,
}

type ReadyCounter = dyn Fn() -> Vec<ConnectionView> + Send + Sync;

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
    pub aws_requests: Family<AwsLabels, Counter>,
    pub aws_request_duration: Family<AwsOperationLabels, Histogram, fn() -> Histogram>,
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
            aws_requests: Family::default(),
            aws_request_duration: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            ready_source: Arc::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        // Known label values start at 0, so their series exist (and `rate()`
        // works) before the first event: a family without samples is not
        // served at all.
        for watch in ["s3connections", "secrets", "serviceaccounts"] {
            let _ = self.watch_restarts.get_or_create(&WatchLabels { watch });
        }
        for verb in ["get", "watch", "create", "patch", "update", "delete"] {
            let _ = self.kube_requests.get_or_create(&VerbLabels { verb });
        }
        registry.register_collector(Box::new(ProcessCollector));
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
            "Status writes by outcome (written, unchanged, conflict, gone, failed)",
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
            "Reconciles put back for a moment because the connection's namespace had its share of validations running and as many waiting",
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
            "aws_requests",
            "AWS calls (S3, STS, IAM) by service, operation and outcome (ok, denied, not_found, precondition_failed, client_error, server_error, timeout, unreachable, error)",
            self.aws_requests.clone(),
        );
        r.register(
            "aws_request_duration_seconds",
            "Time an AWS call took, retries included",
            self.aws_request_duration.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The operator's version (always 1)", build);
        r.register(
            "kube_requests",
            "Requests the operator sent to the Kubernetes API server, by verb",
            self.kube_requests.clone(),
        );
        r.register_collector(Box::new(ConnectionsByReady(self.ready_source.clone())));
    }

    /// Where the `connections` gauge reads from (the controller's cache).
    pub fn set_ready_source(&self, f: impl Fn() -> Vec<ConnectionView> + Send + Sync + 'static) {
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

    pub fn aws_call(
        &self,
        service: &str,
        operation: &str,
        outcome: &'static str,
        took: Option<Duration>,
    ) {
        self.aws_requests
            .get_or_create(&AwsLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome,
            })
            .inc();
        if let Some(t) = took {
            self.aws_request_duration
                .get_or_create(&AwsOperationLabels {
                    service: service.to_string(),
                    operation: operation.to_string(),
                })
                .observe(t.as_secs_f64());
        }
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
        let views = self.0.get().map(|f| f()).unwrap_or_default();
        let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
        for v in &views {
            *counts.entry(v.ready.as_str()).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "connections",
            "S3Connections by the status of their Ready condition",
            None,
            MetricType::Gauge,
        )?;
        for (ready, n) in counts {
            ConstGauge::new(n).encode(family.encode_family(&[("ready", ready)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "ready",
            "1 while the connection's Ready condition is True, else 0; the reason is Ready's",
            None,
            MetricType::Gauge,
        )?;
        for v in &views {
            let labels = [
                ("namespace", v.namespace.as_str()),
                ("name", v.name.as_str()),
                ("reason", v.reason.as_str()),
            ];
            ConstGauge::new(i64::from(v.ready == "True")).encode(family.encode_family(&labels)?)?;
        }
        per_connection(
            &mut encoder,
            &views,
            "last_success_timestamp_seconds",
            "When a validation last found the connection working (Unix time)",
            |v| v.last_success,
        )?;
        per_connection(
            &mut encoder,
            &views,
            "validation_interval_seconds",
            "How often the connection is validated",
            |v| Some(v.interval_seconds),
        )?;
        per_connection(
            &mut encoder,
            &views,
            "suspended",
            "1 while the connection's spec.suspend is true (it is not validated), else 0",
            |v| Some(f64::from(u8::from(v.suspended))),
        )?;
        Ok(())
    }
}

/// A gauge family with one sample per connection (`namespace`, `name`)
/// for which `value` has one.
fn per_connection(
    encoder: &mut DescriptorEncoder,
    views: &[ConnectionView],
    name: &str,
    help: &str,
    value: impl Fn(&ConnectionView) -> Option<f64>,
) -> Result<(), fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for v in views {
        if let Some(x) = value(v) {
            let labels = [
                ("namespace", v.namespace.as_str()),
                ("name", v.name.as_str()),
            ];
            ConstGauge::new(x).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// `process_*` metrics of this process, from /proc (Linux).
#[derive(Debug)]
struct ProcessCollector;

/// Clock ticks per second for /proc's CPU times (`sysconf(_SC_CLK_TCK)`,
/// 100 on every Linux this runs on).
const CLK_TCK: f64 = 100.0;

impl ProcessCollector {
    /// (cpu seconds, resident bytes, open fds, start time), when readable.
    fn read() -> Option<(f64, f64, i64, f64)> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) in parens.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let cpu = (ticks(11)? + ticks(12)?) / CLK_TCK;
        let start_ticks = ticks(19)?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let rss_kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())?;
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find(|l| l.starts_with("btime "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())?;
        Some((cpu, rss_kb * 1024.0, fds, boot + start_ticks / CLK_TCK))
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some((cpu, rss, fds, start)) = Self::read() else {
            return Ok(());
        };
        let mut one = |name: &str, help: &str, kind: MetricType, value: f64| {
            let family = encoder.encode_descriptor(name, help, None, kind)?;
            if kind == MetricType::Counter {
                prometheus_client::metrics::counter::ConstCounter::new(value).encode(family)
            } else {
                ConstGauge::new(value).encode(family)
            }
        };
        one(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            MetricType::Counter,
            cpu,
        )?;
        one(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            MetricType::Gauge,
            rss,
        )?;
        one(
            "process_open_fds",
            "Open file descriptors",
            MetricType::Gauge,
            fds as f64,
        )?;
        one(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            MetricType::Gauge,
            start,
        )
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
        let view = |name: &str, ready: &str| ConnectionView {
            namespace: "ns".into(),
            name: name.into(),
            ready: ready.into(),
            reason: if ready == "True" {
                "Validated"
            } else {
                "Transient"
            }
            .into(),
            last_success: (ready == "True").then_some(1_700_000_000.0),
            interval_seconds: 600.0,
            suspended: name == "c",
        };
        m.set_ready_source(move || {
            vec![view("a", "True"), view("b", "True"), view("c", "Unknown")]
        });
        m.aws_call(
            "S3",
            "ListObjectsV2",
            "denied",
            Some(Duration::from_millis(20)),
        );
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
        assert!(
            text.contains("s3connection_ready{namespace=\"ns\",name=\"a\",reason=\"Validated\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("s3connection_ready{namespace=\"ns\",name=\"c\",reason=\"Transient\"} 0")
        );
        assert!(text.contains(
            "s3connection_last_success_timestamp_seconds{namespace=\"ns\",name=\"a\"} 1700000000"
        ));
        assert!(
            !text.contains(
                "s3connection_last_success_timestamp_seconds{namespace=\"ns\",name=\"c\"}"
            )
        );
        assert!(
            text.contains(
                "s3connection_validation_interval_seconds{namespace=\"ns\",name=\"b\"} 600"
            )
        );
        assert!(text.contains(
            "s3connection_aws_requests_total{service=\"S3\",operation=\"ListObjectsV2\",outcome=\"denied\"} 1"
        ));
        assert!(text.contains("s3connection_aws_request_duration_seconds_count{service=\"S3\",operation=\"ListObjectsV2\"} 1"));
        assert!(text.contains("s3connection_suspended{namespace=\"ns\",name=\"c\"} 1"));
        assert!(text.contains("s3connection_suspended{namespace=\"ns\",name=\"a\"} 0"));
        assert!(text.contains("s3connection_watch_restarts_total{watch=\"secrets\"} 0"));
        assert!(text.contains("s3connection_kube_requests_total{verb=\"patch\"} 0"));
        assert!(text.contains("s3connection_build_info{version="));
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
    }
}
