//! Installing like a user does: the Helm chart lints, renders least-privilege
//! RBAC and a restricted pod, turns its values into the operator's flags (and
//! refuses bad values by name), installs into the test API server, and the
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

/// `helm template` of the chart as release `s3c` in `s3c-system` with
/// `--set` values; the rendered documents, or the failure message.
fn render(sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut args = vec!["template", "s3c", CHART, "--namespace", "s3c-system"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    if ok { Ok(docs(&out)) } else { Err(out) }
}

fn rendered(sets: &[&str]) -> Vec<Value> {
    render(sets).unwrap_or_else(|out| panic!("helm template {sets:?} failed:\n{out}"))
}

/// The operator container's arguments.
fn args_of(docs: &[Value]) -> Vec<String> {
    let c = &find(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    serde_json::from_value(c["args"].clone()).expect("args are strings")
}

/// The values of every `--<flag>=<value>` argument, in order.
fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let prefix = format!("--{flag}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The namespaces of the RoleBindings granting the operator's ClusterRole.
fn namespaces_bound_to_the_cluster_role(docs: &[Value]) -> Vec<String> {
    find(docs, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["kind"] == "ClusterRole")
        .map(|rb| {
            assert_eq!(rb["roleRef"]["name"], "s3c-s3-connection-operator");
            assert_eq!(
                rb["subjects"],
                json!([{"kind": "ServiceAccount", "name": "s3c-s3-connection-operator", "namespace": "s3c-system"}])
            );
            rb["metadata"]["namespace"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The one rule the operator needs to name the cluster by the UID of the
/// kube-system namespace.
fn kube_system_reader_rules() -> Value {
    json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"], "verbs": ["get"]}])
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
    let args = args_of(&d);
    assert_eq!(flag_values(&args, "concurrency"), ["16"], "{args:?}");
    assert_eq!(
        flag_values(&args, "namespace-concurrency"),
        ["4"],
        "{args:?}"
    );
    assert_eq!(
        flag_values(&args, "validation-timeout"),
        ["60s"],
        "{args:?}"
    );
    for absent in ["allowed-endpoint", "namespace", "cluster-name"] {
        assert!(
            flag_values(&args, absent).is_empty(),
            "no --{absent} by default: {args:?}"
        );
    }

    // One namespace: a RoleBinding there instead of cluster-wide access. (With
    // a clusterName, the operator's own identity needs no cluster-wide read.)
    let (ok, out) = helm(
        &[
            "template",
            "s3c",
            CHART,
            "--namespace",
            "s3c-system",
            "--set",
            "watchNamespaces={team-a}",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "allowOperatorIdentity=true",
            "--set",
            "clusterName=prod-eu-1",
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
    assert!(args.contains("--cluster-name=prod-eu-1"), "{args}");
    assert_eq!(find(&d, "ClusterRole").len(), 1, "no kube-system reader");
}

#[test]
fn chart_passes_each_allowed_endpoint_as_a_flag() {
    let d = rendered(&[
        "allowedEndpoints={https://minio.example.com:9000,https://*.r2.cloudflarestorage.com,http://[fd00::1]:7480}",
    ]);
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "allowed-endpoint"),
        [
            "https://minio.example.com:9000",
            "https://*.r2.cloudflarestorage.com",
            "http://[fd00::1]:7480",
        ],
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--allowed-endpoints")),
        "{args:?}"
    );
}

#[test]
fn chart_watching_two_namespaces_binds_each_and_nothing_cluster_wide() {
    let d = rendered(&["watchNamespaces={team-a,team-b}"]);
    let roles = find(&d, "ClusterRole");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rules"], expected_rules());
    assert!(
        find(&d, "ClusterRoleBinding").is_empty(),
        "nothing bound cluster-wide"
    );
    assert_eq!(
        namespaces_bound_to_the_cluster_role(&d),
        ["team-a", "team-b"],
        "one RoleBinding in each watched namespace"
    );
    let leases = find(&d, "RoleBinding")
        .into_iter()
        .filter(|rb| rb["roleRef"]["kind"] == "Role")
        .collect::<Vec<_>>();
    assert_eq!(leases.len(), 1, "the leader-election RoleBinding");
    assert_eq!(leases[0]["metadata"]["namespace"], "s3c-system");
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "namespace"),
        ["team-a,team-b"],
        "{args:?}"
    );
    assert_eq!(
        flag_values(&args, "lease-namespace"),
        ["s3c-system"],
        "the Lease stays in the release namespace: {args:?}"
    );
}

#[test]
fn chart_reads_kube_system_only_for_the_operator_identity_without_a_cluster_name() {
    let reader = |d: &[Value]| -> Option<Value> {
        let roles = find(d, "ClusterRole");
        let readers: Vec<_> = roles
            .iter()
            .filter(|r| r["metadata"]["name"] != "s3c-s3-connection-operator")
            .collect();
        assert!(readers.len() <= 1, "{readers:?}");
        readers.first().map(|r| (**r).clone())
    };

    // Off, with or without a name: no reader, no flag.
    for sets in [
        &["allowOperatorIdentity=false"][..],
        &["allowOperatorIdentity=false", "clusterName=prod-eu-1"][..],
    ] {
        let d = rendered(sets);
        assert!(reader(&d).is_none(), "{sets:?}");
        let args = args_of(&d);
        assert!(flag_values(&args, "cluster-name").is_empty(), "{args:?}");
        assert!(!args.contains(&"--allow-operator-identity".to_string()));
    }

    // On, with a name: the flag, no reader.
    let d = rendered(&["allowOperatorIdentity=true", "clusterName=prod-eu-1"]);
    assert!(reader(&d).is_none());
    let args = args_of(&d);
    assert_eq!(
        flag_values(&args, "cluster-name"),
        ["prod-eu-1"],
        "{args:?}"
    );
    assert!(args.contains(&"--allow-operator-identity".to_string()));

    // On, without a name: get on namespaces/kube-system and nothing else,
    // bound cluster-wide (namespaces are cluster-scoped), also when the
    // watched objects are bound per namespace.
    for sets in [
        &["allowOperatorIdentity=true"][..],
        &[
            "allowOperatorIdentity=true",
            "watchNamespaces={team-a,team-b}",
        ][..],
    ] {
        let d = rendered(sets);
        let r = reader(&d).unwrap_or_else(|| panic!("a kube-system reader for {sets:?}"));
        assert_eq!(r["rules"], kube_system_reader_rules());
        let name = r["metadata"]["name"].clone();
        let crbs = find(&d, "ClusterRoleBinding");
        let to_reader: Vec<_> = crbs
            .iter()
            .filter(|b| b["roleRef"]["name"] == name)
            .collect();
        assert_eq!(to_reader.len(), 1, "{sets:?}");
        assert_eq!(to_reader[0]["roleRef"]["kind"], "ClusterRole");
        assert_eq!(
            to_reader[0]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "s3c-s3-connection-operator", "namespace": "s3c-system"}])
        );
        let args = args_of(&d);
        assert!(flag_values(&args, "cluster-name").is_empty(), "{args:?}");
        assert!(args.contains(&"--allow-operator-identity".to_string()));
    }
    let d = rendered(&["allowOperatorIdentity=true", "watchNamespaces={team-a}"]);
    assert_eq!(
        find(&d, "ClusterRoleBinding").len(),
        1,
        "only the kube-system reader is bound cluster-wide"
    );
    assert_eq!(namespaces_bound_to_the_cluster_role(&d), ["team-a"]);
}

#[test]
fn chart_refuses_bad_values_naming_them() {
    for (set, value) in [
        (
            "allowedEndpoints={https://minio.example.com/bucket}",
            "allowedEndpoints",
        ),
        (
            "allowedEndpoints={minio.example.com:9000}",
            "allowedEndpoints",
        ),
        (
            "allowedEndpoints={https://user@minio.example.com}",
            "allowedEndpoints",
        ),
        ("watchNamespaces={Team_A}", "watchNamespaces"),
        ("watchNamespaces={team-a,team-a}", "watchNamespaces"),
        ("concurrency=0", "concurrency"),
        ("concurrency=257", "concurrency"),
        ("namespaceConcurrency=0", "namespaceConcurrency"),
        ("validationTimeout=0s", "validationTimeout"),
        ("validationTimeout=60", "validationTimeout"),
        ("clusterName=a:b", "clusterName"),
    ] {
        let out = render(&[set])
            .err()
            .unwrap_or_else(|| panic!("helm template --set {set} must fail"));
        assert!(
            out.contains(value),
            "--set {set}: the message names {value}:\n{out}"
        );
        if value == "concurrency" {
            assert!(!out.contains("namespaceConcurrency"), "{out}");
        }
    }

    // The removed single-namespace value fails with a pointer to the list
    // instead of being ignored (which would watch every namespace).
    let out = render(&["watchNamespace=team-a"]).expect_err("watchNamespace was removed");
    assert!(
        out.contains("watchNamespace was removed") && out.contains("watchNamespaces={team-a}"),
        "{out}"
    );
    // Its old default (all namespaces) is what an empty list means now.
    let d = rendered(&["watchNamespace="]);
    assert_eq!(find(&d, "ClusterRoleBinding").len(), 1);
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

/// Install the chart into a fresh namespace, watching `tenants`, with extra
/// `--set` values.
async fn install(env: &TestEnv, tenants: &[&str], sets: &[&str]) -> Installed {
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
    let (ok, out) = helm(&args, Some(&env.kubeconfig));
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
    allowed(
        client,
        ResourceAttributes {
            namespace: Some(ns.into()),
            verb: Some(verb.into()),
            group: Some(group.into()),
            resource: Some(resource.into()),
            ..Default::default()
        },
    )
    .await
}

/// Whether `client` may get the (cluster-scoped) namespace `name`.
async fn can_get_namespace(client: &Client, name: &str) -> bool {
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

/// What a SelfSubjectAccessReview says about `attributes`.
async fn allowed(client: &Client, attributes: ResourceAttributes) -> bool {
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
    let second = env.namespace("tenant-b").await;
    let Installed {
        namespace: ns,
        release: sa,
    } = install(&env, &[&tenant, &second], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let Login { client, kubeconfig } = as_service_account(&env, &ns, &sa, dir.path()).await;

    // What the ServiceAccount may and may not do.
    assert!(can(&client, &tenant, "get", "", "secrets").await);
    assert!(
        can(&client, &second, "get", "", "secrets").await,
        "every watched namespace is bound"
    );
    assert!(
        !can_get_namespace(&client, "kube-system").await,
        "no cluster-wide read without allowOperatorIdentity"
    );
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
async fn the_operator_identity_without_a_cluster_name_reads_only_kube_system() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("clusterid").await;
    let Installed {
        namespace: ns,
        release: sa,
    } = install(&env, &[&tenant], &["allowOperatorIdentity=true"]).await;
    let dir = tempfile::tempdir().unwrap();
    let Login { client, kubeconfig } = as_service_account(&env, &ns, &sa, dir.path()).await;
    // What the operator reads at startup to name the cluster: allowed, and
    // the real object is there.
    assert!(can_get_namespace(&client, "kube-system").await);
    let uid = Api::<Namespace>::all(client.clone())
        .get("kube-system")
        .await
        .expect("the ServiceAccount reads namespaces/kube-system")
        .metadata
        .uid
        .expect("a UID");
    assert!(!uid.is_empty());
    // The operator starts with its own identity allowed and names the
    // cluster by that UID.
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--allow-operator-identity"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    assert!(
        op.log().contains(&uid),
        "cluster named by the kube-system UID:\n{}",
        op.log()
    );
    assert!(!op.log().contains("forbidden"), "{}", op.log());
    // Nothing else cluster-wide.
    assert!(!can_get_namespace(&client, "default").await);
    assert!(!can_get_namespace(&client, &tenant).await);
    assert!(!can(&client, "", "list", "", "namespaces").await);
    assert!(!can(&client, "default", "get", "", "secrets").await);
    assert!(!can(&client, "kube-system", "get", "", "secrets").await);
    assert!(can(&client, &tenant, "get", "", "secrets").await);
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn a_missing_rule_is_reported_clearly_in_the_log() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("norule").await;
    let Installed {
        namespace: ns,
        release: sa,
    } = install(&env, &[&tenant], &[]).await;
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
