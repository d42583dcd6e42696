//! /metrics over HTTPS: the flags, the operator's right to review tokens
//! (bound cluster-wide: reviews are cluster-scoped), the scrapers' reader
//! ClusterRole, the ServiceMonitor's token and TLS, and the NetworkPolicy
//! that admits only the scraper and the API server. Nothing here enforces
//! NetworkPolicy (no pod network): its rendering and schema are what is
//! tested; the install test (install/metrics.rs) has the API server accept
//! it.

use serde_json::{Value, json};
use testkit::chart::{args_of, find, flag_values, named, pod_of, render, rendered};

const OPERATOR_SA: &str = "s3c-s3-connection-operator";

fn operator_subject() -> Value {
    json!([{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": "s3c-system"}])
}

#[test]
fn chart_serves_metrics_over_https_and_lets_the_operator_review_tokens() {
    // On by default, bound cluster-wide also when watching some namespaces.
    for sets in [&[][..], &["watchNamespaces={team-a}"][..]] {
        let d = rendered(sets);
        let args = args_of(&d);
        assert_eq!(flag_values(&args, "metrics-secure"), ["true"], "{sets:?}");
        assert!(
            flag_values(&args, "metrics-cert-dir").is_empty(),
            "self-signed"
        );
        let auth = named(&d, "ClusterRole", "s3c-s3-connection-operator-metrics-auth");
        assert_eq!(
            auth["rules"],
            json!([
                {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            ])
        );
        let binding = named(
            &d,
            "ClusterRoleBinding",
            "s3c-s3-connection-operator-metrics-auth",
        );
        assert_eq!(binding["roleRef"]["name"], auth["metadata"]["name"]);
        assert_eq!(binding["subjects"], operator_subject());
        let reader = named(
            &d,
            "ClusterRole",
            "s3c-s3-connection-operator-metrics-reader",
        );
        assert_eq!(
            reader["rules"],
            json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
        );
        assert!(
            find(&d, "ClusterRoleBinding")
                .iter()
                .all(|b| b["roleRef"]["name"] != reader["metadata"]["name"]),
            "the reader role is bound by whoever scrapes, unless told"
        );
    }

    // The scrapers named: one binding to the reader role.
    let d = rendered(&[
        "metrics.reader.serviceAccounts[0].name=prometheus-k8s",
        "metrics.reader.serviceAccounts[0].namespace=monitoring",
    ]);
    let binding = named(
        &d,
        "ClusterRoleBinding",
        "s3c-s3-connection-operator-metrics-reader",
    );
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}])
    );

    // Off: plain HTTP, and no review rights.
    let d = rendered(&[
        "metrics.secure.enabled=false",
        "metrics.reader.create=false",
    ]);
    assert_eq!(flag_values(&args_of(&d), "metrics-secure"), ["false"]);
    let roles = find(&d, "ClusterRole");
    assert!(
        roles.iter().all(|r| !r["metadata"]["name"]
            .as_str()
            .unwrap()
            .contains("-metrics-")),
        "{roles:?}"
    );
}

#[test]
fn chart_mounts_a_certificate_secret_for_metrics() {
    let d = rendered(&["metrics.secure.certSecret=operator-metrics-tls"]);
    let dir = "/etc/s3-connection-operator/metrics-tls";
    assert_eq!(flag_values(&args_of(&d), "metrics-cert-dir"), [dir]);
    let pod = pod_of(&d);
    assert_eq!(
        pod["volumes"][0],
        json!({"name": "metrics-tls", "secret": {"secretName": "operator-metrics-tls",
            "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}})
    );
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0],
        json!({"name": "metrics-tls", "mountPath": dir, "readOnly": true})
    );
    // With the user's own volumes too.
    let d = rendered(&[
        "metrics.secure.certSecret=operator-metrics-tls",
        "extraVolumes[0].name=extra-ca",
        "extraVolumes[0].configMap.name=corporate-ca-bundle",
        "extraVolumeMounts[0].name=extra-ca",
        "extraVolumeMounts[0].mountPath=/etc/ssl/extra-ca",
    ]);
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    let pod = pod_of(&d);
    assert_eq!(names(&pod["volumes"]), ["metrics-tls", "extra-ca"]);
    assert_eq!(
        names(&pod["containers"][0]["volumeMounts"]),
        ["metrics-tls", "extra-ca"]
    );
    // A Secret name is checked by the schema.
    let out = render(&["metrics.secure.certSecret=Not_A_Name"]).expect_err("bad name");
    assert!(out.contains("certSecret"), "{out}");
}

#[test]
fn chart_service_monitor_scrapes_with_its_token_over_tls() {
    let endpoint = |sets: &[&str]| -> Value {
        let mut all = vec!["metrics.serviceMonitor.enabled=true"];
        all.extend(sets);
        find(&rendered(&all), "ServiceMonitor")[0]["spec"]["endpoints"][0].clone()
    };
    let token = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    // Self-signed: nothing to verify against.
    let ep = endpoint(&[]);
    assert_eq!(ep["scheme"], "https");
    assert_eq!(ep["bearerTokenFile"], token);
    assert_eq!(ep["tlsConfig"], json!({"insecureSkipVerify": true}));

    // A certificate Secret: verified with its CA, for the Service's name.
    let ep = endpoint(&["metrics.secure.certSecret=operator-metrics-tls"]);
    assert_eq!(
        ep["tlsConfig"],
        json!({"serverName": "s3c-s3-connection-operator-metrics.s3c-system.svc",
               "ca": {"secret": {"name": "operator-metrics-tls", "key": "ca.crt"}}})
    );

    // The user's own tlsConfig wins.
    let ep = endpoint(&[
        "metrics.serviceMonitor.tlsConfig.serverName=metrics.example",
        "metrics.serviceMonitor.tlsConfig.ca.configMap.name=ca",
        "metrics.serviceMonitor.tlsConfig.ca.configMap.key=ca.crt",
    ]);
    assert_eq!(
        ep["tlsConfig"],
        json!({"serverName": "metrics.example", "ca": {"configMap": {"name": "ca", "key": "ca.crt"}}})
    );

    // Plain: no scheme, no token sent.
    let ep = endpoint(&["metrics.secure.enabled=false"]);
    for key in ["scheme", "bearerTokenFile", "tlsConfig"] {
        assert!(ep.get(key).is_none(), "{key}: {ep}");
    }
}

#[test]
fn chart_network_policy_admits_only_the_scraper_and_the_api_server() {
    let policy = |d: &[Value]| named(d, "NetworkPolicy", OPERATOR_SA).clone();
    let d = rendered(&[]);
    let p = policy(&d);
    assert_eq!(p["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(p["metadata"]["namespace"], "s3c-system");
    assert_eq!(
        p["spec"]["podSelector"],
        json!({"matchLabels": {"app.kubernetes.io/name": "s3-connection-operator", "app.kubernetes.io/instance": "s3c"}})
    );
    assert_eq!(
        p["spec"]["podSelector"]["matchLabels"],
        find(&d, "Deployment")[0]["spec"]["selector"]["matchLabels"],
        "the operator's pods, no other"
    );
    assert_eq!(p["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        p["spec"]["ingress"],
        json!([{
            "from": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }],
            "ports": [{"port": "metrics", "protocol": "TCP"}],
        }]),
        "the scraper, to /metrics only"
    );

    // The scraper chosen by the values, and the API server's addresses.
    let d = rendered(&[
        "networkPolicy.scraper.namespaceSelector.matchLabels.team=observability",
        "networkPolicy.scraper.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=null",
        "networkPolicy.scraper.podSelector.matchExpressions[0].key=app",
        "networkPolicy.scraper.podSelector.matchExpressions[0].operator=In",
        "networkPolicy.scraper.podSelector.matchExpressions[0].values={vmagent,prometheus}",
        "networkPolicy.scraper.podSelector.matchLabels=null",
        "networkPolicy.apiServerCIDRs={10.0.0.10/32,fd00::1/128}",
    ]);
    let ingress = &policy(&d)["spec"]["ingress"];
    assert_eq!(
        ingress[0]["from"],
        json!([{
            "namespaceSelector": {"matchLabels": {"team": "observability"}},
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["vmagent", "prometheus"]}]},
        }])
    );
    assert_eq!(
        ingress[1],
        json!({
            "from": [{"ipBlock": {"cidr": "10.0.0.10/32"}}, {"ipBlock": {"cidr": "fd00::1/128"}}],
            "ports": [{"port": "metrics", "protocol": "TCP"}, {"port": "health", "protocol": "TCP"}],
        })
    );
    // The named ports exist on the container.
    let ports: Vec<&str> = pod_of(&d)["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["metrics", "health"]);

    assert!(find(&rendered(&["networkPolicy.enabled=false"]), "NetworkPolicy").is_empty());

    // The schema refuses what the API server would, by the value's name.
    for (set, named) in [
        ("networkPolicy.apiServerCIDRs={10.0.0.10}", "apiServerCIDRs"),
        (
            "networkPolicy.apiServerCIDRs={10.0.0.0/33}",
            "apiServerCIDRs",
        ),
        (
            "networkPolicy.scraper.podSelector.app=prometheus",
            "podSelector",
        ),
        (
            "networkPolicy.scraper.namespaceSelector.matchExpressions[0].key=team",
            "matchExpressions",
        ),
        ("networkPolicy.enabled=yes", "enabled"),
    ] {
        let out = render(&[set]).expect_err(set);
        assert!(out.contains(named), "{set}: {out}");
    }
}

#[test]
fn chart_refuses_a_health_port_equal_to_the_metrics_port() {
    let out = render(&["healthPort=8080"]).expect_err("same port");
    assert!(
        out.contains("healthPort and metricsPort are both 8080"),
        "{out}"
    );
}
