//! RBAC: the operator's ClusterRole with the rules it needs and nothing
//! else, bound per watched namespace or cluster-wide, the kube-system reader
//! only when the operator's identity must name the cluster, and the
//! aggregated roles for people.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use testkit::chart::{CHART, args_of, docs, find, flag_values, helm, named, rendered};

/// Whether a ClusterRole is aggregated into a built-in role (rights for
/// people, not for the operator).
fn is_aggregated(role: &Value) -> bool {
    role["metadata"]["labels"].as_object().is_some_and(|l| {
        l.keys()
            .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
    })
}

/// Whether an object belongs to the secure /metrics (its own ClusterRoles
/// and bindings: charts/metrics.rs).
pub(super) fn is_metrics(object: &Value) -> bool {
    object["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
}

/// The ClusterRoles for the operator itself (not those aggregated into
/// view/edit/admin, nor those of the secure /metrics).
pub(super) fn operator_cluster_roles(docs: &[Value]) -> Vec<&Value> {
    find(docs, "ClusterRole")
        .into_iter()
        .filter(|r| !is_aggregated(r) && !is_metrics(r))
        .collect()
}

/// The ClusterRoleBindings but those of the secure /metrics.
pub(super) fn cluster_role_bindings(docs: &[Value]) -> Vec<&Value> {
    find(docs, "ClusterRoleBinding")
        .into_iter()
        .filter(|b| !is_metrics(b))
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
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections/status"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

/// The probe marker's key: only its one Secret read, Secrets created only in
/// the release namespace, and the operator told its name.
fn assert_probe_key_role(d: &[Value]) {
    let name = "s3c-s3-connection-operator-probe-key";
    let role = named(d, "Role", name);
    assert_eq!(role["metadata"]["namespace"], "s3c-system");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [name], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ])
    );
    let rb = named(d, "RoleBinding", name);
    assert_eq!(rb["roleRef"]["kind"], "Role");
    assert_eq!(rb["metadata"]["namespace"], "s3c-system");
    assert_eq!(flag_values(&args_of(d), "probe-key-secret"), [name]);
    assert!(find(d, "Secret").is_empty(), "the chart renders no key");
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
        cluster_role_bindings(&d).len(),
        1,
        "all namespaces by default"
    );
    let lease_role = named(&d, "Role", "s3c-s3-connection-operator-leader-election");
    assert_eq!(
        lease_role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "patch"]}])
    );
    assert_probe_key_role(&d);

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
        flag_values(&args, "validation-timeout"),
        ["60s"],
        "{args:?}"
    );
    // S3 Standard in US East (N. Virginia), as the operator's own defaults.
    for (flag, price) in [
        ("price-tier1-per-thousand", "0.005"),
        ("price-tier2-per-thousand", "0.0004"),
    ] {
        assert_eq!(flag_values(&args, flag), [price], "{args:?}");
    }
    for absent in [
        "allowed-endpoint",
        "namespace",
        "cluster-name",
        "namespace-concurrency",
    ] {
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
    assert!(cluster_role_bindings(&d).is_empty());
    let rb: Vec<_> = find(&d, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["kind"] == "ClusterRole")
        .collect();
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0]["metadata"]["namespace"], "team-a");
    assert_eq!(
        find(&d, "Role").len(),
        1,
        "no lease Role without leader election"
    );
    assert_probe_key_role(&d);
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
fn chart_watching_two_namespaces_binds_each_and_nothing_cluster_wide() {
    let d = rendered(&["watchNamespaces={team-a,team-b}"]);
    let roles = operator_cluster_roles(&d);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rules"], expected_rules());
    assert!(
        cluster_role_bindings(&d).is_empty(),
        "nothing bound cluster-wide"
    );
    assert_eq!(
        namespaces_bound_to_the_cluster_role(&d),
        ["team-a", "team-b"],
        "one RoleBinding in each watched namespace"
    );
    let leases = find(&d, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["name"] == "s3c-s3-connection-operator-leader-election")
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
        let crbs = cluster_role_bindings(&d);
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
        cluster_role_bindings(&d).len(),
        1,
        "only the kube-system reader is bound cluster-wide"
    );
    assert_eq!(namespaces_bound_to_the_cluster_role(&d), ["team-a"]);
}

/// The aggregated ClusterRoles, by suffix (`view`, `edit`).
pub(super) fn aggregated_roles(d: &[Value]) -> BTreeMap<String, Value> {
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
    for binding in cluster_role_bindings(&d)
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
