//! The per-connection gauges (`s3connection_connections`, `_ready`,
//! `_last_success_timestamp_seconds`, `_validation_interval_seconds`,
//! `_suspended`, `_requests_per_day`, `_estimated_monthly_cost_dollars`)
//! and the cost of all connections (`s3connection_all_requests_per_day`,
//! `_all_estimated_monthly_cost_dollars`): computed at scrape time from
//! what the controller's cache holds, so a deleted connection's series are
//! gone with it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::cost::{ByClass, Class, Prices};
use crate::crd::CondStatus;

/// What the metrics say about one connection (from the operator's cache, at
/// scrape time: a deleted connection's series are gone with it). It borrows
/// its texts from the cached object: a scrape of 100,000 connections holds
/// no copy of their names.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView<'a> {
    /// The connection's namespace.
    pub namespace: &'a str,
    /// The connection's name.
    pub name: &'a str,
    /// The Ready condition's status (`Unknown` without a Ready condition).
    pub ready: CondStatus,
    /// The Ready condition's reason, as the status has it (empty without a
    /// Ready condition). Not always an [`outcome::Reason`]: it is
    /// `Progressing` while a new generation is validated, and whatever an
    /// earlier version of the operator wrote until the next validation.
    ///
    /// [`outcome::Reason`]: crate::outcome::Reason
    pub reason: &'a str,
    /// Unix time of the last validation that found it working.
    pub last_success: Option<f64>,
    /// How often it is validated, in seconds.
    pub interval_seconds: f64,
    /// `spec.suspend` is set: not validated, so alerts leave it out.
    pub suspended: bool,
    /// Its S3 requests a day by price class, as its last full validation
    /// found them (since the operator started).
    pub requests: Option<ByClass>,
}

impl ConnectionView<'_> {
    /// S3 requests a day by class; none while suspended.
    fn daily(&self) -> Option<ByClass> {
        let r = self.requests?;
        Some(if self.suspended {
            ByClass::default()
        } else {
            r
        })
    }
}

/// Calls its argument with the view of each connection, one at a time.
pub type EachView = dyn Fn(&mut dyn FnMut(&ConnectionView<'_>)) + Send + Sync;

/// Where the per-connection gauges read from: set once, when the controller
/// (and so its cache) starts; until then they have no samples. With the
/// prices the cost gauges are computed at.
#[derive(Clone, Default)]
pub(super) struct ReadySource {
    views: Arc<OnceLock<Box<EachView>>>,
    prices: Arc<OnceLock<Prices>>,
}

impl ReadySource {
    /// Read from `f` from now on (a second call is ignored).
    pub(super) fn set(
        &self,
        f: impl Fn(&mut dyn FnMut(&ConnectionView<'_>)) + Send + Sync + 'static,
    ) {
        let _ = self.views.set(Box::new(f));
    }

    /// Compute costs at `prices` (a second call is ignored; until the
    /// first, the defaults).
    pub(super) fn set_prices(&self, prices: Prices) {
        let _ = self.prices.set(prices);
    }

    /// The collector that serves the gauges.
    pub(super) fn collector(&self) -> ConnectionsByReady {
        ConnectionsByReady(self.clone())
    }

    /// Call `f` with each connection's view; stop at its first error.
    fn each(
        &self,
        mut f: impl FnMut(&ConnectionView<'_>) -> Result<(), fmt::Error>,
    ) -> Result<(), fmt::Error> {
        let mut result = Ok(());
        if let Some(views) = self.views.get() {
            views(&mut |v| {
                if result.is_ok() {
                    result = f(v);
                }
            });
        }
        result
    }

    fn prices(&self) -> Prices {
        self.prices.get().copied().unwrap_or_default()
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
        let views = &self.0;
        // By the label's text, so the samples come in the same order always.
        let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
        views.each(|v| {
            *counts.entry(v.ready.as_str()).or_default() += 1;
            Ok(())
        })?;
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
        views.each(|v| {
            let labels = [
                ("namespace", v.namespace),
                ("name", v.name),
                ("reason", v.reason),
            ];
            let ready = i64::from(v.ready == CondStatus::True);
            ConstGauge::new(ready).encode(family.encode_family(&labels)?)
        })?;
        per_connection(
            &mut encoder,
            views,
            "last_success_timestamp_seconds",
            "When a validation last found the connection working (Unix time)",
            |v| v.last_success,
        )?;
        per_connection(
            &mut encoder,
            views,
            "validation_interval_seconds",
            "How often the connection is validated",
            |v| Some(v.interval_seconds),
        )?;
        per_connection(
            &mut encoder,
            views,
            "suspended",
            "1 while the connection's spec.suspend is true (it is not validated), else 0",
            |v| Some(f64::from(u8::from(v.suspended))),
        )?;
        let prices = self.0.prices();
        per_connection(
            &mut encoder,
            views,
            "requests_per_day",
            "S3 requests a day to validate the connection: its full validations' and light checks' at its intervals (status.requestsPerDay)",
            |v| Some(v.daily()?.total() as f64),
        )?;
        per_connection(
            &mut encoder,
            views,
            "estimated_monthly_cost_dollars",
            "What a month (30 days) of the connection's S3 requests costs at the operator's prices",
            |v| Some(prices.monthly(v.daily()?)),
        )?;
        all_connections(&mut encoder, views, prices)
    }
}

/// The cost of all connections: S3 requests a day by class, and dollars a
/// month.
fn all_connections(
    encoder: &mut DescriptorEncoder<'_>,
    views: &ReadySource,
    prices: Prices,
) -> Result<(), fmt::Error> {
    use strum::IntoEnumIterator;
    let mut by_class = [0.0f64; Class::COUNT];
    let mut dollars = 0.0;
    views.each(|v| {
        if let Some(daily) = v.daily() {
            for c in Class::iter() {
                by_class[c as usize] += f64::from(daily.get(c));
            }
            dollars += prices.monthly(daily);
        }
        Ok(())
    })?;
    let mut family = encoder.encode_descriptor(
        "all_requests_per_day",
        "S3 requests a day to validate all connections, by price class (tier1: PUT, COPY, POST, LIST; tier2: GET, HEAD and others; free: DELETE)",
        None,
        MetricType::Gauge,
    )?;
    for c in Class::iter() {
        ConstGauge::new(by_class[c as usize].round())
            .encode(family.encode_family(&[("class", c.as_str())])?)?;
    }
    let family = encoder.encode_descriptor(
        "all_estimated_monthly_cost_dollars",
        "What a month (30 days) of all connections' S3 requests costs at the operator's prices",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(dollars).encode(family)?;
    Ok(())
}

/// A gauge family with one sample per connection (`namespace`, `name`)
/// for which `value` has one.
fn per_connection(
    encoder: &mut DescriptorEncoder<'_>,
    views: &ReadySource,
    name: &str,
    help: &str,
    value: impl Fn(&ConnectionView<'_>) -> Option<f64>,
) -> Result<(), fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    views.each(|v| match value(v) {
        Some(x) => {
            let labels = [("namespace", v.namespace), ("name", v.name)];
            ConstGauge::new(x).encode(family.encode_family(&labels)?)
        }
        None => Ok(()),
    })
}
