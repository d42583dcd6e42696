//! The cluster of the current kubeconfig, for what neither the manifest
//! nor the flags say: the namespace, the service-account issuer, the UID of
//! `kube-system`.

use std::time::Duration;

use crate::credentials::role;
use crate::error::within;

/// How long one request to the cluster may take.
pub(super) const CLUSTER_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest OpenID discovery document read, in bytes.
const MAX_DISCOVERY: usize = 64 * 1024;

/// The cluster of the current kubeconfig, connected to when first needed.
pub struct Cluster(ClusterState);

enum ClusterState {
    Unused,
    Ready(kube::Client),
    Failed(String),
}

impl Cluster {
    /// The current kubeconfig's cluster (`kube::Config::infer`).
    pub fn from_kubeconfig() -> Self {
        Self(ClusterState::Unused)
    }

    /// No cluster at all: whatever needs one fails, naming the flag that
    /// would replace it.
    pub fn none() -> Self {
        Self(ClusterState::Failed("no cluster".into()))
    }

    pub(super) async fn client(&mut self) -> Result<&kube::Client, String> {
        if let ClusterState::Unused = self.0 {
            self.0 = match kube::Config::infer().await {
                Ok(config) => match kube::Client::try_from(config) {
                    Ok(client) => ClusterState::Ready(client),
                    Err(e) => ClusterState::Failed(format!("the kubeconfig is not usable: {e}")),
                },
                Err(e) => ClusterState::Failed(format!("no kubeconfig: {e}")),
            };
        }
        match &self.0 {
            ClusterState::Ready(client) => Ok(client),
            ClusterState::Failed(e) => Err(e.clone()),
            ClusterState::Unused => Err("no cluster".into()),
        }
    }

    /// The kubeconfig's namespace, else `default`.
    pub(super) async fn namespace(&mut self) -> String {
        match self.client().await {
            Ok(client) => client.default_namespace().to_string(),
            Err(_) => "default".into(),
        }
    }

    /// The `issuer` of the cluster's OpenID discovery document.
    pub(super) async fn issuer(&mut self) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
        }
        let path = "/.well-known/openid-configuration";
        let client = self.client().await?;
        let request = http::Request::get(path)
            .body(kube::client::Body::empty())
            .map_err(|e| e.to_string())?;
        let read = async {
            let response = client.send(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("GET {path} answered {status}"));
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_DISCOVERY);
            http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| format!("GET {path}: {e} (at most {MAX_DISCOVERY} bytes are read)"))
        };
        let body = within(CLUSTER_TIMEOUT, || format!("GET {path}"), read)
            .await
            .map_err(|e| e.to_string())??;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {path}: not an OpenID discovery document: {e}"))?;
        Ok(discovery.issuer)
    }

    /// The UID of the cluster's `kube-system` namespace.
    pub(super) async fn kube_system_uid(&mut self) -> Result<String, String> {
        let client = self.client().await?;
        role::kube_system_uid(client, CLUSTER_TIMEOUT)
            .await
            .map_err(|e| e.to_string())
    }
}
