//! Monitoring: the ServiceMonitor, the PrometheusRule and the Grafana
//! dashboard ConfigMap, rendered from the chart's files; and every object
//! kind rendered with every feature on.

use std::path::Path;

use serde_json::{Value, json};
use testkit::chart::{CHART, find, helm, named, rendered};

use super::rbac::aggregated_roles;

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
    yaml_serde::from_str(&text.replace("__JOB__", "s3c-s3-connection-operator-metrics")).unwrap()
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
pub(super) fn assert_every_kind(d: &[Value]) {
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
        "NetworkPolicy",
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
