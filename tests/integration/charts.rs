//! The Helm chart without a cluster: it lints, renders least-privilege RBAC
//! and a restricted pod, turns its values into the operator's flags, refuses
//! bad values by name, and says in its NOTES what an install does.

use std::collections::BTreeMap;
use std::path::Path;

use crate::chart::{
    CHART, args_of, docs, find, flag_values, helm, named, pod_of, render, rendered,
};
use serde_json::{Value, json};

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

/// Every kind of object the chart can render is in `d` (rendered with
/// every feature on).
fn assert_every_kind(d: &[Value]) {
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
    assert_every_kind(&d);
    assert_eq!(aggregated_roles(&d).len(), 2);
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("\"*\""), "no wildcard anywhere");
}

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
    let c = container_of(&d);
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(c[probe]["httpGet"].get("host").is_none(), "{probe}: {c}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
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
        "hostNetwork=true,metricsBindAddress=127.0.0.1,metricsPort=18080,probes.host=127.0.0.1",
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
    let c = container_of(&d);
    assert_eq!(c["ports"][0]["containerPort"], 18080);
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["host"], "127.0.0.1", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
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

/// The chart's NOTES as `helm install` prints them for release `s3c` in
/// `s3c-system`, rendered without a cluster: `helm template` never renders
/// NOTES.txt, so a copy of the chart gets a template that carries its text.
fn notes(sets: &[&str]) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("s3-connection-operator");
    copy(Path::new(CHART), &chart);
    let text = std::fs::read_to_string(chart.join("templates/NOTES.txt")).unwrap();
    std::fs::write(
        chart.join("templates/_notes_as_value.tpl"),
        format!("{{{{- define \"test.notes\" -}}}}\n{text}{{{{- end }}}}\n"),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/notes-as-value.yaml"),
        "notes: {{ include \"test.notes\" . | toJson }}\n",
    )
    .unwrap();
    let chart = chart.to_str().unwrap();
    let mut args = vec![
        "template",
        "s3c",
        chart,
        "--namespace",
        "s3c-system",
        "--show-only",
        "templates/notes-as-value.yaml",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    assert!(ok, "helm template {sets:?}:\n{out}");
    docs(&out)[0]["notes"].as_str().unwrap().to_string()
}

#[test]
fn chart_notes_say_where_metrics_are_and_what_host_network_changes() {
    let n = notes(&[]);
    assert!(
        n.contains("Network:    the pod network: /metrics, /healthz and /readyz on 0.0.0.0:8080 of each pod"),
        "{n}"
    );
    assert!(
        n.contains("Monitoring: Service \"s3c-s3-connection-operator-metrics\" port 8080"),
        "{n}"
    );
    assert!(!n.contains("hostNetwork"), "{n}");
    assert!(
        n.contains("Image:      ghcr.io/s3-connection-operator/s3-connection-operator:0.1.0\n"),
        "{n}"
    );

    let digest = format!("image.digest=sha256:{}", "ab".repeat(32));
    let n = notes(&[
        "hostNetwork=true",
        "metricsBindAddress=127.0.0.1",
        "probes.host=127.0.0.1",
        "metricsPort=18080",
        &digest,
    ]);
    for expected in [
        "Network:    the node's network (hostNetwork): /metrics, /healthz and /readyz on 127.0.0.1:18080 of each node running a pod",
        "must allow privileged pods",
        "Each pod holds port 18080 on its node",
        "the new pod stays Pending",
        "The metrics Service cannot reach 127.0.0.1:18080 (loopback)",
        &format!(":0.1.0@sha256:{}", "ab".repeat(32)),
    ] {
        assert!(n.contains(expected), "NOTES say {expected:?}:\n{n}");
    }

    // The old pod goes first, and no Service: nothing to warn about there.
    let n = notes(&[
        "hostNetwork=true",
        "updateStrategy.rollingUpdate.maxSurge=0",
        "updateStrategy.rollingUpdate.maxUnavailable=1",
        "metrics.service.enabled=false",
    ]);
    assert!(n.contains("must allow privileged pods"), "{n}");
    assert!(n.contains("Monitoring: no metrics Service"), "{n}");
    assert!(!n.contains("stays Pending"), "{n}");
    assert!(!n.contains("cannot reach"), "{n}");
}
