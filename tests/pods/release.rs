//! A Helm release of the chart on the node, and what the suite reads of it:
//! its Deployment rolled out, its pod, its Lease, its /metrics.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use testkit::chart::{CHART, helm};
use testkit::net::{Trust, http_get, https_get};
use testkit::{TestEnv, await_object};

use crate::node::{Image, health_port, metrics_port};

/// How long a rollout may take: the old pod's graceful stop (it finishes
/// its validations and releases the Lease), the new pod's start and probes.
pub const ROLLOUT: Duration = Duration::from_secs(120);

pub struct Release {
    pub name: String,
    pub namespace: String,
    /// The chart's full name: the Deployment, the Lease, the ServiceAccount.
    pub fullname: String,
}

impl Release {
    /// `helm <verb> <name> [<chart>] --namespace <ns> <args>` against the
    /// test API server (the chart for install and upgrade); what it printed.
    pub fn helm(&self, env: &TestEnv, verb: &str, args: &[String]) -> String {
        let mut all = vec![verb, &self.name];
        if matches!(verb, "install" | "upgrade") {
            all.push(CHART);
        }
        all.extend(["--namespace", &self.namespace]);
        all.extend(args.iter().map(String::as_str));
        let (ok, out) = helm(&all, Some(&env.kubeconfig));
        assert!(ok, "helm {verb} failed:\n{out}");
        out
    }

    /// Wait until the Deployment has rolled out `image`: every replica
    /// updated, ready and available, no pod of an older template left.
    /// (`helm --wait` does not: with one replica and `maxUnavailable: 1`
    /// zero ready pods already count as ready.) The one pod running it.
    pub async fn rolled_out(&self, env: &TestEnv, image: &Image) -> Pod {
        let deployments: Api<Deployment> = Api::namespaced(env.kube.clone(), &self.namespace);
        let want = image.reference();
        let what = format!("Deployment {} rolled out with {want}", self.fullname);
        await_object(&deployments, &self.fullname, &what, ROLLOUT, move |d| {
            let Some(d) = d else { return false };
            let spec = d.spec.as_ref().unwrap();
            let image = spec.template.spec.as_ref().unwrap().containers[0]
                .image
                .as_deref();
            let s = d.status.clone().unwrap_or_default();
            let replicas = spec.replicas.unwrap_or(1);
            image == Some(want.as_str())
                && s.observed_generation >= d.metadata.generation
                && s.replicas == Some(replicas)
                && s.updated_replicas == Some(replicas)
                && s.ready_replicas == Some(replicas)
                && s.available_replicas == Some(replicas)
        })
        .await;
        let pods: Api<Pod> = Api::namespaced(env.kube.clone(), &self.namespace);
        let selector = format!("app.kubernetes.io/instance={}", self.name);
        let running: Vec<Pod> = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        assert_eq!(running.len(), 1, "one pod: {:?}", names(&running));
        let pod = running.into_iter().next().unwrap();
        let spec = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(spec.image.as_deref(), Some(image.reference().as_str()));
        let status = pod.status.clone().unwrap_or_default();
        let container = &status.container_statuses.unwrap_or_default()[0];
        assert!(container.ready, "{} ready: {container:?}", pod.name_any());
        pod
    }

    /// Wait until the Lease names `holder`.
    pub async fn wait_leader(&self, env: &TestEnv, holder: &str) -> Lease {
        let leases: Api<Lease> = Api::namespaced(env.kube.clone(), &self.namespace);
        let want = holder.to_string();
        let what = format!("Lease {} held by {holder}", self.fullname);
        await_object(&leases, &self.fullname, &what, ROLLOUT, move |l| {
            l.and_then(|l| l.spec.as_ref()?.holder_identity.as_deref()) == Some(want.as_str())
        })
        .await
        .expect("the Lease")
    }
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

/// GET `path` (`/healthz`, `/readyz`) of the pod's plain health server on
/// 127.0.0.1 (it runs on the host network).
pub async fn pod_get(path: &str) -> (u16, String) {
    let addr = format!("127.0.0.1:{}", health_port());
    http_get(&addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
}

/// GET /metrics of the pod over HTTPS (its certificate is self-signed)
/// with `token`, or none.
pub async fn pod_metrics_as(token: Option<&str>) -> (u16, String) {
    let addr = format!("127.0.0.1:{}", metrics_port());
    https_get(&addr, "/metrics", token, Trust::Any)
        .await
        .unwrap_or_else(|e| panic!("GET https://{addr}/metrics: {e}"))
}

/// The pod's /metrics, read with `token` (the scraper's).
pub async fn pod_metrics(token: &str) -> String {
    let (code, body) = pod_metrics_as(Some(token)).await;
    assert_eq!(code, 200, "{body}");
    body
}
