//! The operator's own metrics ([`Metrics`], all prefixed `s3connection_`),
//! their label sets, and their registration along with the collectors of
//! [`super::connections`] and [`super::process`].

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::connections::{ConnectionView, ReadySource};
use super::process::ProcessCollector;
use crate::outcome::Reason;

/// Labels of `s3connection_validations_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The validation's reason (its Ready reason).
    pub result: &'static str,
}

/// Labels of `s3connection_aws_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsLabels {
    /// `S3`, `STS` or `IAM`.
    pub service: String,
    /// The SDK's operation name (`ListObjectsV2`, `AssumeRole`, ...).
    pub operation: String,
    /// What the call came to (`ok`, `denied`, `timeout`, ...).
    pub outcome: &'static str,
}

/// Labels of `s3connection_aws_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsOperationLabels {
    /// `S3`, `STS` or `IAM`.
    pub service: String,
    /// The SDK's operation name.
    pub operation: String,
}

/// Labels of `s3connection_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate's version.
    pub version: &'static str,
}

/// Labels of `s3connection_kube_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// The Kubernetes verb (`get`, `watch`, `patch`, ...).
    pub verb: &'static str,
}

/// Labels of `s3connection_watch_restarts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    /// The watched resource (`s3connections`, `secrets`, `serviceaccounts`).
    pub watch: &'static str,
}

/// Labels of `s3connection_reconcile_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The operator's error, as its metric label.
    pub error: &'static str,
}

/// Labels of `s3connection_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `published`, `suppressed` (over the object's budget) or `failed`.
    pub outcome: &'static str,
}

/// Labels of `s3connection_status_patches_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PatchLabels {
    /// What came of the write.
    pub outcome: PatchOutcome,
}

/// What came of writing a connection's status: the `outcome` label of
/// `s3connection_status_patches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum PatchOutcome {
    /// The API server took the new status.
    Written,
    /// The status already said it all: nothing was sent.
    Unchanged,
    /// The object changed since it was read (409): retried soon.
    Conflict,
    /// The connection was deleted meanwhile (404): nothing to report to.
    Gone,
    /// Any other error, or the write timed out.
    Failed,
}

impl PatchOutcome {
    /// The label value: `written`, `unchanged`, `conflict`, `gone`, `failed`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl EncodeLabelValue for PatchOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The operator's metrics, all prefixed `s3connection_`. Clones share the
/// same series.
#[derive(Clone)]
pub struct Metrics {
    /// `validations_total{result}`: validations by their reason.
    pub validations: Family<ResultLabels, Counter>,
    /// `validation_duration_seconds`.
    pub validation_duration: Histogram,
    /// `reconcile_errors_total{error}`: failures on the operator's side.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// `status_patches_total{outcome}`.
    pub status_patches: Family<PatchLabels, Counter>,
    /// `status_patch_duration_seconds`.
    pub status_patch_duration: Histogram,
    /// `leader`: 1 while this process leads.
    pub leader: Gauge,
    /// `validations_deferred_total`.
    pub deferred: Counter,
    /// `validation_panics_total`.
    pub panics: Counter,
    /// `watch_restarts_total{watch}`.
    pub watch_restarts: Family<WatchLabels, Counter>,
    /// `kube_requests_total{verb}`.
    pub kube_requests: Family<VerbLabels, Counter>,
    /// `aws_requests_total{service,operation,outcome}`.
    pub aws_requests: Family<AwsLabels, Counter>,
    /// `aws_request_duration_seconds{service,operation}`.
    pub aws_request_duration: Family<AwsOperationLabels, Histogram, fn() -> Histogram>,
    /// `events_total{outcome}`: Events about connections.
    pub events: Family<EventLabels, Counter>,
    /// `credential_cache_entries`: assumed-role sessions cached.
    pub credential_cache_entries: Gauge,
    /// `credential_cache_bytes`: what they take, as the cache counts it.
    pub credential_cache_bytes: Gauge,
    ready_source: ReadySource,
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
            events: Family::default(),
            credential_cache_entries: Gauge::default(),
            credential_cache_bytes: Gauge::default(),
            ready_source: ReadySource::default(),
        }
    }
}

impl Metrics {
    /// Register every metric in `registry`: these, the per-connection
    /// gauges and the `process_*` metrics.
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
            "Reconciles put back for a moment because they would have waited for a validation slot and the line was full, or lost their place in line to a namespace or endpoint below its share",
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
        for outcome in ["published", "suppressed", "failed"] {
            let _ = self.events.get_or_create(&EventLabels { outcome });
        }
        r.register(
            "events",
            "Events about connections by outcome (published; suppressed: over the object's budget of events per minute; failed)",
            self.events.clone(),
        );
        r.register(
            "credential_cache_entries",
            "Assumed-role sessions whose credentials are cached (bounded; the least recently used go first)",
            self.credential_cache_entries.clone(),
        );
        r.register(
            "credential_cache_bytes",
            "Bytes the cached assumed-role credentials take, as the cache counts them (bounded by --credential-cache-mib)",
            self.credential_cache_bytes.clone(),
        );
        r.register_collector(Box::new(self.ready_source.collector()));
    }

    /// Where the per-connection gauges read from (the controller's cache).
    /// Only the first call counts.
    /// `f` calls its argument with each connection's view.
    pub fn set_ready_source(
        &self,
        f: impl Fn(&mut dyn FnMut(&ConnectionView<'_>)) + Send + Sync + 'static,
    ) {
        self.ready_source.set(f);
    }

    /// The prices the cost gauges are computed at. Only the first call
    /// counts; until then, the defaults ([`crate::cost::Prices::default`]).
    pub fn set_prices(&self, prices: crate::cost::Prices) {
        self.ready_source.set_prices(prices);
    }

    /// This process leads now (`true`), or no longer (`false`).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// A validation ended with `reason` after `took`.
    pub fn validated(&self, reason: Reason, took: Duration) {
        self.validations
            .get_or_create(&ResultLabels {
                result: reason.as_str(),
            })
            .inc();
        self.validation_duration.observe(took.as_secs_f64());
    }

    /// A reconcile was put back: the line for slots was full.
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

    /// An AWS call ended with `outcome`; `took` when it was timed.
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

    /// The watch of `watch` (a resource, as in [`WatchLabels`]) was started
    /// again.
    pub fn watch_restarted(&self, watch: &'static str) {
        self.watch_restarts
            .get_or_create(&WatchLabels { watch })
            .inc();
    }

    /// A validation panicked (and was caught).
    pub fn validation_panicked(&self) {
        self.panics.inc();
    }

    /// A reconcile failed on the operator's side with the error `label`.
    pub fn reconcile_error(&self, label: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels { error: label })
            .inc();
    }

    /// A status write came to `outcome`; `took` when a request was sent.
    pub fn status_patch(&self, outcome: PatchOutcome, took: Option<Duration>) {
        self.status_patches
            .get_or_create(&PatchLabels { outcome })
            .inc();
        if let Some(t) = took {
            self.status_patch_duration.observe(t.as_secs_f64());
        }
    }

    /// An event came to `outcome` (`published`, `suppressed`, `failed`).
    pub fn event(&self, outcome: &'static str) {
        self.events.get_or_create(&EventLabels { outcome }).inc();
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

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

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

    /// The label values are public (dashboards, alerts): they must not
    /// follow a renamed variant.
    #[test]
    fn patch_outcomes_keep_their_label_values() {
        let all: Vec<_> = PatchOutcome::iter().map(PatchOutcome::as_str).collect();
        assert_eq!(all, ["written", "unchanged", "conflict", "gone", "failed"]);
        let m = Metrics::default();
        let mut reg = Registry::default();
        m.register(&mut reg);
        for o in PatchOutcome::iter() {
            m.status_patch(o, None);
        }
        let text = super::super::encode(&reg);
        for o in all {
            let line = format!("s3connection_status_patches_total{{outcome=\"{o}\"}} 1");
            assert!(text.contains(&line), "{text}");
        }
    }
}
