//! The Helm chart as the tests see it: its directory, `helm` against the
//! test API server or without one, and the documents `helm template`
//! renders (the chart tests, the install tests and the pods suite).

use std::process::Command;

use serde_json::Value;

/// The chart's directory in the operator's repository.
pub const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/helm/s3-connection-operator"
);

/// `helm <args>` (with `kubeconfig`, or none: no cluster); whether it
/// succeeded, and what it printed.
pub fn helm(args: &[&str], kubeconfig: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("helm");
    cmd.args(args);
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd
        .output()
        .expect("helm on PATH (make test puts the built tools on PATH)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The documents of a multi-document YAML text (empty ones left out).
pub fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    yaml_serde::Deserializer::from_str(yaml)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// The documents of `kind`.
pub fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one document of `kind` named `name`.
pub fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = find(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
}

/// The Deployment's pod spec.
pub fn pod_of(docs: &[Value]) -> &Value {
    &find(docs, "Deployment")[0]["spec"]["template"]["spec"]
}

/// `helm template` of the chart as release `s3c` in `s3c-system` with
/// `--set` values; the rendered documents, or the failure message.
pub fn render(sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut args = vec!["template", "s3c", CHART, "--namespace", "s3c-system"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    if ok { Ok(docs(&out)) } else { Err(out) }
}

/// [`render`], which must succeed.
pub fn rendered(sets: &[&str]) -> Vec<Value> {
    render(sets).unwrap_or_else(|out| panic!("helm template {sets:?} failed:\n{out}"))
}

/// The operator container's arguments.
pub fn args_of(docs: &[Value]) -> Vec<String> {
    let c = &find(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    serde_json::from_value(c["args"].clone()).expect("args are strings")
}

/// The values of every `--<flag>=<value>` argument, in order.
pub fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let prefix = format!("--{flag}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}
