//! Objects the integration tests and `make bench`'s driver both make: an
//! IRSA trust policy and a ServiceAccount. Separate targets: each includes
//! this file with `#[path]`.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::ObjectMeta;
use serde_json::{Value, json};

/// A trust policy that lets exactly ServiceAccount `ns/sa` assume the role
/// by web identity through OpenID provider `provider` of `account`, for the
/// audience EKS uses.
pub fn irsa_trust(account: &str, provider: &str, ns: &str, sa: &str) -> Value {
    let p = provider;
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{p}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{p}:sub"): format!("system:serviceaccount:{ns}:{sa}"),
                format!("{p}:aud"): "sts.amazonaws.com"
            }}
        }]
    })
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
