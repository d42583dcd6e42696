//! Installing like a user does: the Helm chart lints, renders least-privilege
//! RBAC and a restricted pod, installs into the test API server, and the
//! operator binary running with the chart's ServiceAccount token (not the
//! admin certificate) gets a connection to Ready. Removing one RBAC rule is
//! reported clearly in the operator's log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{ALL, IamUser, Operator, TestEnv, s3_policy, unique};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Config};
use serde_json::{Value, json};

const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/helm/s3-connection-operator"
);

fn helm(args: &[&str], kubeconfig: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("helm");
    cmd.args(args);
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd
        .output()
        .expect("helm on PATH (make test puts the built tools on PATH)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The rules the operator needs, and nothing else.
fn expected_rules() -> Value {
    json!([
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["s3connection.dev"], "resources": ["s3connections/status"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

#[test]
fn chart_lints_and_renders_least_privilege_and_a_restricted_pod() {
    let (ok, out) = helm(&["lint", CHART], None);
    assert!(ok, "helm lint failed:\n{out}");

    let (ok, out) = helm(
        &["template", "s3c", CHART, "--namespace", "s3c-system"],
        None,
    );
    assert!(ok, "helm template failed:\n{out}");
    let d = docs(&out);
    let roles = find(&d, "ClusterRole");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rules"], expected_rules());
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("\"*\""), "no wildcard anywhere");
    assert_eq!(
        find(&d, "ClusterRoleBinding").len(),
        1,
        "all namespaces by default"
    );
    let lease_role = find(&d, "Role");
    assert_eq!(
        lease_role[0]["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "patch"]}])
    );

    let deploy = find(&d, "Deployment")[0];
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args = serde_json::to_string(&c["args"]).unwrap();
    assert!(args.contains("--leader-election"), "{args}");
    assert!(
        args.contains("--lease-name=s3c-s3-connection-operator"),
        "one Lease per release: {args}"
    );
    assert!(
        !args.contains("--allow-operator-identity"),
        "off by default: {args}"
    );

    // One namespace: a RoleBinding there instead of cluster-wide access.
    let (ok, out) = helm(
        &[
            "template",
            "s3c",
            CHART,
            "--namespace",
            "s3c-system",
            "--set",
            "watchNamespace=team-a",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "allowOperatorIdentity=true",
        ],
        None,
    );
    assert!(ok, "{out}");
    let d = docs(&out);
    assert!(find(&d, "ClusterRoleBinding").is_empty());
    let rb = find(&d, "RoleBinding");
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0]["metadata"]["namespace"], "team-a");
    assert!(
        find(&d, "Role").is_empty(),
        "no lease Role without leader election"
    );
    let args = serde_json::to_string(
        &find(&d, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"],
    )
    .unwrap();
    assert!(
        args.contains("--namespace=team-a") && args.contains("--allow-operator-identity"),
        "{args}"
    );
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let chart_crd = std::fs::read_to_string(Path::new(CHART).join("crds/s3connection.yaml"))
        .unwrap_or_default();
    assert!(
        chart_crd == s3_connection_operator::crd_yaml(),
        "deploy/helm/s3-connection-operator/crds/s3connection.yaml is stale: run `make crds` and commit it"
    );
}

/// A release of the chart.
struct Installed {
    /// The release namespace.
    namespace: String,
    /// The release name, which is also the name of its ServiceAccount and
    /// ClusterRole (`fullnameOverride`).
    release: String,
}

/// Install the chart into a fresh namespace, watching `tenant`.
async fn install(env: &TestEnv, tenant: &str) -> Installed {
    let ns = env.namespace("s3c-system").await;
    // Pods here must meet the restricted Pod Security Standard; the API
    // server warns on any Deployment whose pod template would not.
    let labels = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted"
    }}});
    Api::<Namespace>::all(env.kube.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(labels))
        .await
        .unwrap();
    let name = unique("op");
    let (ok, out) = helm(
        &[
            "install",
            &name,
            CHART,
            "--namespace",
            &ns,
            "--set",
            &format!("fullnameOverride={name}"),
            "--set",
            &format!("watchNamespace={tenant}"),
            "--wait=false",
        ],
        Some(&env.kubeconfig),
    );
    assert!(ok, "helm install failed:\n{out}");
    env.remember_helm_release(&name, &ns);
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
    }
}

async fn uninstall(env: &TestEnv, release: &str, ns: &str) {
    let (ok, out) = helm(
        &["uninstall", release, "--namespace", ns],
        Some(&env.kubeconfig),
    );
    assert!(ok, "{out}");
}

/// A client and a kubeconfig file authenticating as a ServiceAccount.
struct Login {
    client: Client,
    kubeconfig: PathBuf,
}

async fn as_service_account(env: &TestEnv, ns: &str, sa: &str, dir: &Path) -> Login {
    let tr = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(env.kube.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &tr)
        .await
        .expect("token for the chart's ServiceAccount")
        .status
        .unwrap()
        .token;
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
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Login {
        client: Client::try_from(config).unwrap(),
        kubeconfig: path,
    }
}

async fn can(client: &Client, ns: &str, verb: &str, group: &str, resource: &str) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
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

async fn tenant_with_connection(env: &TestEnv, tenant: &str) -> String {
    let bucket = env.bucket("install").await;
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env.user("install", s3_policy(&bucket, "", &ALL)).await;
    env.secret(
        tenant,
        "creds",
        &[("AWS_ACCESS_KEY_ID", &ak), ("AWS_SECRET_ACCESS_KEY", &sk)],
    )
    .await;
    env.apply_connection(tenant, "data", env.access_key_spec(&bucket, "creds"))
        .await;
    bucket
}

#[tokio::test]
async fn operator_runs_with_only_the_charts_permissions() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("tenant").await;
    let Installed {
        namespace: ns,
        release: sa,
    } = install(&env, &tenant).await;
    let dir = tempfile::tempdir().unwrap();
    let Login { client, kubeconfig } = as_service_account(&env, &ns, &sa, dir.path()).await;

    // What the ServiceAccount may and may not do.
    assert!(can(&client, &tenant, "get", "", "secrets").await);
    assert!(
        can(
            &client,
            &tenant,
            "patch",
            "s3connection.dev",
            "s3connections/status"
        )
        .await
    );
    assert!(can(&client, &ns, "patch", "coordination.k8s.io", "leases").await);
    for (verb, group, resource) in [
        ("update", "s3connection.dev", "s3connections"),
        ("delete", "s3connection.dev", "s3connections"),
        ("create", "", "secrets"),
        ("delete", "", "secrets"),
        ("list", "", "pods"),
        ("get", "", "configmaps"),
        ("create", "", "serviceaccounts"),
        ("delete", "coordination.k8s.io", "leases"),
    ] {
        assert!(
            !can(&client, &tenant, verb, group, resource).await,
            "must not {verb} {resource}"
        );
    }
    // Outside the watched namespace it reads nothing.
    assert!(!can(&client, "default", "get", "", "secrets").await);

    tenant_with_connection(&env, &tenant).await;
    let kc = kubeconfig.to_str().unwrap();
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--leader-election", "--lease-namespace", &ns],
        &[("KUBECONFIG", kc), ("POD_NAME", "installed-operator")],
    )
    .await;
    let c = env
        .wait_ready(&tenant, "data", "True", Some("Validated"))
        .await;
    assert_eq!(c.status.unwrap().auth.as_deref(), Some("AccessKey"));
    assert!(
        !op.log().contains("forbidden"),
        "no RBAC error:\n{}",
        op.log()
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn a_missing_rule_is_reported_clearly_in_the_log() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("norule").await;
    let Installed {
        namespace: ns,
        release: sa,
    } = install(&env, &tenant).await;
    let role = sa.clone();
    // Take away reading Secrets.
    let roles: Api<ClusterRole> = Api::all(env.kube.clone());
    let mut cr = roles.get(&role).await.unwrap();
    cr.rules
        .as_mut()
        .unwrap()
        .retain(|r| r.resources.as_deref() != Some(&["secrets".to_string()][..]));
    cr.metadata.managed_fields = None;
    roles
        .replace(&role, &PostParams::default(), &cr)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = as_service_account(&env, &ns, &sa, dir.path())
        .await
        .kubeconfig;
    tenant_with_connection(&env, &tenant).await;
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;

    // The log names the failed call and points at RBAC, within seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = op.log();
        if log.contains("get Secret") && log.contains("forbidden") && log.contains("RBAC") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no clear RBAC error in the log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c = env.connections(&tenant).get("data").await.unwrap();
    assert!(
        crate::harness::ready_of(&c).is_none_or(|r| r.status != "True"),
        "never Ready without proof"
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn without_any_rights_the_operator_says_so_and_still_stops_on_sigterm() {
    let env = TestEnv::new().await;
    let ns = env.namespace("norights").await;
    env.service_account(&ns, "nobody", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = as_service_account(&env, &ns, "nobody", dir.path())
        .await
        .kubeconfig;
    let mut op = Operator::spawn(
        &env,
        Some(&ns),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    op.wait_for_log("forbidden", Duration::from_secs(30)).await;
    let (code, _) = op.get("/readyz").await.unwrap();
    assert_eq!(code, 503, "not ready without a synced cache");
    op.signal_term();
    let status = op.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", op.log());
    assert!(
        op.log().contains("stopping before the cache synced"),
        "{}",
        op.log()
    );
}
