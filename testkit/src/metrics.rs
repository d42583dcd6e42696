//! The operator's /metrics text: summed by family for the tests
//! ([`total`], [`metrics`], [`wait_metrics`]), and as a map of series for
//! the bench and the tests ([`Metrics`]).

use std::collections::BTreeMap;

use crate::operator::Operator;

/// Sum of the samples of a metric family in a /metrics text; `family` may
/// go on into the labels (`name{service="S3"`) to pick some series.
pub fn total(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The operator's /metrics text; panics unless it answers 200.
pub async fn metrics(op: &Operator) -> String {
    let (code, body) = op.get("/metrics").await.expect("GET /metrics");
    assert_eq!(code, 200);
    body
}

/// Poll the operator's /metrics until `wanted` holds, for at most
/// `within`; the text that satisfied it. Panics with the last text
/// otherwise.
pub async fn wait_metrics(
    op: &Operator,
    within: std::time::Duration,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let m = metrics(op).await;
        if wanted(&m) {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/metrics did not match within {within:?}:\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A Prometheus text exposition: `name{labels}` → value.
#[derive(Debug, Default, Clone)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            // the value follows the last space outside the label set
            let split = match line.rfind('}') {
                Some(i) => line[i..].find(' ').map(|j| i + j),
                None => line.find(' '),
            };
            let Some(at) = split else { continue };
            let (key, rest) = line.split_at(at);
            if let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) {
                m.insert(key.to_string(), v);
            }
        }
        Metrics(m)
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// Every series of `name`, by its label set.
    pub fn family(&self, name: &str) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let labels = k.strip_prefix(name)?;
                (labels.is_empty() || labels.starts_with('{')).then(|| (labels.to_string(), *v))
            })
            .collect()
    }

    /// The sum of every series of `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.family(name).values().sum()
    }

    /// `self - before` for each series.
    pub fn since(&self, before: &Metrics) -> Metrics {
        Metrics(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - before.get(k)))
                .collect(),
        )
    }
}
