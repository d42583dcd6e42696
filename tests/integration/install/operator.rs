//! The operator with the chart's ServiceAccount: only the chart's
//! permissions, the cluster named by the kube-system UID, a missing rule
//! reported in the log, and no rights at all.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::PostParams;
use testkit::chart::flag_values;
use testkit::{Operator, TestEnv};

use super::{
    Installed, Login, as_service_account, can, can_get_namespace, install, tenant_with_connection,
    uninstall,
};
use crate::OPERATOR;

#[tokio::test]
async fn operator_runs_with_only_the_charts_permissions() {
    let env = TestEnv::new(OPERATOR).await;
    let tenant = tenant_with_connection(&env, "tenant").await;
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
    // Standbys watch the Lease to take over when it is released.
    assert!(can(&client, &ns, "watch", "coordination.k8s.io", "leases").await);
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

    // The probe marker's key: its one Secret in the release namespace,
    // which the operator may create there and read, and nowhere else.
    let key_secret = flag_values(&args, "probe-key-secret");
    assert_eq!(key_secret, [format!("{sa}-probe-key")], "{args:?}");
    assert!(can(&client, &ns, "create", "", "secrets").await);
    assert!(!can(&client, &ns, "update", "", "secrets").await);

    let kc = kubeconfig.to_str().unwrap();
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &[
            "--leader-election",
            "--lease-namespace",
            &ns,
            "--probe-key-secret",
            &key_secret[0],
        ],
        &[
            ("KUBECONFIG", kc),
            ("POD_NAME", "installed-operator"),
            ("POD_NAMESPACE", &ns),
        ],
    )
    .await;
    let c = env
        .wait_ready(&tenant, "data", "True", Some("Validated"))
        .await;
    let made = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.kube.clone(), &ns)
        .get(&key_secret[0])
        .await
        .expect("the operator made its key Secret");
    assert_eq!(made.data.unwrap()["current"].0.len(), 32);
    assert_eq!(c.status.unwrap().auth.as_deref(), Some("AccessKey"));
    assert!(
        !op.log().contains("forbidden"),
        "no RBAC error:\n{}",
        op.log()
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn the_labelled_mode_runs_with_the_charts_permissions() {
    let env = TestEnv::new(OPERATOR).await;
    let tenant = tenant_with_connection(&env, "labelled").await;
    let Installed {
        namespace: ns,
        release: sa,
        ..
    } = install(&env, &[&tenant], &["requireCredentialsLabel=true"]).await;
    let dir = tempfile::tempdir().unwrap();
    let Login { kubeconfig, .. } = as_service_account(&env, &ns, &sa, dir.path()).await;
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--require-credentials-label"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    env.wait_ready(&tenant, "data", "False", Some("SecretLabelMissing"))
        .await;
    let label = "s3connection.dev/credentials";
    env.label_secret(&tenant, "creds", label, Some("true"))
        .await;
    env.wait_ready(&tenant, "data", "True", Some("Validated"))
        .await;
    assert!(
        !op.log().contains("forbidden"),
        "no RBAC error:\n{}",
        op.log()
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn the_operator_identity_without_a_cluster_name_reads_only_kube_system() {
    let env = TestEnv::new(OPERATOR).await;
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
    let env = TestEnv::new(OPERATOR).await;
    let tenant = tenant_with_connection(&env, "norule").await;
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
        testkit::ready_of(&c).is_none_or(|r| r.status != "True"),
        "never Ready without proof"
    );
    uninstall(&env, &sa, &ns).await;
}

#[tokio::test]
async fn without_any_rights_the_operator_says_so_and_still_stops_on_sigterm() {
    let env = TestEnv::new(OPERATOR).await;
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
