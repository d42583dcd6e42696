//! Installing like a user does: the chart installs into the test API
//! server, and the operator binary running with the chart's ServiceAccount
//! token (not the admin certificate) gets a connection to Ready; the roles
//! for people give connections but never their status; removing one RBAC
//! rule is reported clearly in the operator's log. (Rendering without a
//! cluster: charts.rs. The chart's pods on a real node: the pods suite.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{ALL, IamUser, Operator, TestEnv, s3_policy, unique};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::PostParams;
use kube::{Api, Client, Config};
use serde_json::json;

use crate::chart::{CHART, flag_values, helm};

/// A release of the chart.
struct Installed {
    /// The release namespace.
    namespace: String,
    /// The release name, which is also the name of its ServiceAccount and
    /// ClusterRole (`fullnameOverride`).
    release: String,
    /// What `helm install` printed (the chart's NOTES among it).
    notes: String,
}

/// Install the chart into a fresh namespace, watching `tenants`, with extra
/// `--set` values.
async fn install(env: &TestEnv, tenants: &[&str], sets: &[&str]) -> Installed {
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
        notes: out,
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
        notes,
    } = install(&env, &[&tenant, &second], &[]).await;
    // The NOTES name the Lease the operator really uses.
    let deployment =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.kube.clone(), &ns)
            .get(&sa)
            .await
            .unwrap();
    let args = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    let lease = flag_values(&args, "lease-name");
    assert_eq!(lease, std::slice::from_ref(&sa), "{args:?}");
    assert!(
        notes.contains(&format!(
            "leader election on Lease \"{}\" in \"{ns}\"",
            lease[0]
        )) && notes.contains(&format!("get lease {}", lease[0])),
        "NOTES name the Lease {}:\n{notes}",
        lease[0]
    );
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

/// Whether `client` may `verb` S3Connections (or their `subresource`) in `ns`.
async fn can_connections(client: &Client, ns: &str, verb: &str, subresource: &str) -> bool {
    allowed(
        client,
        ResourceAttributes {
            namespace: Some(ns.into()),
            verb: Some(verb.into()),
            group: Some("s3connection.dev".into()),
            resource: Some("s3connections".into()),
            subresource: (!subresource.is_empty()).then(|| subresource.into()),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_roles_for_people_give_connections_but_never_their_status() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("people").await;
    let Installed {
        namespace: ns,
        release,
        ..
    } = install(&env, &[&tenant], &[]).await;
    // The test API server runs no controller-manager to aggregate them into
    // view/edit/admin, so bind each in the tenant namespace the way a
    // RoleBinding to `view` or `edit` would reach it.
    let bindings: Api<RoleBinding> = Api::namespaced(env.kube.clone(), &tenant);
    let dir = tempfile::tempdir().unwrap();
    let mut clients = BTreeMap::new();
    for kind in ["view", "edit"] {
        let sa = format!("{kind}er");
        env.service_account(&tenant, &sa, &[]).await;
        let rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": &sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{release}-{kind}")},
            "subjects": [{"kind": "ServiceAccount", "name": &sa, "namespace": &tenant}],
        }))
        .unwrap();
        bindings.create(&PostParams::default(), &rb).await.unwrap();
        let sub = dir.path().join(kind);
        std::fs::create_dir(&sub).unwrap();
        clients.insert(
            kind,
            as_service_account(&env, &tenant, &sa, &sub).await.client,
        );
    }
    let (viewer, editor) = (&clients["view"], &clients["edit"]);
    for verb in ["get", "list", "watch"] {
        assert!(
            can_connections(viewer, &tenant, verb, "").await,
            "view may {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert!(
            !can_connections(viewer, &tenant, verb, "").await,
            "view may not {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for client in [viewer, editor] {
        for verb in ["update", "patch"] {
            assert!(
                !can_connections(client, &tenant, verb, "status").await,
                "only the operator writes status ({verb})"
            );
        }
        assert!(
            !can_connections(client, "default", "get", "").await,
            "only where bound"
        );
        assert!(!can(client, &tenant, "get", "", "secrets").await);
    }
    uninstall(&env, &release, &ns).await;
}

#[tokio::test]
async fn the_operator_identity_without_a_cluster_name_reads_only_kube_system() {
    let env = TestEnv::new().await;
    let tenant = env.namespace("clusterid").await;
    let Installed {
        namespace: ns,
        release: sa,
        ..
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
        ..
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
