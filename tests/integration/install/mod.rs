//! Installing like a user does: the chart installs into the test API
//! server, and the operator binary running with the chart's ServiceAccount
//! token (not the admin certificate) gets a connection to Ready and reads
//! nothing more than it must ([`operator`]); the roles for people give
//! connections but never their status ([`people`]); /metrics answers only
//! tokens the chart's reader role allows ([`metrics`]). (Rendering without
//! a cluster: charts/. The chart's pods on a real node: the pods suite.)

mod metrics;
mod operator;
mod people;

use std::path::{Path, PathBuf};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client, Config};
use serde_json::json;
use testkit::chart::{CHART, helm};
use testkit::{ALL, Setup, TestEnv, unique};

/// A release of the chart.
pub(super) struct Installed {
    /// The release namespace.
    pub(super) namespace: String,
    /// The release name, which is also the name of its ServiceAccount and
    /// ClusterRole (`fullnameOverride`).
    pub(super) release: String,
    /// What `helm install` printed (the chart's NOTES among it).
    pub(super) notes: String,
}

/// Install the chart into a fresh namespace, watching `tenants`, with extra
/// `--set` values.
pub(super) async fn install(env: &TestEnv, tenants: &[&str], sets: &[&str]) -> Installed {
    // Pods here must meet the restricted Pod Security Standard; the API
    // server warns on any Deployment whose pod template would not.
    let ns = env
        .pod_security_namespace("s3c-system", "restricted", "restricted")
        .await;
    let name = unique("op");
    let fullname = format!("fullnameOverride={name}");
    let watch = format!("watchNamespaces={{{}}}", tenants.join(","));
    let mut args = vec![
        "install",
        &name,
        CHART,
        "--namespace",
        &ns,
        "--set",
        &fullname,
        "--set",
        &watch,
        "--wait=false",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    // Uninstalled when the test ends, also after an install that failed
    // half-way.
    env.remember_helm_release(&name, &ns);
    let (ok, out) = helm(&args, Some(&env.kubeconfig));
    assert!(ok, "helm install failed:\n{out}");
    assert!(
        !out.contains("PodSecurity"),
        "pod template violates the restricted standard:\n{out}"
    );
    let deploy: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.kube.clone(), &ns);
    let d = deploy.get(&name).await.expect("Deployment created");
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    Installed {
        namespace: ns,
        release: name,
        notes: out,
    }
}

/// `helm uninstall` without its pre-delete hook: no node here runs the
/// hook's Job (the pods suite runs it on one).
pub(super) async fn uninstall(env: &TestEnv, release: &str, ns: &str) {
    let (ok, out) = helm(
        &["uninstall", release, "--namespace", ns, "--no-hooks"],
        Some(&env.kubeconfig),
    );
    assert!(ok, "{out}");
}

/// A client and a kubeconfig file authenticating as a ServiceAccount.
pub(super) struct Login {
    pub(super) client: Client,
    pub(super) kubeconfig: PathBuf,
}

pub(super) async fn as_service_account(env: &TestEnv, ns: &str, sa: &str, dir: &Path) -> Login {
    let token = env.token(ns, sa).await;
    let server = std::env::var("S3C_APISERVER_URL").expect("S3C_APISERVER_URL");
    let ca = std::env::var("S3C_CA_CERT").expect("S3C_CA_CERT");
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": sa}}],
        "current-context": "sa",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, yaml_serde::to_string(&kubeconfig).unwrap()).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Login {
        client: Client::try_from(config).unwrap(),
        kubeconfig: path,
    }
}

pub(super) async fn can(
    client: &Client,
    ns: &str,
    verb: &str,
    group: &str,
    resource: &str,
) -> bool {
    allowed(client, attributes(ns, verb, group, resource)).await
}

/// `verb` on `resource` of `group` in `ns`.
fn attributes(ns: &str, verb: &str, group: &str, resource: &str) -> ResourceAttributes {
    ResourceAttributes {
        namespace: Some(ns.into()),
        verb: Some(verb.into()),
        group: Some(group.into()),
        resource: Some(resource.into()),
        ..Default::default()
    }
}

/// Whether `client` may get the (cluster-scoped) namespace `name`.
pub(super) async fn can_get_namespace(client: &Client, name: &str) -> bool {
    allowed(
        client,
        ResourceAttributes {
            verb: Some("get".into()),
            group: Some(String::new()),
            resource: Some("namespaces".into()),
            name: Some(name.into()),
            ..Default::default()
        },
    )
    .await
}

/// Whether `client` may `verb` S3Connections (or their `subresource`) in `ns`.
pub(super) async fn can_connections(
    client: &Client,
    ns: &str,
    verb: &str,
    subresource: &str,
) -> bool {
    let attributes = ResourceAttributes {
        subresource: (!subresource.is_empty()).then(|| subresource.into()),
        ..attributes(ns, verb, "s3connection.dev", "s3connections")
    };
    allowed(client, attributes).await
}

/// What a SelfSubjectAccessReview says about `attributes`.
pub(super) async fn allowed(client: &Client, attributes: ResourceAttributes) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(attributes),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

/// A tenant namespace whose connection `data` has a working key in Secret
/// `creds`; the namespace.
pub(super) async fn tenant_with_connection(env: &TestEnv, name: &str) -> String {
    let Setup { ns, bucket, .. } = env.setup(name, "", &ALL).await;
    env.apply_connection(&ns, "data", env.access_key_spec(&bucket, "creds"))
        .await;
    ns
}
