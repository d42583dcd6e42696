//! The chart's alerts (files/prometheus-rules.yaml) and Grafana dashboard
//! (files/grafana-dashboard.json) ask only for what the operator serves:
//! every expression is parsed by a real PromQL parser, and every metric,
//! label and matched label value it names is compared with a scrape of
//! /metrics from the operator binary after it validated a connection.
//! The chart renders these two files unchanged (install.rs checks that), so
//! they are the one source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

use crate::harness::{ALL, IamUser, Operator, TestEnv, s3_policy};

const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/helm/s3-connection-operator"
);
/// What the chart puts in place of the job placeholder, for release `s3c`.
const JOB: &str = "s3c-s3-connection-operator-metrics";

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

/// One query and where it comes from.
struct Query {
    origin: String,
    promql: String,
}

/// The alert rules, as the chart renders them for release `s3c`.
fn alert_rules() -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(CHART).join("files/prometheus-rules.yaml"))
        .expect("files/prometheus-rules.yaml");
    let spec: Value = serde_yaml::from_str(&text.replace("__JOB__", JOB)).expect("rules are YAML");
    spec["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(Path::new(CHART).join("files/grafana-dashboard.json"))
        .expect("files/grafana-dashboard.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Grafana's variables replaced by values a query could take, so that the
/// result is plain PromQL.
fn without_grafana_variables(q: &str) -> String {
    let mut out = q.to_string();
    for (var, value) in [
        ("$__rate_interval", "5m"),
        ("${__rate_interval}", "5m"),
        ("$__interval", "1m"),
        ("${__interval}", "1m"),
        ("$__range", "1h"),
        ("${job}", ".*"),
        ("$job", ".*"),
        ("${namespace}", ".*"),
        ("$namespace", ".*"),
    ] {
        out = out.replace(var, value);
    }
    out
}

/// Every PromQL query of the alerts and the dashboard (panels and template
/// variables; `label_values(<selector>, <label>)` becomes
/// `count by (<label>) (<selector>)`, which asks for the same).
fn queries() -> Vec<Query> {
    let mut out = vec![];
    for rule in alert_rules() {
        let name = rule["alert"].as_str().expect("alert name").to_string();
        out.push(Query {
            origin: format!("alert {name}"),
            promql: rule["expr"].as_str().expect("expr").to_string(),
        });
    }
    fn walk(v: &Value, path: &str, out: &mut Vec<Query>) {
        match v {
            Value::Object(m) => {
                let here = m
                    .get("title")
                    .or_else(|| m.get("name"))
                    .and_then(Value::as_str)
                    .map(|t| format!("{path}/{t}"))
                    .unwrap_or_else(|| path.to_string());
                if let Some(Value::String(expr)) = m.get("expr") {
                    out.push(Query {
                        origin: format!("dashboard {here}"),
                        promql: without_grafana_variables(expr),
                    });
                }
                if m.get("type").and_then(Value::as_str) == Some("query") {
                    let q = m
                        .get("query")
                        .and_then(|q| q.get("query").or(Some(q)))
                        .and_then(Value::as_str)
                        .expect("a query variable has a query");
                    let inner = q
                        .trim()
                        .strip_prefix("label_values(")
                        .and_then(|r| r.strip_suffix(')'))
                        .expect("query variables use label_values(<selector>, <label>)");
                    let (selector, label) = inner
                        .rsplit_once(',')
                        .expect("label_values(<selector>, <label>)");
                    out.push(Query {
                        origin: format!("dashboard variable {here}"),
                        promql: without_grafana_variables(&format!(
                            "count by ({}) ({})",
                            label.trim(),
                            selector.trim()
                        )),
                    });
                }
                for (k, child) in m {
                    walk(child, &format!("{here}.{k}"), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, path, out)),
            _ => {}
        }
    }
    walk(&dashboard(), "", &mut out);
    out
}

/// A metric selector in a query: its name and label matchers.
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

/// What a query refers to.
#[derive(Default, Debug)]
struct Refs {
    selectors: Vec<Selector>,
    /// Labels named in by/without/on/ignoring/group_left/group_right.
    grouping: BTreeSet<String>,
}

impl Refs {
    fn selector(&mut self, vs: &VectorSelector) {
        let mut matchers: Vec<Matcher> = vs.matchers.matchers.clone();
        matchers.extend(vs.matchers.or_matchers.iter().flatten().cloned());
        let name = vs.name.clone().or_else(|| {
            matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone())
        });
        self.selectors.push(Selector {
            name: name.unwrap_or_default(),
            matchers: matchers
                .into_iter()
                .filter(|m| m.name != "__name__")
                .collect(),
        });
    }
}

impl ExprVisitor for Refs {
    type Error = String;
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
        match e {
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs),
            Expr::Aggregate(a) => {
                if let Some(m) = &a.modifier {
                    let (LabelModifier::Include(l) | LabelModifier::Exclude(l)) = m;
                    self.grouping.extend(l.labels.iter().cloned());
                }
            }
            Expr::Binary(b) => {
                if let Some(m) = &b.modifier {
                    if let Some(LabelModifier::Include(l) | LabelModifier::Exclude(l)) = &m.matching
                    {
                        self.grouping.extend(l.labels.iter().cloned());
                    }
                    if let Some(l) = m.card.labels() {
                        self.grouping.extend(l.labels.iter().cloned());
                    }
                }
            }
            _ => {}
        }
        Ok(true)
    }
}

fn parse(q: &Query) -> Result<Refs, String> {
    let expr = parser::parse(&q.promql)
        .map_err(|e| format!("{}: does not parse: {e}\n  {}", q.origin, q.promql))?;
    let mut refs = Refs::default();
    walk_expr(&mut refs, &expr)?;
    Ok(refs)
}

#[test]
fn alerts_and_dashboard_queries_are_valid_promql() {
    let qs = queries();
    assert!(
        qs.iter().filter(|q| q.origin.starts_with("alert")).count() >= 4,
        "the four alerts"
    );
    assert!(
        qs.iter()
            .filter(|q| q.origin.starts_with("dashboard"))
            .count()
            >= 15,
        "the dashboard's queries"
    );
    let mut errors = vec![];
    for q in &qs {
        if q.promql.contains('$') {
            errors.push(format!(
                "{}: an unknown Grafana variable: {}",
                q.origin, q.promql
            ));
        }
        if let Err(e) = parse(q) {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    // Annotations name only labels the alert's expression keeps.
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        let refs = parse(&Query {
            origin: name.into(),
            promql: rule["expr"].as_str().unwrap().into(),
        })
        .unwrap();
        for (key, text) in rule["annotations"].as_object().unwrap() {
            let text = text.as_str().unwrap();
            for used in text.split("$labels.").skip(1) {
                let label: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    refs.grouping.contains(&label),
                    "{name}: annotation {key} uses $labels.{label}, which the expression drops"
                );
            }
        }
        assert!(
            rule["for"]
                .as_str()
                .is_some_and(|f| promql_parser::util::parse_duration(f).is_ok()),
            "{name}: for"
        );
    }
}

/// What one scrape of /metrics says: every sample name with the label sets
/// seen, and every metric family declared by # TYPE (with its type).
#[derive(Default, Debug)]
struct Scrape {
    samples: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    families: BTreeMap<String, String>,
    /// (sample name, labels) -> value.
    values: BTreeMap<(String, BTreeMap<String, String>), String>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut s = Scrape::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                    s.families.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find(['{', ' ']) {
                Some(i) if line.as_bytes()[i] == b'{' => {
                    let (labels, rest) = parse_labels(&line[i + 1..]);
                    (line[..i].to_string(), labels, rest)
                }
                Some(i) => (line[..i].to_string(), BTreeMap::new(), &line[i..]),
                None => continue,
            };
            let value = rest.split_whitespace().next().unwrap_or_default();
            s.values
                .insert((name.clone(), labels.clone()), value.to_string());
            s.samples.entry(name).or_default().push(labels);
        }
        s
    }

    /// The sample names a family of this type is queried by.
    fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.samples.keys().cloned().collect();
        for (family, kind) in &self.families {
            let suffixes: &[&str] = match kind.as_str() {
                // OpenMetrics declares counters without _total; the Prometheus
                // text format with it.
                "counter" => &["", "_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "gaugehistogram" => &["_bucket", "_gsum", "_gcount"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        }
        names
    }

    /// The label names and values seen on samples of `name`.
    fn labels(&self, name: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for set in self.samples.get(name).into_iter().flatten() {
            for (k, v) in set {
                out.entry(k.clone()).or_default().insert(v.clone());
            }
        }
        out
    }
}

/// `a="x",b="y"} 1` -> ({a: x, b: y}, " 1"), with OpenMetrics' escapes.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut out = BTreeMap::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
            chars.next();
        }
        match chars.peek() {
            None => return (out, ""),
            Some((i, '}')) => return (out, &s[i + 1..]),
            _ => {}
        }
        let key: String = chars
            .by_ref()
            .map(|(_, c)| c)
            .take_while(|c| *c != '=')
            .collect();
        assert_eq!(
            chars.next().map(|(_, c)| c),
            Some('"'),
            "label {key} without a quoted value in {s}"
        );
        let mut value = String::new();
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim().to_string(), value);
    }
}

#[tokio::test]
async fn alerts_and_dashboard_use_only_metrics_the_operator_serves() {
    let env = TestEnv::new().await;
    let ns = env.namespace("alerts").await;
    let bucket = env.bucket("alerts").await;
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env.user("alerts", s3_policy(&bucket, "", &ALL)).await;
    env.secret(
        &ns,
        "creds",
        &[("AWS_ACCESS_KEY_ID", &ak), ("AWS_SECRET_ACCESS_KEY", &sk)],
    )
    .await;
    env.apply_connection(&ns, "data", env.access_key_spec(&bucket, "creds"))
        .await;
    // The alerts leave suspended connections out: one is here.
    let mut paused = env.access_key_spec(&bucket, "creds");
    paused["suspend"] = true.into();
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
