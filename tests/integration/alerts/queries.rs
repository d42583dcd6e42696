//! Every PromQL query of the alerts and the dashboard, and what each one
//! refers to: metrics, label matchers, grouping labels.

use std::collections::BTreeSet;
use std::path::Path;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;
use testkit::chart::CHART;

/// What the chart puts in place of the job placeholder, for release `s3c`.
const JOB: &str = "s3c-s3-connection-operator-metrics";

/// One query and where it comes from.
pub(super) struct Query {
    pub(super) origin: String,
    pub(super) promql: String,
}

/// The alert rules, as the chart renders them for release `s3c`.
fn alert_rules() -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(CHART).join("files/prometheus-rules.yaml"))
        .expect("files/prometheus-rules.yaml");
    let spec: Value = yaml_serde::from_str(&text.replace("__JOB__", JOB)).expect("rules are YAML");
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
pub(super) fn queries() -> Vec<Query> {
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
pub(super) struct Selector {
    pub(super) name: String,
    pub(super) matchers: Vec<Matcher>,
}

/// What a query refers to.
#[derive(Default, Debug)]
pub(super) struct Refs {
    pub(super) selectors: Vec<Selector>,
    /// Labels named in by/without/on/ignoring/group_left/group_right.
    pub(super) grouping: BTreeSet<String>,
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

pub(super) fn parse(q: &Query) -> Result<Refs, String> {
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
