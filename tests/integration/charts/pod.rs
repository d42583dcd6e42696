//! The pod: host network and probes, the update strategy, the image by
//! digest, common labels on every object (never in a selector), and the
//! values of these refused by name.

use serde_json::{Value, json};
use testkit::chart::{CHART, args_of, docs, find, flag_values, helm, pod_of, render, rendered};

use super::monitoring::assert_every_kind;

/// `helm template` of the chart as release `s3c` in `s3c-system` with any
/// further arguments (`--set-string`, `-f`).
fn rendered_with(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["template", "s3c", CHART, "--namespace", "s3c-system"];
    all.extend(args);
    let (ok, out) = helm(&all, None);
    assert!(ok, "helm template {args:?} failed:\n{out}");
    docs(&out)
}

/// The operator container.
fn container_of(docs: &[Value]) -> &Value {
    &pod_of(docs)["containers"][0]
}

#[test]
fn chart_host_network_values_reach_the_pod_and_the_flags() {
    // Defaults: the pod network, every interface, probes to the pod IP,
    // Kubernetes' own rolling update.
    let d = rendered(&[]);
    let pod = pod_of(&d);
    assert!(pod.get("hostNetwork").is_none(), "{pod}");
    assert!(pod.get("dnsPolicy").is_none(), "{pod}");
    assert_eq!(flag_values(&args_of(&d), "metrics-addr"), ["0.0.0.0:8080"]);
    assert_eq!(flag_values(&args_of(&d), "health-addr"), ["0.0.0.0:8081"]);
    let c = container_of(&d);
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(c[probe]["httpGet"].get("host").is_none(), "{probe}: {c}");
        assert_eq!(c[probe]["httpGet"]["port"], "health", "{probe}");
    }
    assert_eq!(
        find(&d, "Deployment")[0]["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );

    // Our single-node test cluster: host network, loopback only, probes
    // there, the old pod goes before the new one, the API server named
    // through extraEnv.
    let d = rendered_with(&[
        "--set",
        "hostNetwork=true,metricsBindAddress=127.0.0.1,metricsPort=18080,healthPort=18081,probes.host=127.0.0.1",
        "--set",
        "updateStrategy.rollingUpdate.maxSurge=0,updateStrategy.rollingUpdate.maxUnavailable=1",
        "--set",
        "extraEnv[0].name=KUBERNETES_SERVICE_HOST,extraEnv[0].value=127.0.0.1",
        "--set",
        "extraEnv[1].name=KUBERNETES_SERVICE_PORT",
        "--set-string",
        "extraEnv[1].value=6443",
    ]);
    let pod = pod_of(&d);
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(
        flag_values(&args_of(&d), "metrics-addr"),
        ["127.0.0.1:18080"]
    );
    assert_eq!(
        flag_values(&args_of(&d), "health-addr"),
        ["127.0.0.1:18081"]
    );
    let c = container_of(&d);
    assert_eq!(c["ports"][0]["containerPort"], 18080);
    assert_eq!(
        c["ports"][1],
        json!({"name": "health", "containerPort": 18081, "protocol": "TCP"})
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["host"], "127.0.0.1", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "health", "{probe}");
    }
    assert_eq!(
        find(&d, "Deployment")[0]["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    let env = c["env"].as_array().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "POD_NAME",
            "POD_NAMESPACE",
            "KUBERNETES_SERVICE_HOST",
            "KUBERNETES_SERVICE_PORT"
        ]
    );
    assert_eq!(env[3]["value"], "6443", "a string, as EnvVar wants");

    // Host network on every interface: the probes may go to the node IP.
    let d = rendered(&["hostNetwork=true"]);
    assert_eq!(pod_of(&d)["hostNetwork"], true);
    assert!(
        container_of(&d)["readinessProbe"]["httpGet"]
            .get("host")
            .is_none()
    );

    // IPv6 literals are bracketed in the flag.
    for (addr, flag) in [("::", "[::]:8080"), ("fd00::10", "[fd00::10]:8080")] {
        let set = format!("metricsBindAddress={addr}");
        let d = rendered(&[&set]);
        assert_eq!(flag_values(&args_of(&d), "metrics-addr"), [flag], "{addr}");
    }
    let d = rendered(&[
        "hostNetwork=true",
        "metricsBindAddress=::1",
        "probes.host=::1",
    ]);
    assert_eq!(flag_values(&args_of(&d), "metrics-addr"), ["[::1]:8080"]);
    assert_eq!(flag_values(&args_of(&d), "health-addr"), ["[::1]:8081"]);
    assert_eq!(container_of(&d)["livenessProbe"]["httpGet"]["host"], "::1");

    // Recreate: no rollingUpdate (the API refuses one), even though the
    // default values carry it.
    let d = rendered(&["updateStrategy.type=Recreate"]);
    assert_eq!(
        find(&d, "Deployment")[0]["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
}

#[test]
fn chart_image_digest_pins_the_image() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let image = |d: &[Value]| container_of(d)["image"].as_str().unwrap().to_string();
    assert_eq!(
        image(&rendered(&[])),
        "ghcr.io/s3-connection-operator/s3-connection-operator:0.1.0"
    );
    let set = format!("image.digest={digest}");
    let d = rendered(&[&set]);
    assert_eq!(
        image(&d),
        format!("ghcr.io/s3-connection-operator/s3-connection-operator:0.1.0@{digest}")
    );
    let d = rendered(&[
        &set,
        "image.tag=0.1.0-rc.1",
        "image.repository=registry.example/s3c",
    ]);
    assert_eq!(
        image(&d),
        format!("registry.example/s3c:0.1.0-rc.1@{digest}")
    );
    // The version label stays the tag.
    assert_eq!(
        find(&d, "Deployment")[0]["metadata"]["labels"]["app.kubernetes.io/version"],
        "0.1.0-rc.1"
    );
}

/// Every object under a `selector`, `labelSelector` or `matchLabels` key, at
/// any depth.
fn selectors(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if ["selector", "labelSelector", "matchLabels"].contains(&k.as_str()) {
                    out.push(x.clone());
                }
                selectors(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| selectors(x, out)),
        _ => {}
    }
}

#[test]
fn chart_common_labels_are_on_every_object_and_never_in_a_selector() {
    let d = rendered(&[
        "commonLabels.team=storage",
        "commonLabels.example\\.com/cost-center=cc-1234",
        "replicaCount=3",
        "allowOperatorIdentity=true",
        "watchNamespaces={team-a,team-b}",
        "podLabels.tier=control",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "metrics.prometheusRule.enabled=true",
        "metrics.grafanaDashboard.enabled=true",
    ]);
    assert_every_kind(&d);
    for doc in &d {
        let labels = &doc["metadata"]["labels"];
        assert_eq!(labels["team"], "storage", "{}: {labels}", doc["kind"]);
        assert_eq!(
            labels["example.com/cost-center"], "cc-1234",
            "{}",
            doc["kind"]
        );
        assert_eq!(
            labels["app.kubernetes.io/name"], "s3-connection-operator",
            "the chart's own labels stay: {labels}"
        );
    }
    let template = &find(&d, "Deployment")[0]["spec"]["template"]["metadata"]["labels"];
    assert_eq!(template["team"], "storage", "the pod template: {template}");
    assert_eq!(template["tier"], "control", "podLabels too: {template}");
    assert_eq!(
        find(&d, "ServiceMonitor")[0]["metadata"]["labels"]["release"],
        "prometheus"
    );
    let mut found = Vec::new();
    for doc in &d {
        selectors(doc, &mut found);
    }
    // Deployment, PDB, Service, ServiceMonitor, anti-affinity, spread.
    assert!(found.len() >= 6, "{found:?}");
    for s in &found {
        let text = s.to_string();
        assert!(
            !text.contains("\"team\"") && !text.contains("cost-center"),
            "commonLabels in a selector: {text}"
        );
    }
}

#[test]
fn chart_refuses_network_strategy_digest_and_label_values_naming_them() {
    let zeros = "sha256:".to_string() + &"0".repeat(64);
    for (sets, message) in [
        // One value alone (values.schema.json).
        (&["metricsBindAddress=localhost"][..], "metricsBindAddress"),
        (&["metricsBindAddress=256.0.0.1"], "metricsBindAddress"),
        (&["metricsBindAddress=[::]"], "metricsBindAddress"),
        (&["metricsBindAddress=::g"], "metricsBindAddress"),
        (&["metricsBindAddress=0.0.0.0:8080"], "metricsBindAddress"),
        (&["hostNetwork=yes"], "hostNetwork"),
        (&["probes.host=a b"], "probes/host"),
        (&["probes.port=8080"], "probes"),
        (&["image.digest=sha256:abc"], "image/digest"),
        (&["image.digest=latest"], "image/digest"),
        (&["updateStrategy.type=OnDelete"], "updateStrategy/type"),
        (&["updateStrategy.rollingUpdate.maxSurge=-1"], "maxSurge"),
        (&["updateStrategy.rollingUpdate.maxSurge=1x"], "maxSurge"),
        (
            &["updateStrategy.rollingUpdate.partition=1"],
            "rollingUpdate",
        ),
        (&["commonLabels.team=1"], "commonLabels/team"),
        (&["commonLabels.team=a b"], "commonLabels/team"),
        // An EnvVar's value is a string (the API server refuses a number).
        (
            &[
                "extraEnv[0].name=KUBERNETES_SERVICE_PORT",
                "extraEnv[0].value=6443",
            ],
            "extraEnv/0/value",
        ),
        // Values that cannot work together (the chart's templates).
        (
            &["metricsBindAddress=127.0.0.1"],
            "metricsBindAddress 127.0.0.1 is reachable from inside the pod only",
        ),
        (
            &["probes.host=127.0.0.1"],
            "probes.host (127.0.0.1) is for hostNetwork installs only",
        ),
        (
            &["hostNetwork=true", "metricsBindAddress=127.0.0.1"],
            "set probes.host=127.0.0.1",
        ),
        (
            &[
                "hostNetwork=true",
                "metricsBindAddress=127.0.0.1",
                "probes.host=127.0.0.1",
                "metrics.serviceMonitor.enabled=true",
            ],
            "metrics.serviceMonitor.enabled: Prometheus cannot scrape metricsBindAddress 127.0.0.1",
        ),
        (
            &[
                "updateStrategy.rollingUpdate.maxSurge=0",
                "updateStrategy.rollingUpdate.maxUnavailable=0%",
            ],
            "updateStrategy.rollingUpdate: maxSurge and maxUnavailable may not both be 0",
        ),
        (
            &["commonLabels.app\\.kubernetes\\.io/name=other"],
            "commonLabels: app.kubernetes.io/name is set by the chart",
        ),
        (
            &["commonLabels.helm\\.sh/chart=other"],
            "commonLabels: helm.sh/chart is set by the chart",
        ),
        (
            &["commonLabels.bad key=x"],
            "commonLabels: \"bad key\" is not a label key",
        ),
        (
            &["commonLabels.team=a", "podLabels.team=b"],
            "commonLabels and podLabels both set the label team",
        ),
        (
            &[
                "commonLabels.release=a",
                "metrics.serviceMonitor.enabled=true",
                "metrics.serviceMonitor.labels.release=b",
            ],
            "commonLabels and metrics.serviceMonitor.labels both set the label release",
        ),
        (
            &["extraArgs={--metrics-addr=127.0.0.1:9090}"],
            "use the value metricsPort (and metricsBindAddress) instead",
        ),
    ] {
        let out = render(sets)
            .err()
            .unwrap_or_else(|| panic!("helm template --set {sets:?} must fail"));
        assert!(
            out.contains(message),
            "--set {sets:?}: the message names {message}:\n{out}"
        );
    }
    // The same values where they do work.
    let digest = format!("image.digest={zeros}");
    for sets in [
        &["metricsBindAddress=::"][..],
        &["hostNetwork=true", "metricsBindAddress=10.1.2.3"],
        &["hostNetwork=true", "probes.host=node.example"],
        &[digest.as_str()],
        &[
            "updateStrategy.rollingUpdate.maxSurge=0",
            "updateStrategy.rollingUpdate.maxUnavailable=1",
        ],
        &[
            "updateStrategy.type=Recreate",
            "updateStrategy.rollingUpdate=null",
        ],
        &[
            "commonLabels.release=a",
            "metrics.serviceMonitor.labels.release=b",
        ],
        &["commonLabels.example\\.com/team=a"],
    ] {
        render(sets).unwrap_or_else(|out| panic!("helm template --set {sets:?}:\n{out}"));
    }
}
