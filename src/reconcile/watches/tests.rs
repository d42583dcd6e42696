use super::*;
use serde_json::json;

fn conn(name: &str, ns: &str, auth: serde_json::Value) -> S3Connection {
    let mut c: S3Connection = serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": name, "namespace": ns, "uid": "u1", "generation": 3},
        "spec": {"bucket": "b", "region": "us-east-1", "auth": auth}
    }))
    .unwrap();
    c.status = None;
    c
}

#[test]
fn the_cache_keeps_only_the_metadata_the_operator_uses() {
    let mut c: S3Connection = serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {
            "name": "n", "namespace": "ns", "uid": "u1", "generation": 3,
            "resourceVersion": "42",
            "labels": {"app.kubernetes.io/instance": "x"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                "argocd.argoproj.io/tracking-id": "x",
                "s3connection.dev/requested-at": "now",
            },
            "finalizers": ["example.com/other"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u2"}],
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "s"}}}
    }))
    .unwrap();
    slim(&mut c);
    let m = &c.metadata;
    assert_eq!(
        (m.name.as_deref(), m.namespace.as_deref(), m.uid.as_deref()),
        (Some("n"), Some("ns"), Some("u1"))
    );
    assert_eq!(
        (m.generation, m.resource_version.as_deref()),
        (Some(3), Some("42"))
    );
    let requested = super::super::requested_at(&c).unwrap();
    assert_eq!(requested.token(), Some("now"));
    assert_eq!(m.annotations.as_ref().map(|a| a.len()), Some(1));
    assert!(m.labels.is_none() && m.finalizers.is_none());
    assert!(m.owner_references.is_none() && m.managed_fields.is_none());
    c.metadata.finalizers = Some(vec![
        "example.com/other".into(),
        super::super::finalizer::FINALIZER.into(),
    ]);
    slim(&mut c);
    assert_eq!(
        c.metadata.finalizers,
        Some(vec![super::super::finalizer::FINALIZER.to_string()]),
        "only whether it carries the operator's own"
    );
}

#[test]
fn the_cache_keeps_no_long_request_annotation() {
    let mut c = conn("n", "ns", json!({"accessKey": {"secretName": "s"}}));
    let huge = "x".repeat(200 * 1024);
    c.metadata.annotations = Some(
        [(super::super::REQUESTED_AT[1].to_string(), huge)]
            .into_iter()
            .collect(),
    );
    slim(&mut c);
    let requested = super::super::requested_at(&c).unwrap();
    assert_eq!(requested.annotation, "reconcile.fluxcd.io/requestedAt");
    assert!(requested.value.len() <= requested_at::MAX_LEN);
    assert_eq!(requested.token(), None);
}

#[test]
fn with_the_label_required_only_labelled_secrets_are_watched() {
    assert_eq!(secret_watch(false).label_selector, None);
    assert_eq!(
        secret_watch(true).label_selector.as_deref(),
        Some("s3connection.dev/credentials=true")
    );
}

fn meta<K: Resource<DynamicType = ()>>(ns: &str, name: &str) -> PartialObjectMeta<K> {
    PartialObjectMeta {
        types: None,
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        _phantom: Default::default(),
    }
}

#[test]
fn secret_and_service_account_mapping() {
    let (reader, mut writer) = reflector::store::<S3Connection>();
    let a = conn("a", "ns", json!({"accessKey": {"secretName": "s"}}));
    let b = conn("b", "other", json!({"accessKey": {"secretName": "s"}}));
    let irsa = conn(
        "irsa",
        "ns",
        json!({"iamRole": {"serviceAccountName": "sa"}}),
    );
    let mut private = conn("private", "ns", json!({"accessKey": {"secretName": "k"}}));
    private.spec.ca_secret_ref = Some(crate::crd::SecretReference { name: "ca".into() });
    for obj in [a, b, irsa, private] {
        writer.apply_watcher_event(&watcher::Event::Apply(obj));
    }
    let secret = |ns, name| meta::<Secret>(ns, name);
    let hits = connections_naming(&reader, &secret("ns", "s"), names_secret);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "a");
    assert!(connections_naming(&reader, &secret("ns", "other"), names_secret).is_empty());
    for name in ["k", "ca"] {
        let hits = connections_naming(&reader, &secret("ns", name), names_secret);
        assert_eq!(hits.len(), 1, "{name}");
        assert_eq!(hits[0].name, "private");
    }
    let sa = meta::<ServiceAccount>("ns", "sa");
    let hits = connections_naming(&reader, &sa, names_service_account);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "irsa");
    let mut views = vec![];
    connection_views(
        std::iter::once(&reader),
        Duration::from_secs(600),
        &Freshness::default(),
        &mut |v| views.push((v.name.to_string(), v.ready, v.interval_seconds)),
    );
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = views.iter().map(|v| v.0.as_str()).collect();
    assert_eq!(names, ["a", "b", "irsa", "private"]);
    assert!(
        views
            .iter()
            .all(|v| v.1 == CondStatus::Unknown && v.2 == 600.0)
    );
}
