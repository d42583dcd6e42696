//! Values that become the operator's flags and the Deployment's fields:
//! allowed endpoints, spread constraints, extra arguments, volumes, the
//! disruption budget; bad values refused by name; the chart's CRD.

use std::path::Path;

use serde_json::json;
use testkit::chart::{CHART, args_of, find, flag_values, pod_of, render, rendered};

#[test]
fn chart_passes_each_allowed_endpoint_as_a_flag() {
    let d = rendered(&[
        "allowedEndpoints={https://minio.example.com:9000;audience=minio,https://*.r2.cloudflarestorage.com,http://[fd00::1]:7480}",
    ]);
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "allowed-endpoint"),
        [
            "https://minio.example.com:9000;audience=minio",
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
fn chart_passes_the_price_table_as_flags() {
    // `--set` gives strings, a values file numbers: both are prices.
    let d = rendered(&[
        "cost.prices.tier1PerThousand=0.0055",
        "cost.prices.tier2PerThousand=0",
    ]);
    let args = args_of(&d);
    assert_eq!(flag_values(&args, "price-tier1-per-thousand"), ["0.0055"]);
    assert_eq!(flag_values(&args, "price-tier2-per-thousand"), ["0"]);
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
        (
            "allowedEndpoints={https://minio.example.com;audience=a b}",
            "allowedEndpoints",
        ),
        (
            "allowedEndpoints={https://minio.example.com;client=minio}",
            "allowedEndpoints",
        ),
        ("watchNamespaces={Team_A}", "watchNamespaces"),
        ("watchNamespaces={team-a,team-a}", "watchNamespaces"),
        ("concurrency=0", "concurrency"),
        ("concurrency=257", "concurrency"),
        ("validationTimeout=0s", "validationTimeout"),
        ("validationTimeout=60", "validationTimeout"),
        ("cost.prices.tier1PerThousand=-1", "tier1PerThousand"),
        ("cost.prices.tier2PerThousand=cheap", "tier2PerThousand"),
        ("cost.prices.tier2PerThousand=1001", "tier2PerThousand"),
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
    assert_eq!(super::rbac::cluster_role_bindings(&d).len(), 1);

    // So is the per-namespace line: any value of it fails, naming what
    // replaces it.
    for set in ["namespaceConcurrency=4", "namespaceConcurrency=0"] {
        let out = render(&[set]).expect_err("namespaceConcurrency was removed");
        assert!(
            out.contains("namespaceConcurrency was removed") && out.contains("set concurrency"),
            "{out}"
        );
    }
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
        ("--metrics-addr=0.0.0.0:9090", "metricsPort"),
        ("--namespace=team-a", "watchNamespaces"),
        ("--watch-label-selector=a", "shard.labelSelector"),
        (
            "--allowed-endpoint=https://minio.example.com",
            "allowedEndpoints",
        ),
        ("--allow-operator-identity", "allowOperatorIdentity"),
        ("--lease-name=other", "leaderElection.enabled"),
        ("--validation-timeout=30s", "validationTimeout"),
        (
            "--price-tier1-per-thousand=0.01",
            "cost.prices.tier1PerThousand",
        ),
        ("--log-level=debug", "logLevel"),
        ("--require-credentials-label", "requireCredentialsLabel"),
        ("--health-addr=0.0.0.0:9000", "healthPort"),
        ("--metrics-secure=false", "metrics.secure.enabled"),
        ("--metrics-cert-dir=/tmp", "metrics.secure.certSecret"),
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
fn chart_requires_the_credentials_label_only_when_asked() {
    let flag = "--require-credentials-label".to_string();
    assert!(!args_of(&rendered(&[])).contains(&flag));
    assert!(args_of(&rendered(&["requireCredentialsLabel=true"])).contains(&flag));
    assert!(
        render(&["requireCredentialsLabel=yes"]).is_err(),
        "a boolean"
    );
}
