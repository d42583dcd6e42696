//! The per-connection gauges (`s3connection_connections`, `_ready`,
//! `_last_success_timestamp_seconds`, `_validation_interval_seconds`,
//! `_suspended`): computed at scrape time from what the controller's cache
//! holds, so a deleted connection's series are gone with it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::crd::CondStatus;

/// What the metrics say about one connection (from the operator's cache, at
/// scrape time: a deleted connection's series are gone with it).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView {
    /// The connection's namespace.
    pub namespace: String,
    /// The connection's name.
    pub name: String,
    /// The Ready condition's status (`Unknown` without a Ready condition).
    pub ready: CondStatus,
    /// The Ready condition's reason, as the status has it (empty without a
    /// Ready condition). Not always an [`outcome::Reason`]: it is
    /// `Progressing` while a new generation is validated, and whatever an
    /// earlier version of the operator wrote until the next validation.
    ///
    /// [`outcome::Reason`]: crate::outcome::Reason
    pub reason: String,
    /// Unix time of the last validation that found it working.
    pub last_success: Option<f64>,
    /// How often it is validated, in seconds.
    pub interval_seconds: f64,
    /// `spec.suspend` is set: not validated, so alerts leave it out.
    pub suspended: bool,
}

type Views = dyn Fn() -> Vec<ConnectionView> + Send + Sync;

/// Where the per-connection gauges read from: set once, when the controller
/// (and so its cache) starts; until then they have no samples.
#[derive(Clone, Default)]
pub(super) struct ReadySource(Arc<OnceLock<Box<Views>>>);

impl ReadySource {
    /// Read from `f` from now on (a second call is ignored).
    pub(super) fn set(&self, f: impl Fn() -> Vec<ConnectionView> + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(f));
    }

    /// The collector that serves the gauges.
    pub(super) fn collector(&self) -> ConnectionsByReady {
        ConnectionsByReady(self.clone())
    }

    fn views(&self) -> Vec<ConnectionView> {
        self.0.get().map(|f| f()).unwrap_or_default()
    }
}

/// Encodes the per-connection gauges at each scrape.
pub(super) struct ConnectionsByReady(ReadySource);

impl fmt::Debug for ConnectionsByReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionsByReady")
    }
}

impl Collector for ConnectionsByReady {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let views = self.0.views();
        // By the label's text, so the samples come in the same order always.
        let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
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
            let ready = i64::from(v.ready == CondStatus::True);
            ConstGauge::new(ready).encode(family.encode_family(&labels)?)?;
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
    encoder: &mut DescriptorEncoder<'_>,
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
