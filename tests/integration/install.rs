//! Installing like a user does: the Helm chart lints, renders least-privilege
//! RBAC and a restricted pod, turns its values into the operator's flags (and
//! refuses bad values by name), installs into the test API server, and the
//! operator binary running with the chart's ServiceAccount token (not the
//! admin certificate) gets a connection to Ready. Removing one RBAC rule is
//! reported clearly in the operator's log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{ALL, IamUser, Operator, TestEnv, s3_policy, unique};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Config};
use serde_json::{Value, json};

const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/helm/s3-connection-operator"
);

fn helm(args: &[&str], kubeconfig: Option<&str>) -> (bool, String) {
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

fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Whether a ClusterRole is aggregated into a built-in role (rights for
/// people, not for the operator).
fn is_aggregated(role: &Value) -> bool {
    role["metadata"]["labels"].as_object().is_some_and(|l| {
        l.keys()
            .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
    })
}

/// The ClusterRoles for the operator itself (not those aggregated into
/// view/edit/admin).
fn operator_cluster_roles(docs: &[Value]) -> Vec<&Value> {
    find(docs, "ClusterRole")
        .into_iter()
        .filter(|r| !is_aggregated(r))
        .collect()
}

/// The one document of `kind` named `name`.
fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = find(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
}

/// The Deployment's pod spec.
fn pod_of(docs: &[Value]) -> &Value {
    &find(docs, "Deployment")[0]["spec"]["template"]["spec"]
}

/// `helm template` of the chart as release `s3c` in `s3c-system` with
/// `--set` values; the rendered documents, or the failure message.
fn render(sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut args = vec!["template", "s3c", CHART, "--namespace", "s3c-system"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    if ok { Ok(docs(&out)) } else { Err(out) }
}

fn rendered(sets: &[&str]) -> Vec<Value> {
    render(sets).unwrap_or_else(|out| panic!("helm template {sets:?} failed:\n{out}"))
}

/// The operator container's arguments.
fn args_of(docs: &[Value]) -> Vec<String> {
    let c = &find(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    serde_json::from_value(c["args"].clone()).expect("args are strings")
}

/// The values of every `--<flag>=<value>` argument, in order.
fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let prefix = format!("--{flag}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The namespaces of the RoleBindings granting the operator's ClusterRole.
fn namespaces_bound_to_the_cluster_role(docs: &[Value]) -> Vec<String> {
    find(docs, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["kind"] == "ClusterRole")
        .map(|rb| {
            assert_eq!(rb["roleRef"]["name"], "s3c-s3-connection-operator");
            assert_eq!(
                rb["subjects"],
                json!([{"kind": "ServiceAccount", "name": "s3c-s3-connection-operator", "namespace": "s3c-system"}])
            );
            rb["metadata"]["namespace"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The one rule the operator needs to name the cluster by the UID of the
/// kube-system namespace.
fn kube_system_reader_rules() -> Value {
    json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"], "verbs": ["get"]}])
}

/// The rules the operator needs, and nothing else.
fn expected_rules() -> Value {
    json!([
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections/status"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

#[test]
fn chart_lints_and_renders_least_privilege_and_a_restricted_pod() {
    let (ok, out) = helm(&["lint", CHART], None);
    assert!(ok, "helm lint failed:\n{out}");

    let (ok, out) = helm(
        &["template", "s3c", CHART, "--namespace", "s3c-system"],
        None,
    );
    assert!(ok, "helm template failed:\n{out}");
    let d = docs(&out);
    let roles = operator_cluster_roles(&d);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rules"], expected_rules());
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("\"*\""), "no wildcard anywhere");
    assert_eq!(
        find(&d, "ClusterRoleBinding").len(),
        1,
        "all namespaces by default"
    );
    let lease_role = find(&d, "Role");
    assert_eq!(
        lease_role[0]["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "patch"]}])
    );

    let deploy = find(&d, "Deployment")[0];
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args = serde_json::to_string(&c["args"]).unwrap();
    assert!(args.contains("--leader-election"), "{args}");
    assert!(
        args.contains("--lease-name=s3c-s3-connection-operator"),
        "one Lease per release: {args}"
    );
    assert!(
        !args.contains("--allow-operator-identity"),
        "off by default: {args}"
    );
    let args = args_of(&d);
    assert_eq!(flag_values(&args, "concurrency"), ["16"], "{args:?}");
    assert_eq!(
        flag_values(&args, "namespace-concurrency"),
        ["4"],
        "{args:?}"
    );
    assert_eq!(
        flag_values(&args, "validation-timeout"),
        ["60s"],
        "{args:?}"
    );
    for absent in ["allowed-endpoint", "namespace", "cluster-name"] {
        assert!(
            flag_values(&args, absent).is_empty(),
            "no --{absent} by default: {args:?}"
        );
    }

    // One namespace: a RoleBinding there instead of cluster-wide access. (With
    // a clusterName, the operator's own identity needs no cluster-wide read.)
    let (ok, out) = helm(
        &[
            "template",
            "s3c",
            CHART,
            "--namespace",
            "s3c-system",
            "--set",
            "watchNamespaces={team-a}",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "allowOperatorIdentity=true",
            "--set",
            "clusterName=prod-eu-1",
        ],
        None,
    );
    assert!(ok, "{out}");
    let d = docs(&out);
    assert!(find(&d, "ClusterRoleBinding").is_empty());
    let rb = find(&d, "RoleBinding");
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0]["metadata"]["namespace"], "team-a");
    assert!(
        find(&d, "Role").is_empty(),
        "no lease Role without leader election"
    );
    let args = serde_json::to_string(
        &find(&d, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"],
    )
    .unwrap();
    assert!(
        args.contains("--namespace=team-a") && args.contains("--allow-operator-identity"),
        "{args}"
    );
    assert!(args.contains("--cluster-name=prod-eu-1"), "{args}");
    assert_eq!(operator_cluster_roles(&d).len(), 1, "no kube-system reader");
}

#[test]
fn chart_passes_each_allowed_endpoint_as_a_flag() {
    let d = rendered(&[
        "allowedEndpoints={https://minio.example.com:9000,https://*.r2.cloudflarestorage.com,http://[fd00::1]:7480}",
    ]);
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "allowed-endpoint"),
        [
            "https://minio.example.com:9000",
            "https://*.r2.cloudflarestorage.com",
            "http://[fd00::1]:7480",
        ],
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--allowed-endpoints")),
        "{args:?}"
    );
}

#[test]
fn chart_watching_two_namespaces_binds_each_and_nothing_cluster_wide() {
    let d = rendered(&["watchNamespaces={team-a,team-b}"]);
    let roles = operator_cluster_roles(&d);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rules"], expected_rules());
    assert!(
        find(&d, "ClusterRoleBinding").is_empty(),
        "nothing bound cluster-wide"
    );
    assert_eq!(
        namespaces_bound_to_the_cluster_role(&d),
        ["team-a", "team-b"],
        "one RoleBinding in each watched namespace"
    );
    let leases = find(&d, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["kind"] == "Role")
        .collect::<Vec<_>>();
    assert_eq!(leases.len(), 1, "the leader-election RoleBinding");
    assert_eq!(leases[0]["metadata"]["namespace"], "s3c-system");
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "namespace"),
        ["team-a,team-b"],
        "{args:?}"
    );
    assert_eq!(
        flag_values(&args, "lease-namespace"),
        ["s3c-system"],
        "the Lease stays in the release namespace: {args:?}"
    );
}

#[test]
fn chart_reads_kube_system_only_for_the_operator_identity_without_a_cluster_name() {
    let reader = |d: &[Value]| -> Option<Value> {
        let roles = operator_cluster_roles(d);
        let readers: Vec<_> = roles
            .iter()
            .filter(|r| r["metadata"]["name"] != "s3c-s3-connection-operator")
            .collect();
        assert!(readers.len() <= 1, "{readers:?}");
        readers.first().map(|r| (**r).clone())
    };

    // Off, with or without a name: no reader, no flag.
    for sets in [
        &["allowOperatorIdentity=false"][..],
        &["allowOperatorIdentity=false", "clusterName=prod-eu-1"][..],
    ] {
        let d = rendered(sets);
        assert!(reader(&d).is_none(), "{sets:?}");
        let args = args_of(&d);
        assert!(flag_values(&args, "cluster-name").is_empty(), "{args:?}");
        assert!(!args.contains(&"--allow-operator-identity".to_string()));
    }

    // On, with a name: the flag, no reader.
    let d = rendered(&["allowOperatorIdentity=true", "clusterName=prod-eu-1"]);
    assert!(reader(&d).is_none());
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "cluster-name"),
        ["prod-eu-1"],
        "{args:?}"
    );
    assert!(args.contains(&"--allow-operator-identity".to_string()));

    // On, without a name: get on namespaces/kube-system and nothing else,
    // bound cluster-wide (namespaces are cluster-scoped), also when the
    // watched objects are bound per namespace.
    for sets in [
        &["allowOperatorIdentity=true"][..],
        &[
            "allowOperatorIdentity=true",
            "watchNamespaces={team-a,team-b}",
        ][..],
    ] {
        let d = rendered(sets);
        let r = reader(&d).unwrap_or_else(|| panic!("a kube-system reader for {sets:?}"));
        assert_eq!(r["rules"], kube_system_reader_rules());
        let name = r["metadata"]["name"].clone();
        let crbs = find(&d, "ClusterRoleBinding");
        let to_reader: Vec<_> = crbs
            .iter()
            .filter(|b| b["roleRef"]["name"] == name)
            .collect();
        assert_eq!(to_reader.len(), 1, "{sets:?}");
        assert_eq!(to_reader[0]["roleRef"]["kind"], "ClusterRole");
        assert_eq!(
            to_reader[0]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "s3c-s3-connection-operator", "namespace": "s3c-system"}])
        );
        let args = args_of(&d);
        assert!(flag_values(&args, "cluster-name").is_empty(), "{args:?}");
        assert!(args.contains(&"--allow-operator-identity".to_string()));
    }
    let d = rendered(&["allowOperatorIdentity=true", "watchNamespaces={team-a}"]);
    assert_eq!(
        find(&d, "ClusterRoleBinding").len(),
        1,
        "only the kube-system reader is bound cluster-wide"
    );
    assert_eq!(namespaces_bound_to_the_cluster_role(&d), ["team-a"]);
}

#[test]
fn chart_refuses_bad_values_naming_them() {
    for (set, value) in [
        (
            "allowedEndpoints={https://minio.example.com/bucket}",
            "allowedEndpoints",
        ),
        (
            "allowedEndpoints={minio.example.com:9000}",
            "allowedEndpoints",
        ),
        (
            "allowedEndpoints={https://user@minio.example.com}",
            "allowedEndpoints",
        ),
        ("watchNamespaces={Team_A}", "watchNamespaces"),
        ("watchNamespaces={team-a,team-a}", "watchNamespaces"),
        ("concurrency=0", "concurrency"),
        ("concurrency=257", "concurrency"),
        ("namespaceConcurrency=0", "namespaceConcurrency"),
        ("validationTimeout=0s", "validationTimeout"),
        ("validationTimeout=60", "validationTimeout"),
        ("clusterName=a:b", "clusterName"),
        ("revisionHistoryLimit=-1", "revisionHistoryLimit"),
        ("podDisruptionBudget.enabled=yes", "podDisruptionBudget"),
        (
            "rbac.aggregateToDefaultRoles=maybe",
            "aggregateToDefaultRoles",
        ),
        ("extraArgs[0]=", "extraArgs"),
        ("extraVolumes[0].configMap.name=ca", "extraVolumes"),
        ("extraVolumeMounts[0].name=ca", "extraVolumeMounts"),
        (
            "topologySpreadConstraints[0].maxSkew=1",
            "topologySpreadConstraints",
        ),
        (
            "topologySpreadConstraints[0].whenUnsatisfiable=Sometimes",
            "topologySpreadConstraints",
        ),
        (
            "metrics.serviceMonitor.honorLabels=sometimes",
            "honorLabels",
        ),
        (
            // Prometheus' own snake_case is not the Prometheus Operator's field.
            "metrics.serviceMonitor.relabelings[0].source_labels[0]=__name__",
            "relabelings",
        ),
        (
            "metrics.serviceMonitor.metricRelabelings[0].action=delete",
            "metricRelabelings",
        ),
        ("metrics.prometheusRule.enabled=on", "prometheusRule"),
        (
            "metrics.prometheusRule.namespace=Monitoring",
            "prometheusRule",
        ),
        ("metrics.prometheusRule.labels.release=1", "prometheusRule"),
        ("metrics.prometheusRule.severity=page", "prometheusRule"),
        (
            "metrics.grafanaDashboard.namespace=Grafana",
            "grafanaDashboard",
        ),
        (
            "metrics.grafanaDashboard.annotations.folder=1",
            "grafanaDashboard",
        ),
        (
            "metrics.grafanaDashboard.labels.grafana_dashboard=1",
            "grafanaDashboard",
        ),
    ] {
        let out = render(&[set])
            .err()
            .unwrap_or_else(|| panic!("helm template --set {set} must fail"));
        assert!(
            out.contains(value),
            "--set {set}: the message names {value}:\n{out}"
        );
        if value == "concurrency" {
            assert!(!out.contains("namespaceConcurrency"), "{out}");
        }
    }

    // The removed single-namespace value fails with a pointer to the list
    // instead of being ignored (which would watch every namespace).
    let out = render(&["watchNamespace=team-a"]).expect_err("watchNamespace was removed");
    assert!(
        out.contains("watchNamespace was removed") && out.contains("watchNamespaces={team-a}"),
        "{out}"
    );
    // Its old default (all namespaces) is what an empty list means now.
    let d = rendered(&["watchNamespace="]);
    assert_eq!(find(&d, "ClusterRoleBinding").len(), 1);
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let chart_crd = std::fs::read_to_string(Path::new(CHART).join("crds/s3connection.yaml"))
        .unwrap_or_default();
    assert!(
        chart_crd == s3_connection_operator::crd_yaml(),
        "deploy/helm/s3-connection-operator/crds/s3connection.yaml is stale: run `make crds` and commit it"
    );
}

/// The aggregated ClusterRoles, by suffix (`view`, `edit`).
fn aggregated_roles(d: &[Value]) -> BTreeMap<String, Value> {
    find(d, "ClusterRole")
        .into_iter()
        .filter(|r| is_aggregated(r))
        .map(|r| {
            let name = r["metadata"]["name"].as_str().unwrap();
            let suffix = name
                .strip_prefix("s3c-s3-connection-operator-")
                .unwrap_or_else(|| panic!("named after the release: {name}"));
            (suffix.to_string(), r.clone())
        })
        .collect()
}

fn aggregate_labels(role: &Value) -> Vec<String> {
    let mut labels: Vec<String> = role["metadata"]["labels"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        .map(|(k, v)| {
            assert_eq!(v, "true", "{k}");
            k.trim_start_matches("rbac.authorization.k8s.io/aggregate-to-")
                .to_string()
        })
        .collect();
    labels.sort();
    labels
}

#[test]
fn chart_aggregates_connection_rights_into_view_edit_and_admin_but_never_status() {
    let d = rendered(&[]);
    let roles = aggregated_roles(&d);
    assert_eq!(
        roles.keys().collect::<Vec<_>>(),
        ["edit", "view"],
        "on by default"
    );
    let view = &roles["view"];
    assert_eq!(aggregate_labels(view), ["admin", "edit", "view"]);
    assert_eq!(
        view["rules"],
        json!([{"apiGroups": ["s3connection.dev"], "resources": ["s3connections"], "verbs": ["get", "list", "watch"]}])
    );
    let edit = &roles["edit"];
    assert_eq!(aggregate_labels(edit), ["admin", "edit"]);
    assert_eq!(
        edit["rules"],
        json!([{"apiGroups": ["s3connection.dev"], "resources": ["s3connections"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]}])
    );
    for role in roles.values() {
        let rules = serde_json::to_string(&role["rules"]).unwrap();
        assert!(
            !rules.contains("status") && !rules.contains('*'),
            "people never get the status subresource, nor a wildcard: {rules}"
        );
    }
    // Aggregated, never bound by the chart.
    for binding in find(&d, "ClusterRoleBinding")
        .into_iter()
        .chain(find(&d, "RoleBinding"))
    {
        let to = binding["roleRef"]["name"].as_str().unwrap();
        assert!(!to.ends_with("-view") && !to.ends_with("-edit"), "{to}");
    }

    let d = rendered(&["rbac.aggregateToDefaultRoles=false"]);
    assert!(aggregated_roles(&d).is_empty());
    assert_eq!(operator_cluster_roles(&d).len(), 1);
}

#[test]
fn chart_pod_disruption_budget_only_with_more_than_one_replica() {
    let d = rendered(&[]);
    let pdbs = find(&d, "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 1, "two replicas by default");
    let pdb = pdbs[0];
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["metadata"]["namespace"], "s3c-system");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert_eq!(pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow");
    assert_eq!(
        pdb["spec"]["selector"],
        find(&d, "Deployment")[0]["spec"]["selector"],
        "selects exactly the Deployment's pods"
    );
    let d = rendered(&["replicaCount=5"]);
    assert_eq!(
        find(&d, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"],
        1,
        "one at a time whatever the replica count"
    );
    for sets in [
        &["replicaCount=1"][..],
        &["replicaCount=0"][..],
        &["replicaCount=3", "podDisruptionBudget.enabled=false"][..],
    ] {
        assert!(
            find(&rendered(sets), "PodDisruptionBudget").is_empty(),
            "{sets:?}"
        );
    }
}

#[test]
fn chart_spreads_pods_and_appends_extra_args_volumes_and_history_limit() {
    // Defaults: no spread constraints, the soft anti-affinity, no volumes,
    // ten old ReplicaSets, nothing appended to the arguments.
    let d = rendered(&[]);
    let pod = pod_of(&d);
    assert!(pod.get("topologySpreadConstraints").is_none());
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
            ["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert!(pod.get("volumes").is_none());
    assert!(pod["containers"][0].get("volumeMounts").is_none());
    assert_eq!(
        find(&d, "Deployment")[0]["spec"]["revisionHistoryLimit"],
        10
    );
    let default_args = args_of(&d);
    assert_eq!(
        default_args.last().unwrap(),
        "--lease-name=s3c-s3-connection-operator"
    );

    let d = rendered(&[
        "revisionHistoryLimit=3",
        // Any argument passes through (the operator judges its own flags).
        "extraArgs={--lease-duration=20,--future-flag,value}",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "topologySpreadConstraints[1].maxSkew=2",
        "topologySpreadConstraints[1].topologyKey=kubernetes.io/hostname",
        "topologySpreadConstraints[1].whenUnsatisfiable=DoNotSchedule",
        "topologySpreadConstraints[1].labelSelector.matchLabels.tier=control",
        "extraVolumes[0].name=extra-ca",
        "extraVolumes[0].configMap.name=corporate-ca-bundle",
        "extraVolumeMounts[0].name=extra-ca",
        "extraVolumeMounts[0].mountPath=/etc/ssl/extra-ca",
        "extraVolumeMounts[0].readOnly=true",
        "extraEnv[0].name=SSL_CERT_DIR",
        "extraEnv[0].value=/etc/ssl/extra-ca",
    ]);
    assert_eq!(find(&d, "Deployment")[0]["spec"]["revisionHistoryLimit"], 3);
    let args = args_of(&d);
    assert_eq!(
        args[..default_args.len()],
        default_args[..],
        "the chart's own arguments come first, unchanged"
    );
    assert_eq!(
        args[default_args.len()..],
        ["--lease-duration=20", "--future-flag", "value"],
        "extraArgs appended in order"
    );
    let pod = pod_of(&d);
    assert_eq!(
        pod["topologySpreadConstraints"],
        json!([
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "s3-connection-operator", "app.kubernetes.io/instance": "s3c"}}},
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"tier": "control"}}},
        ]),
        "a constraint without labelSelector selects this release's pods; one with its own keeps it"
    );
    assert!(
        pod["affinity"]["podAntiAffinity"].is_object(),
        "spreading does not replace the default anti-affinity"
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "extra-ca", "configMap": {"name": "corporate-ca-bundle"}}])
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "extra-ca", "mountPath": "/etc/ssl/extra-ca", "readOnly": true}])
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "SSL_CERT_DIR", "value": "/etc/ssl/extra-ca"}))
    );
}

#[test]
fn chart_extra_args_may_not_repeat_a_flag_the_chart_sets() {
    for (arg, value) in [
        ("--concurrency=3", "concurrency"),
        ("--namespace-concurrency=2", "namespaceConcurrency"),
        ("--metrics-addr=0.0.0.0:9090", "metricsPort"),
        ("--namespace=team-a", "watchNamespaces"),
        (
            "--allowed-endpoint=https://minio.example.com",
            "allowedEndpoints",
        ),
        ("--allow-operator-identity", "allowOperatorIdentity"),
        ("--lease-name=other", "leaderElection.enabled"),
        ("--validation-timeout=30s", "validationTimeout"),
        ("--log-level=debug", "logLevel"),
    ] {
        let set = format!("extraArgs={{{arg}}}");
        let out = render(&[&set]).expect_err(arg);
        let flag = arg.split('=').next().unwrap();
        assert!(
            out.contains(&format!(
                "extraArgs: {flag} is set by the chart; use the value {value}"
            )),
            "{arg}: {out}"
        );
    }
    // Flags the chart does not set pass through.
    let d = rendered(&["extraArgs={--lease-duration=30}"]);
    assert_eq!(args_of(&d).last().unwrap(), "--lease-duration=30");
}

#[test]
fn chart_service_monitor_keeps_the_operators_labels_and_relabels() {
    let d = rendered(&["metrics.serviceMonitor.enabled=true"]);
    let ep = &find(&d, "ServiceMonitor")[0]["spec"]["endpoints"][0];
    assert_eq!(
        ep["honorLabels"], true,
        "namespace/service stay the connection's"
    );
    assert!(ep.get("relabelings").is_none() && ep.get("metricRelabelings").is_none());

    let d = rendered(&[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.honorLabels=false",
        "metrics.serviceMonitor.relabelings[0].sourceLabels[0]=__meta_kubernetes_pod_node_name",
        "metrics.serviceMonitor.relabelings[0].targetLabel=node",
        "metrics.serviceMonitor.metricRelabelings[0].sourceLabels[0]=__name__",
        "metrics.serviceMonitor.metricRelabelings[0].regex=s3connection_aws_request_duration_seconds_bucket",
        "metrics.serviceMonitor.metricRelabelings[0].action=drop",
    ]);
    let ep = &find(&d, "ServiceMonitor")[0]["spec"]["endpoints"][0];
    assert_eq!(ep["honorLabels"], false);
    assert_eq!(
        ep["relabelings"],
        json!([{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}])
    );
    assert_eq!(
        ep["metricRelabelings"],
        json!([{"sourceLabels": ["__name__"], "regex": "s3connection_aws_request_duration_seconds_bucket", "action": "drop"}])
    );
}

/// files/prometheus-rules.yaml as the chart renders it for release `s3c`.
fn rules_file_for_release_s3c() -> Value {
    let text =
        std::fs::read_to_string(Path::new(CHART).join("files/prometheus-rules.yaml")).unwrap();
    serde_yaml::from_str(&text.replace("__JOB__", "s3c-s3-connection-operator-metrics")).unwrap()
}

#[test]
fn chart_prometheus_rule_renders_the_alerts_file_for_this_release() {
    assert!(
        find(&rendered(&[]), "PrometheusRule").is_empty(),
        "off by default"
    );

    let d = rendered(&["metrics.prometheusRule.enabled=true"]);
    let rule = named(&d, "PrometheusRule", "s3c-s3-connection-operator");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "s3c-system");
    assert_eq!(
        rule["spec"],
        rules_file_for_release_s3c(),
        "one source: files/prometheus-rules.yaml"
    );
    let alerts: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let names: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "S3ConnectionNotReady",
            "S3ConnectionValidationStale",
            "S3ConnectionOperatorDown",
            "S3ConnectionOperatorNotLeading"
        ]
    );
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        let expr = a["expr"].as_str().unwrap();
        assert!(
            expr.contains(r#"job="s3c-s3-connection-operator-metrics""#)
                && !expr.contains("__JOB__"),
            "{name} selects this release's job: {expr}"
        );
        assert!(
            ["warning", "critical"].contains(&a["labels"]["severity"].as_str().unwrap_or_default()),
            "{name}: severity"
        );
        for annotation in ["summary", "description"] {
            let text = a["annotations"][annotation].as_str().unwrap_or_default();
            assert!(!text.is_empty(), "{name}: {annotation}");
            assert!(!text.contains("__JOB__"), "{name}: {annotation}");
            if expr.contains("by (namespace, name") {
                assert!(
                    text.contains("{{ $labels.namespace }}/{{ $labels.name }}"),
                    "{name}: {annotation} names the connection: {text}"
                );
            }
        }
        assert!(
            a["for"].as_str().is_some_and(|f| f.ends_with('m')),
            "{name}"
        );
    }
    let not_ready = alerts[0];
    assert_eq!(not_ready["for"], "15m");
    assert!(
        not_ready["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("{{ $labels.reason }}")
    );

    // Another namespace, extra labels.
    let d = rendered(&[
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.namespace=monitoring",
        "metrics.prometheusRule.labels.release=kube-prometheus-stack",
    ]);
    let rule = find(&d, "PrometheusRule")[0];
    assert_eq!(rule["metadata"]["namespace"], "monitoring");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        rule["metadata"]["labels"]["app.kubernetes.io/instance"],
        "s3c"
    );
}

#[test]
fn chart_grafana_dashboard_is_the_dashboard_file_in_a_sidecar_configmap() {
    assert!(
        find(&rendered(&[]), "ConfigMap").is_empty(),
        "off by default"
    );
    let file =
        std::fs::read_to_string(Path::new(CHART).join("files/grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&file).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "s3-connection-operator");

    let d = rendered(&["metrics.grafanaDashboard.enabled=true"]);
    let cm = named(&d, "ConfigMap", "s3c-s3-connection-operator-dashboard");
    assert_eq!(cm["metadata"]["namespace"], "s3c-system");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert!(cm["metadata"].get("annotations").is_none());
    let data = cm["data"].as_object().unwrap();
    assert_eq!(data.len(), 1);
    let json_text = data["s3-connection-operator.json"].as_str().unwrap();
    assert_eq!(json_text, file.trim_end(), "the file, as is");

    let d = rendered(&[
        "metrics.grafanaDashboard.enabled=true",
        "metrics.grafanaDashboard.namespace=grafana",
        "metrics.grafanaDashboard.labels.team=platform",
        "metrics.grafanaDashboard.annotations.grafana_folder=Operators",
    ]);
    let cm = find(&d, "ConfigMap")[0];
    assert_eq!(cm["metadata"]["namespace"], "grafana");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1", "kept");
    assert_eq!(cm["metadata"]["labels"]["team"], "platform");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Operators");
    let d = rendered(&[
        "metrics.grafanaDashboard.enabled=true",
        "metrics.grafanaDashboard.labels.grafana_dashboard=null",
        "metrics.grafanaDashboard.labels.dashboards=s3",
    ]);
    let labels = &find(&d, "ConfigMap")[0]["metadata"]["labels"];
    assert!(labels.get("grafana_dashboard").is_none(), "{labels}");
    assert_eq!(labels["dashboards"], "s3");
}

#[test]
fn chart_renders_with_every_feature_on() {
    let (ok, out) = helm(
        &[
            "lint",
            CHART,
            "--set",
            "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true",
        ],
        None,
    );
    assert!(ok, "helm lint with monitoring on:\n{out}");
    let d = rendered(&[
        "replicaCount=3",
        "revisionHistoryLimit=5",
        "podDisruptionBudget.enabled=true",
        "rbac.aggregateToDefaultRoles=true",
        "watchNamespaces={team-a,team-b}",
        "allowOperatorIdentity=true",
        "allowedEndpoints={https://minio.example.com:9000}",
        "extraArgs={--lease-duration=20}",
        "extraEnv[0].name=SSL_CERT_DIR",
        "extraEnv[0].value=/etc/ssl/extra-ca",
        "extraVolumes[0].name=extra-ca",
        "extraVolumes[0].configMap.name=corporate-ca-bundle",
        "extraVolumeMounts[0].name=extra-ca",
        "extraVolumeMounts[0].mountPath=/etc/ssl/extra-ca",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.relabelings[0].sourceLabels[0]=__meta_kubernetes_pod_node_name",
        "metrics.serviceMonitor.relabelings[0].targetLabel=node",
        "metrics.serviceMonitor.metricRelabelings[0].sourceLabels[0]=__name__",
        "metrics.serviceMonitor.metricRelabelings[0].regex=process_.*",
        "metrics.serviceMonitor.metricRelabelings[0].action=keep",
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=prometheus",
        "metrics.grafanaDashboard.enabled=true",
    ]);
    let kinds: std::collections::BTreeSet<&str> =
        d.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    for kind in [
        "Deployment",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "RoleBinding",
        "Role",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    assert_eq!(aggregated_roles(&d).len(), 2);
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("\"*\""), "no wildcard anywhere");
}

/// A release of the chart.
struct Installed {
    /// The release namespace.
    namespace: String,
    /// The release name, which is also the name of its ServiceAccount and
    /// ClusterRole (`fullnameOverride`).
    release: String,
    /// What `helm install` printed (the chart's NOTES among it).
    notes: String,
}

/// Install the chart into a fresh namespace, watching `tenants`, with extra
/// `--set` values.
async fn install(env: &TestEnv, tenants: &[&str], sets: &[&str]) -> Installed {
    let ns = env.namespace("s3c-system").await;
    // Pods here must meet the restricted Pod Security Standard; the API
    // server warns on any Deployment whose pod template would not.
    let labels = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted"
    }}});
    Api::<Namespace>::all(env.kube.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(labels))
        .await
        .unwrap();
    let name = unique("op");
    let fullname = format!("fullnameOverride={name}");
    let watch = format!("watchNamespaces={{{}}}", tenants.join(","));
    let mut args = vec![
        "install",
        &name,
        CHART,
        "--namespace",
        &ns,
        "--set",
        &fullname,
        "--set",
        &watch,
        "--wait=false",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, Some(&env.kubeconfig));
    assert!(ok, "helm install failed:\n{out}");
    env.remember_helm_release(&name, &ns);
    assert!(
        !out.contains("PodSecurity"),
        "pod template violates the restricted standard:\n{out}"
    );
    let deploy: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.kube.clone(), &ns);
    let d = deploy.get(&name).await.expect("Deployment created");
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    Installed {
        namespace: ns,
        release: name,
        notes: out,
    }
}

async fn uninstall(env: &TestEnv, release: &str, ns: &str) {
    let (ok, out) = helm(
        &["uninstall", release, "--namespace", ns],
        Some(&env.kubeconfig),
    );
    assert!(ok, "{out}");
}

/// A client and a kubeconfig file authenticating as a ServiceAccount.
struct Login {
    client: Client,
    kubeconfig: PathBuf,
}

async fn as_service_account(env: &TestEnv, ns: &str, sa: &str, dir: &Path) -> Login {
    let tr = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(env.kube.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &tr)
        .await
        .expect("token for the chart's ServiceAccount")
        .status
        .unwrap()
        .token;
    let server = std::env::var("S3C_APISERVER_URL").expect("S3C_APISERVER_URL");
    let ca = std::env::var("S3C_CA_CERT").expect("S3C_CA_CERT");
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": sa}}],
        "current-context": "sa",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Login {
        client: Client::try_from(config).unwrap(),
        kubeconfig: path,
    }
}

async fn can(client: &Client, ns: &str, verb: &str, group: &str, resource: &str) -> bool {
    allowed(
        client,
        ResourceAttributes {
            namespace: Some(ns.into()),
            verb: Some(verb.into()),
            group: Some(group.into()),
            resource: Some(resource.into()),
            ..Default::default()
        },
    )
    .await
}

/// Whether `client` may get the (cluster-scoped) namespace `name`.
async fn can_get_namespace(client: &Client, name: &str) -> bool {
    allowed(
        client,
        ResourceAttributes {
            verb: Some("get".into()),
            group: Some(String::new()),
            resource: Some("namespaces".into()),
            name: Some(name.into()),
            ..Default::default()
        },
    )
    .await
}

/// What a SelfSubjectAccessReview says about `attributes`.
async fn allowed(client: &Client, attributes: ResourceAttributes) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(attributes),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

async fn tenant_with_connection(env: &TestEnv, tenant: &str) -> String {
    let bucket = env.bucket("install").await;
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env.user("install", s3_policy(&bucket, "", &ALL)).await;
    env.secret(
        tenant,
        "creds",
        &[("AWS_ACCESS_KEY_ID", &ak), ("AWS_SECRET_ACCESS_KEY", &sk)],
    )
    .await;
    env.apply_connection(tenant, "data", env.access_key_spec(&bucket, "creds"))
        .await;
    bucket
}

#[tokio::test]
async fn operator_runs_with_only_the_charts_permissions() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("tenant").await;
    let second = env.namespace("tenant-b").await;
    let Installed {
        namespace: ns,
        release: sa,
        notes,
    } = install(&env, &[&tenant, &second], &[]).await;
    // The NOTES name the Lease the operator really uses.
    let deployment =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.kube.clone(), &ns)
            .get(&sa)
            .await
            .unwrap();
    let args = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    let lease = flag_values(&args, "lease-name");
    assert_eq!(lease, std::slice::from_ref(&sa), "{args:?}");
    assert!(
        notes.contains(&format!(
            "leader election on Lease \"{}\" in \"{ns}\"",
            lease[0]
        )) && notes.contains(&format!("get lease {}", lease[0])),
        "NOTES name the Lease {}:\n{notes}",
        lease[0]
    );
    let dir = tempfile::tempdir().unwrap();
    let Login { client, kubeconfig } = as_service_account(&env, &ns, &sa, dir.path()).await;

    // What the ServiceAccount may and may not do.
    assert!(can(&client, &tenant, "get", "", "secrets").await);
    assert!(
        can(&client, &second, "get", "", "secrets").await,
        "every watched namespace is bound"
    );
    assert!(
        !can_get_namespace(&client, "kube-system").await,
        "no cluster-wide read without allowOperatorIdentity"
    );
    assert!(
        can(
            &client,
            &tenant,
            "patch",
            "s3connection.dev",
            "s3connections/status"
        )
        .await
    );
    assert!(can(&client, &ns, "patch", "coordination.k8s.io", "leases").await);
    for (verb, group, resource) in [
        ("update", "s3connection.dev", "s3connections"),
        ("delete", "s3connection.dev", "s3connections"),
        ("create", "", "secrets"),
        ("delete", "", "secrets"),
        ("list", "", "pods"),
        ("get", "", "configmaps"),
        ("create", "", "serviceaccounts"),
        ("delete", "coordination.k8s.io", "leases"),
    ] {
        assert!(
            !can(&client, &tenant, verb, group, resource).await,
            "must not {verb} {resource}"
        );
    }
    // Outside the watched namespace it reads nothing.
    assert!(!can(&client, "default", "get", "", "secrets").await);

    tenant_with_connection(&env, &tenant).await;
    let kc = kubeconfig.to_str().unwrap();
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--leader-election", "--lease-namespace", &ns],
        &[("KUBECONFIG", kc), ("POD_NAME", "installed-operator")],
    )
    .await;
    let c = env
        .wait_ready(&tenant, "data", "True", Some("Validated"))
        .await;
    assert_eq!(c.status.unwrap().auth.as_deref(), Some("AccessKey"));
    assert!(
        !op.log().contains("forbidden"),
        "no RBAC error:\n{}",
        op.log()
    );
    uninstall(&env, &sa, &ns).await;
}

/// Whether `client` may `verb` S3Connections (or their `subresource`) in `ns`.
async fn can_connections(client: &Client, ns: &str, verb: &str, subresource: &str) -> bool {
    allowed(
        client,
        ResourceAttributes {
            namespace: Some(ns.into()),
            verb: Some(verb.into()),
            group: Some("s3connection.dev".into()),
            resource: Some("s3connections".into()),
            subresource: (!subresource.is_empty()).then(|| subresource.into()),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_roles_for_people_give_connections_but_never_their_status() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("people").await;
    let Installed {
        namespace: ns,
        release,
        ..
    } = install(&env, &[&tenant], &[]).await;
    // The test API server runs no controller-manager to aggregate them into
    // view/edit/admin, so bind each in the tenant namespace the way a
    // RoleBinding to `view` or `edit` would reach it.
    let bindings: Api<RoleBinding> = Api::namespaced(env.kube.clone(), &tenant);
    let dir = tempfile::tempdir().unwrap();
    let mut clients = BTreeMap::new();
    for kind in ["view", "edit"] {
        let sa = format!("{kind}er");
        env.service_account(&tenant, &sa, &[]).await;
        let rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": &sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{release}-{kind}")},
            "subjects": [{"kind": "ServiceAccount", "name": &sa, "namespace": &tenant}],
        }))
        .unwrap();
        bindings.create(&PostParams::default(), &rb).await.unwrap();
        let sub = dir.path().join(kind);
        std::fs::create_dir(&sub).unwrap();
        clients.insert(
            kind,
            as_service_account(&env, &tenant, &sa, &sub).await.client,
        );
    }
    let (viewer, editor) = (&clients["view"], &clients["edit"]);
    for verb in ["get", "list", "watch"] {
        assert!(
            can_connections(viewer, &tenant, verb, "").await,
            "view may {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert!(
            !can_connections(viewer, &tenant, verb, "").await,
            "view may not {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for client in [viewer, editor] {
        for verb in ["update", "patch"] {
            assert!(
                !can_connections(client, &tenant, verb, "status").await,
                "only the operator writes status ({verb})"
            );
        }
        assert!(
            !can_connections(client, "default", "get", "").await,
            "only where bound"
        );
        assert!(!can(client, &tenant, "get", "", "secrets").await);
    }
    uninstall(&env, &release, &ns).await;
}

#[tokio::test]
async fn the_operator_identity_without_a_cluster_name_reads_only_kube_system() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("clusterid").await;
    let Installed {
        namespace: ns,
        release: sa,
        ..
    } = install(&env, &[&tenant], &["allowOperatorIdentity=true"]).await;
    let dir = tempfile::tempdir().unwrap();
    let Login { client, kubeconfig } = as_service_account(&env, &ns, &sa, dir.path()).await;
    // What the operator reads at startup to name the cluster: allowed, and
    // the real object is there.
    assert!(can_get_namespace(&client, "kube-system").await);
    let uid = Api::<Namespace>::all(client.clone())
        .get("kube-system")
        .await
        .expect("the ServiceAccount reads namespaces/kube-system")
        .metadata
        .uid
        .expect("a UID");
    assert!(!uid.is_empty());
    // The operator starts with its own identity allowed and names the
    // cluster by that UID.
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--allow-operator-identity"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    assert!(
        op.log().contains(&uid),
        "cluster named by the kube-system UID:\n{}",
        op.log()
    );
    assert!(!op.log().contains("forbidden"), "{}", op.log());
    // Nothing else cluster-wide.
    assert!(!can_get_namespace(&client, "default").await);
    assert!(!can_get_namespace(&client, &tenant).await);
    assert!(!can(&client, "", "list", "", "namespaces").await);
    assert!(!can(&client, "default", "get", "", "secrets").await);
    assert!(!can(&client, "kube-system", "get", "", "secrets").await);
    assert!(can(&client, &tenant, "get", "", "secrets").await);
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn a_missing_rule_is_reported_clearly_in_the_log() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("norule").await;
    let Installed {
        namespace: ns,
        release: sa,
        ..
    } = install(&env, &[&tenant], &[]).await;
    let role = sa.clone();
    // Take away reading Secrets.
    let roles: Api<ClusterRole> = Api::all(env.kube.clone());
    let mut cr = roles.get(&role).await.unwrap();
    cr.rules
        .as_mut()
        .unwrap()
        .retain(|r| r.resources.as_deref() != Some(&["secrets".to_string()][..]));
    cr.metadata.managed_fields = None;
    roles
        .replace(&role, &PostParams::default(), &cr)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = as_service_account(&env, &ns, &sa, dir.path())
        .await
        .kubeconfig;
    tenant_with_connection(&env, &tenant).await;
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;

    // The log names the failed call and points at RBAC, within seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = op.log();
        if log.contains("get Secret") && log.contains("forbidden") && log.contains("RBAC") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no clear RBAC error in the log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c = env.connections(&tenant).get("data").await.unwrap();
    assert!(
        crate::harness::ready_of(&c).is_none_or(|r| r.status != "True"),
        "never Ready without proof"
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn without_any_rights_the_operator_says_so_and_still_stops_on_sigterm() {
    let env = TestEnv::new().await;
    let ns = env.namespace("norights").await;
    env.service_account(&ns, "nobody", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = as_service_account(&env, &ns, "nobody", dir.path())
        .await
        .kubeconfig;
    let mut op = Operator::spawn(
        &env,
        Some(&ns),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    op.wait_for_log("forbidden", Duration::from_secs(30)).await;
    let (code, _) = op.get("/readyz").await.unwrap();
    assert_eq!(code, 503, "not ready without a synced cache");
    op.signal_term();
    let status = op.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", op.log());
    assert!(
        op.log().contains("stopping before the cache synced"),
        "{}",
        op.log()
    );
}
