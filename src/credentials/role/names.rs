//! The names the operator gives its STS sessions, and the ExternalId it
//! sends with its own identity (with the cluster name it defaults to).

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use crate::crd::ConnectionId;
use crate::error::{Error, within};

/// The ExternalId the operator sends when its own identity assumes a role
/// for a connection of `namespace`: the tenant cannot choose it, so a role
/// whose trust policy requires it serves that namespace only.
pub fn external_id(cluster: &str, namespace: &str) -> String {
    format!("{cluster}:{namespace}")
}

/// The default `<cluster>` of [`external_id`]: the UID of the
/// `kube-system` namespace, a stable name of this cluster (the call given
/// at most `timeout`).
pub async fn kube_system_uid(client: &kube::Client, timeout: Duration) -> Result<String, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let what = || "get namespaces/kube-system".to_string();
    let ns = within(timeout, what, api.get("kube-system"))
        .await?
        .map_err(|e| Error::kube(what(), e))?;
    Ok(ns.metadata.uid.unwrap_or_default())
}

/// With the operator's own identity: `s3c-<namespace>-<sessionName or name>`,
/// so the session always names the namespace (cut to 64 characters).
pub fn operator_session_name(configured: Option<&str>, id: &ConnectionId) -> String {
    let rest = configured.unwrap_or(&id.name);
    sanitize_session(&format!("s3c-{}-{rest}", id.namespace))
}

/// Characters STS allows in session names, at most 64 of them.
fn sanitize_session(s: &str) -> String {
    let mut s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(64);
    s
}

/// IRSA: `spec.auth.iamRole.sessionName`, or
/// `s3connection-<namespace>-<serviceaccount>`, so that connections sharing
/// a ServiceAccount share a session (cut to 64 characters).
pub fn irsa_session_name(configured: Option<&str>, namespace: &str, sa: &str) -> String {
    if let Some(s) = configured {
        return s.to_string();
    }
    sanitize_session(&format!("s3connection-{namespace}-{sa}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ns: &str, name: &str) -> ConnectionId {
        ConnectionId {
            namespace: ns.into(),
            name: name.into(),
            uid: "u".into(),
        }
    }

    #[test]
    fn session_names_fit_sts_limits() {
        let long = "n".repeat(80);
        let s = irsa_session_name(None, "analytics", &long);
        assert_eq!(s.len(), 64);
        assert!(s.starts_with("s3connection-analytics-"));
        assert_eq!(irsa_session_name(Some("custom"), "a", "b"), "custom");
        assert_eq!(irsa_session_name(None, "a", "sync"), "s3connection-a-sync");
    }

    #[test]
    fn the_operator_identity_names_the_namespace_in_session_and_external_id() {
        assert_eq!(external_id("c0ffee", "team-a"), "c0ffee:team-a");
        assert_eq!(
            operator_session_name(Some("custom"), &id("team-a", "b")),
            "s3c-team-a-custom"
        );
        assert_eq!(
            operator_session_name(None, &id("team-a", "conn")),
            "s3c-team-a-conn"
        );
        let long = operator_session_name(None, &id(&"n".repeat(63), "conn"));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("s3c-nnn"));
    }
}
