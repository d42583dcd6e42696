//! The queries against what the operator binary really serves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use promql_parser::label::MatchOp;
use testkit::{ALL, Operator, Setup, TestEnv};

use super::queries::{parse, queries};
use super::scrape::Scrape;
use crate::OPERATOR;

/// Labels Prometheus (with the Prometheus Operator) puts on every sample of
/// a target; a query may group by them although the operator does not
/// export them. `namespace` and `service` are the target's only on metrics
/// that have no label of that name themselves (honorLabels).
const TARGET_LABELS: [&str; 7] = [
    "job",
    "instance",
    "pod",
    "namespace",
    "container",
    "service",
    "endpoint",
];

#[tokio::test]
async fn alerts_and_dashboard_use_only_metrics_the_operator_serves() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("alerts", "", &ALL).await;
    env.apply_connection(&ns, "data", env.access_key_spec(&bucket, "creds"))
        .await;
    // The alerts leave suspended connections out: one is here.
    let paused = env.access_key_spec(&bucket, "creds").suspend(true);
    env.apply_connection(&ns, "paused", paused).await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.wait_ready(&ns, "data", "True", Some("Validated")).await;

    // Per-connection series come from the operator's cache, which hears of
    // its own status write a moment after this test's watch may: wait for
    // the cache to say Ready (a series of "data" alone may still be the
    // not-yet-validated one; the last success, kept in memory, is there as
    // soon as the validation ends, before the status is written).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let scrape = loop {
        let (code, body) = op.get("/metrics").await.expect("GET /metrics");
        assert_eq!(code, 200, "{body}");
        let scrape = Scrape::parse(&body);
        let has = |metric: &str, name: &str| {
            scrape
                .labels(metric)
                .get("name")
                .is_some_and(|names| names.contains(name))
        };
        let ready_in_cache = scrape.values.iter().any(|((metric, labels), v)| {
            metric == "s3connection_ready"
                && labels.get("name").is_some_and(|n| n == "data")
                && v == "1"
        });
        let complete = ready_in_cache
            && has("s3connection_last_success_timestamp_seconds", "data")
            && has("s3connection_suspended", "paused");
        if complete || tokio::time::Instant::now() > deadline {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let served = scrape.names();

    let mut missing_metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = vec![];
    for q in queries() {
        let refs = match parse(&q) {
            Ok(r) => r,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let mut query_labels: BTreeSet<String> = BTreeSet::new();
        for sel in &refs.selectors {
            if sel.name == "up" {
                // Prometheus' own, per target.
                query_labels.extend(["job".to_string(), "instance".to_string()]);
                continue;
            }
            if !served.contains(&sel.name) {
                missing_metrics
                    .entry(sel.name.clone())
                    .or_default()
                    .insert(q.origin.clone());
                continue;
            }
            let labels = scrape.labels(&sel.name);
            query_labels.extend(labels.keys().cloned());
            if !scrape.samples.contains_key(&sel.name) {
                // Declared, but no sample yet (a labelled family nothing
                // has counted): its labels cannot be checked.
                eprintln!(
                    "{}: {} has no sample to check labels on",
                    q.origin, sel.name
                );
                continue;
            }
            for m in &sel.matchers {
                if m.name == "job" || m.name == "instance" {
                    continue;
                }
                let Some(values) = labels.get(&m.name) else {
                    problems.push(format!(
                        "{}: {} has no label {:?} (it has {:?})",
                        q.origin,
                        sel.name,
                        m.name,
                        labels.keys().collect::<Vec<_>>()
                    ));
                    continue;
                };
                let literal = matches!(m.op, MatchOp::Equal | MatchOp::NotEqual);
                if literal && !values.contains(&m.value) {
                    problems.push(format!(
                        "{}: {}{{{}{}{:?}}} matches a value the operator does not use (seen: {:?})",
                        q.origin, sel.name, m.name, m.op, m.value, values
                    ));
                }
            }
        }
        for label in &refs.grouping {
            if !query_labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                problems.push(format!(
                    "{}: groups by {label:?}, which none of its metrics has",
                    q.origin
                ));
            }
        }
    }

    // What the alerts rely on: per-connection series labelled with the
    // connection's namespace and name, the Ready gauge at 1 for the Ready
    // connection, the suspended one marked as such.
    let series = |metric: &str, name: &str| -> Option<String> {
        scrape.values.iter().find_map(|((m, labels), value)| {
            (m == metric
                && labels.get("namespace") == Some(&ns)
                && labels.get("name").map(String::as_str) == Some(name))
            .then(|| value.clone())
        })
    };
    for (metric, name, want) in [
        ("s3connection_ready", "data", Some(1.0)),
        ("s3connection_last_success_timestamp_seconds", "data", None),
        (
            "s3connection_validation_interval_seconds",
            "data",
            Some(600.0),
        ),
        ("s3connection_suspended", "paused", Some(1.0)),
    ] {
        if !scrape.samples.contains_key(metric) {
            continue; // reported as missing above
        }
        match (series(metric, name), want) {
            (None, _) => problems.push(format!(
                "{metric} has no series with namespace={ns:?}, name={name:?}: {:?}",
                scrape.samples[metric]
            )),
            (Some(v), Some(w)) if v.parse::<f64>().ok() != Some(w) => {
                problems.push(format!("{metric}{{name={name:?}}} is {v}, not {w}"))
            }
            _ => {}
        }
    }

    let missing: Vec<String> = missing_metrics
        .iter()
        .map(|(m, users)| {
            format!(
                "  {m} (used by {})",
                users.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        missing.is_empty() && problems.is_empty(),
        "metrics the alerts/dashboard use but the operator does not serve:\n{}\nother problems:\n{}\n\nserved: {:?}",
        missing.join("\n"),
        problems.join("\n"),
        served
    );
}
