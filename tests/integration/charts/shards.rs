//! Sharding: `shard.labelSelector` becomes `--watch-label-selector` only
//! when set, and two releases in one namespace (a main install and a
//! shard) share no object name, cluster-scoped or not, nor their Lease.

use std::collections::BTreeSet;

use serde_json::Value;
use testkit::chart::{CHART, args_of, docs, flag_values, helm, render, rendered};

#[test]
fn chart_passes_the_shard_selector_only_when_set() {
    let none = args_of(&rendered(&[]));
    assert!(
        flag_values(&none, "watch-label-selector").is_empty(),
        "{none:?}"
    );
    for (set, sent) in [
        (
            "shard.labelSelector=!sharding.s3connection.dev/key",
            "!sharding.s3connection.dev/key",
        ),
        (
            "shard.labelSelector=sharding.s3connection.dev/key=shard1",
            "sharding.s3connection.dev/key=shard1",
        ),
        (
            // --set splits on unescaped commas.
            r"shard.labelSelector=sharding.s3connection.dev/key notin (shard1\,shard2)",
            "sharding.s3connection.dev/key notin (shard1,shard2)",
        ),
    ] {
        let args = args_of(&rendered(&[set]));
        assert_eq!(flag_values(&args, "watch-label-selector"), [sent], "{set}");
    }
    let long = format!("shard.labelSelector=k={}", "v".repeat(1024));
    let out = render(&[&long]).expect_err("over 1024 characters");
    assert!(out.contains("labelSelector"), "{out}");
}

/// `helm template <release>` of the chart in `s3c-system` with `sets`.
fn release(name: &str, sets: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", name, CHART, "--namespace", "s3c-system"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    assert!(ok, "helm template {name}:\n{out}");
    docs(&out)
}

/// Each object's kind and name.
fn names(docs: &[Value]) -> BTreeSet<(String, String)> {
    docs.iter()
        .map(|d| {
            let kind = d["kind"].as_str().unwrap_or_default().to_string();
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (kind, name)
        })
        .collect()
}

#[test]
fn chart_installs_twice_in_one_namespace_as_a_main_and_a_shard() {
    let main = release(
        "s3c",
        &["shard.labelSelector=!sharding.s3connection.dev/key"],
    );
    let shard = release(
        "s3c-shard1",
        &["shard.labelSelector=sharding.s3connection.dev/key=shard1"],
    );
    let (a, b) = (names(&main), names(&shard));
    assert!(a.len() > 5 && b.len() == a.len(), "{a:?}\n{b:?}");
    let shared: Vec<_> = a.intersection(&b).collect();
    assert!(shared.is_empty(), "objects of both releases: {shared:?}");
    let lease = |d: &[Value]| flag_values(&args_of(d), "lease-name");
    assert_eq!(lease(&main), ["s3c-s3-connection-operator"]);
    assert_eq!(lease(&shard), ["s3c-shard1-s3-connection-operator"]);
}

#[test]
fn chart_notes_name_the_shard() {
    let n = super::notes::notes(&["shard.labelSelector=sharding.s3connection.dev/key=shard1"]);
    assert!(
        n.contains("Watching:   all namespaces (ClusterRoleBinding); only the connections whose labels match \"sharding.s3connection.dev/key=shard1\" (shard.labelSelector)\n"),
        "{n}"
    );
    assert!(!super::notes::notes(&[]).contains("shard.labelSelector"));
}
