//! Kubernetes objects the tests and the bench both make: a labelled
//! namespace, a Secret of strings, a ServiceAccount with annotations, and
//! an S3Connection to apply.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::ObjectMeta;
use serde::Serialize;
use serde_json::{Value, json};

/// Namespace `name` with one label.
pub fn namespace(name: &str, (key, value): (&str, &str)) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(key.into(), value.into())])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Secret `name` with `data` as its string data.
pub fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// ServiceAccount `name` with `annotations`.
pub fn service_account(name: &str, annotations: &[(&str, &str)]) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// S3Connection `name` with `labels` and `spec`, for server-side apply.
pub fn connection(name: &str, labels: &[(&str, &str)], spec: impl Serialize) -> Value {
    let mut metadata = json!({"name": name});
    if !labels.is_empty() {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        metadata["labels"] = json!(labels);
    }
    json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": metadata,
        "spec": spec,
    })
}
