//! Pod Security: the pod the chart renders by default is admitted where
//! the `restricted` standard is enforced; the hostNetwork pod the node
//! suite installs is not (its namespace is `privileged`, see lifecycle.rs).
//! Server-side dry runs: the API server's own admission decides, nothing
//! is created.

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use testkit::TestEnv;
use testkit::chart::{pod_of, rendered};

use crate::OPERATOR;

/// A Pod with the Deployment's pod template, as its ReplicaSet would make it.
fn pod_from(docs: &[Value]) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator-dry-run"},
        "spec": pod_of(docs),
    }))
    .expect("the pod template is a PodSpec")
}

#[tokio::test]
async fn the_charts_pod_is_admitted_under_restricted_and_host_network_is_not() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env
        .pod_security_namespace("restricted", "restricted", "restricted")
        .await;
    // The ServiceAccount the pod names (the ServiceAccount admission plugin
    // refuses a pod whose account does not exist).
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "s3c-s3-connection-operator"}}))
            .unwrap();
    Api::<ServiceAccount>::namespaced(env.kube.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(env.kube.clone(), &ns);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };

    let default = pod_from(&rendered(&[]));
    pods.create(&dry_run, &default)
        .await
        .expect("the default pod meets the restricted standard");

    let host_network = pod_from(&rendered(&[
        "hostNetwork=true",
        "metricsBindAddress=127.0.0.1",
        "probes.host=127.0.0.1",
    ]));
    match pods.create(&dry_run, &host_network).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(s.message.contains("hostNetwork=true"), "{}", s.message);
        }
        other => panic!("a hostNetwork pod admitted under restricted: {other:?}"),
    }
}
