//! The report's building blocks, typed: percentiles, what the operator's
//! log says, a relay's request counts, /metrics between two scrapes, and
//! the events in a namespace. Each serializes to the JSON the report has
//! always had (field order included).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use testkit::metrics::Metrics;

use crate::env::{Env, Result};
use crate::watch::key;
use testkit::counting::Counts;

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A map that keeps its order (serialized as a JSON object).
#[derive(Debug, Clone, Default)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Ordered<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A measurement, or a note saying why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Or<T> {
    Measured(T),
    Note(String),
}

impl<T> Or<T> {
    pub fn measured(&self) -> Option<&T> {
        match self {
            Or::Measured(t) => Some(t),
            Or::Note(_) => None,
        }
    }
}

/// Nearest-rank percentiles of milliseconds (only `n` when there are none).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub n: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

impl Percentiles {
    pub fn of(mut v: Vec<f64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |q: f64| {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            Some(round3(v[rank - 1]))
        };
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Percentiles {
            n: v.len(),
            min: Some(round3(v[0])),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Some(round3(v[v.len() - 1])),
            mean: Some(round3(mean)),
        }
    }
}

/// What the operator's log says about validations in some namespaces.
pub struct LogStats {
    took_ms: Vec<f64>,
    /// When each validation was logged (Unix seconds).
    at: Vec<f64>,
    by_reason: BTreeMap<String, u64>,
    per_connection: HashMap<String, u64>,
    errors: Vec<String>,
    warnings: u64,
}

/// [`LogStats`] as the report has it.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub validations: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// Validations of a connection → how many connections had that many.
    pub validations_per_connection: BTreeMap<u64, u64>,
    pub took_ms: Percentiles,
    pub error_lines: usize,
    pub error_examples: Vec<String>,
    pub warn_lines: u64,
}

impl LogStats {
    /// Read the operator's JSON log at `path`; validations count in the
    /// namespaces `in_scope` accepts.
    pub fn read(path: &Path, in_scope: impl Fn(&str) -> bool) -> LogStats {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut s = LogStats {
            took_ms: vec![],
            at: vec![],
            by_reason: BTreeMap::new(),
            per_connection: HashMap::new(),
            errors: vec![],
            warnings: 0,
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let level = v["level"].as_str().unwrap_or_default();
            let msg = v["message"].as_str().unwrap_or_default();
            if level == "ERROR" {
                if s.errors.len() < 5 {
                    s.errors.push(line.chars().take(400).collect());
                } else {
                    s.errors.push(String::new());
                }
            }
            if level == "WARN" {
                s.warnings += 1;
            }
            let ns = v["namespace"].as_str().unwrap_or_default();
            if !msg.starts_with("validated:") || !in_scope(ns) {
                continue;
            }
            if let Some(t) = v["took_ms"].as_f64() {
                s.took_ms.push(t);
            }
            if let Some(t) = v["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            {
                s.at.push(t.as_millisecond() as f64 / 1000.0);
            }
            *s.by_reason
                .entry(v["reason"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
            *s.per_connection
                .entry(key(ns, v["name"].as_str().unwrap_or_default()))
                .or_default() += 1;
        }
        s
    }

    /// When each validation was logged (Unix seconds), in log order.
    pub fn times(&self) -> &[f64] {
        &self.at
    }

    pub fn validations(&self) -> u64 {
        self.by_reason.values().sum()
    }

    pub fn report(&self) -> LogReport {
        let mut dist: BTreeMap<u64, u64> = BTreeMap::new();
        for n in self.per_connection.values() {
            *dist.entry(*n).or_default() += 1;
        }
        LogReport {
            validations: self.validations(),
            by_reason: self.by_reason.clone(),
            validations_per_connection: dist,
            took_ms: Percentiles::of(self.took_ms.clone()),
            error_lines: self.errors.len(),
            error_examples: self
                .errors
                .iter()
                .filter(|e| !e.is_empty())
                .cloned()
                .collect(),
            warn_lines: self.warnings,
        }
    }
}

/// Requests of one operation at a relay.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub count: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub mean_ms: f64,
    pub max_ms: f64,
}

/// Requests per unit (a validation, a connection): `per_<unit>` and
/// `by_op_per_<unit>` in the report.
#[derive(Debug, Clone)]
pub struct PerUnit {
    pub unit: String,
    pub requests: f64,
    pub by_op: BTreeMap<String, f64>,
}

impl Serialize for PerUnit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(&format!("per_{}", self.unit), &self.requests)?;
        m.serialize_entry(&format!("by_op_per_{}", self.unit), &self.by_op)?;
        m.end()
    }
}

/// What a relay counted.
#[derive(Debug, Clone, Serialize)]
pub struct RequestCounts {
    pub requests: u64,
    pub tcp_connections: u64,
    pub by_op: BTreeMap<String, OpReport>,
    #[serde(flatten)]
    pub per: Option<PerUnit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// `c`, per `per` = (unit, how many) if any, per second over `seconds`
    /// if given.
    pub fn of(c: &Counts, per: Option<(&str, f64)>, seconds: Option<f64>) -> RequestCounts {
        let by_op = c
            .ops
            .iter()
            .map(|(k, o)| {
                let op = OpReport {
                    count: o.count,
                    statuses: o.statuses.clone(),
                    mean_ms: round3(o.upstream_s * 1000.0 / o.count.max(1) as f64),
                    max_ms: round3(o.max_s * 1000.0),
                };
                (k.clone(), op)
            })
            .collect();
        let per = per.filter(|(_, n)| *n > 0.0).map(|(unit, n)| PerUnit {
            unit: unit.to_string(),
            requests: round3(c.requests as f64 / n),
            by_op: c
                .ops
                .iter()
                .map(|(k, o)| (k.clone(), round3(o.count as f64 / n)))
                .collect(),
        });
        RequestCounts {
            requests: c.requests,
            tcp_connections: c.connections,
            by_op,
            per,
            requests_per_s: seconds
                .filter(|s| *s > 0.0)
                .map(|s| round3(c.requests as f64 / s)),
            tags: c.tags.clone(),
        }
    }

    /// Requests per `unit`, if counted per it.
    pub fn per(&self, unit: &str) -> Option<f64> {
        self.per
            .as_ref()
            .filter(|p| p.unit == unit)
            .map(|p| p.requests)
    }

    /// Each operation's count per `unit`, if counted per it.
    pub fn by_op_per(&self, unit: &str) -> Option<&BTreeMap<String, f64>> {
        self.per
            .as_ref()
            .filter(|p| p.unit == unit)
            .map(|p| &p.by_op)
    }
}

/// Status writes, validations and (if the operator has it) its own count of
/// Kubernetes API requests, from /metrics, between two scrapes.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    pub status_patches: BTreeMap<String, f64>,
    pub status_writes_per_connection: f64,
    pub validations: f64,
    pub validations_by_result: BTreeMap<String, f64>,
    pub validation_duration_sum_s: f64,
    pub validation_duration_count: f64,
    pub validation_duration_buckets: BTreeMap<String, f64>,
    pub status_patch_duration_sum_s: f64,
    pub status_patch_duration_count: f64,
    pub status_patch_mean_ms: f64,
    pub deferred: f64,
    pub reconcile_errors: BTreeMap<String, f64>,
    pub watch_restarts: BTreeMap<String, f64>,
    pub kube_requests_metric: Or<BTreeMap<String, f64>>,
    pub kube_requests_metric_per_connection: Option<f64>,
}

impl MetricsReport {
    /// `m` (a difference of scrapes), per connection of `per`.
    pub fn of(m: &Metrics, per: f64) -> MetricsReport {
        let written = m.get("s3connection_status_patches_total{outcome=\"written\"}");
        let kube = m.family("s3connection_kube_requests_total");
        let kube_total: f64 = kube.values().sum();
        let patch_sum = m.get("s3connection_status_patch_duration_seconds_sum");
        let patch_count = m.get("s3connection_status_patch_duration_seconds_count");
        MetricsReport {
            status_patches: m.family("s3connection_status_patches_total"),
            status_writes_per_connection: round3(written / per.max(1.0)),
            validations: m.sum("s3connection_validations_total"),
            validations_by_result: m.family("s3connection_validations_total"),
            validation_duration_sum_s: round3(
                m.get("s3connection_validation_duration_seconds_sum"),
            ),
            validation_duration_count: m.get("s3connection_validation_duration_seconds_count"),
            validation_duration_buckets: m
                .family("s3connection_validation_duration_seconds_bucket"),
            status_patch_duration_sum_s: round3(patch_sum),
            status_patch_duration_count: patch_count,
            status_patch_mean_ms: round3(1000.0 * patch_sum / patch_count.max(1.0)),
            deferred: m.get("s3connection_validations_deferred_total"),
            reconcile_errors: m.family("s3connection_reconcile_errors_total"),
            watch_restarts: m.family("s3connection_watch_restarts_total"),
            kube_requests_metric_per_connection: (!kube.is_empty())
                .then(|| round3(kube_total / per.max(1.0))),
            kube_requests_metric: match kube.is_empty() {
                true => Or::Note(
                    "missing: the operator does not expose s3connection_kube_requests_total".into(),
                ),
                false => Or::Measured(kube),
            },
        }
    }
}

/// Events (events.k8s.io/v1) in a namespace about connections.
#[derive(Debug, Clone, Serialize)]
pub struct EventsReport {
    pub objects: usize,
    pub per_connection: f64,
    pub connections_with_events: usize,
    /// Events of a connection → how many connections had that many.
    pub events_per_connection_distribution: BTreeMap<u64, u64>,
    pub by_type_reason: BTreeMap<String, u64>,
    pub series_count_sum: i64,
    pub deprecated_count_sum: i64,
}

impl EventsReport {
    /// The events in `ns`, per connection of `connections`.
    pub async fn of(env: &Env, ns: &str, connections: u64) -> Result<EventsReport> {
        let list = Api::<Event>::namespaced(env.kube.clone(), ns)
            .list(&ListParams::default())
            .await?;
        let mut per: HashMap<String, u64> = HashMap::new();
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        let mut series = 0i64;
        let mut deprecated = 0i64;
        for e in &list.items {
            let name = e
                .regarding
                .as_ref()
                .and_then(|r| r.name.clone())
                .unwrap_or_default();
            *per.entry(name).or_default() += 1;
            *by_reason
                .entry(format!(
                    "{}/{}",
                    e.type_.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default()
                ))
                .or_default() += 1;
            series += e.series.as_ref().map(|s| i64::from(s.count)).unwrap_or(0);
            deprecated += i64::from(e.deprecated_count.unwrap_or(0));
        }
        let mut dist: BTreeMap<u64, u64> = BTreeMap::new();
        for n in per.values() {
            *dist.entry(*n).or_default() += 1;
        }
        Ok(EventsReport {
            objects: list.items.len(),
            per_connection: round3(list.items.len() as f64 / connections.max(1) as f64),
            connections_with_events: per.len(),
            events_per_connection_distribution: dist,
            by_type_reason: by_reason,
            series_count_sum: series,
            deprecated_count_sum: deprecated,
        })
    }
}
