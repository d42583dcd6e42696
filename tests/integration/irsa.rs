//! IAM roles through IRSA: the operator exchanges the tenant ServiceAccount's
//! token (not its own) with STS AssumeRoleWithWebIdentity, and the role's
//! trust policy decides. The S3/STS endpoint verifies the token's signature
//! against the API server's service-account key and the trust policy's
//! `sub`/`aud` conditions.

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use s3_connection_operator::crd::S3Connection;
use serde_json::json;
use testkit::{ALL, Operator, PROVABLE, Spec, TestEnv, condition, s3_policy};

use crate::OPERATOR;

/// The operator's own count of GET requests to the API server.
async fn api_gets(op: &Operator) -> f64 {
    let (code, body) = op.get("/metrics").await.expect("GET /metrics");
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix("s3connection_kube_requests_total{verb=\"get\"} "))
        .and_then(|v| v.parse().ok())
        .expect("s3connection_kube_requests_total{verb=\"get\"}")
}

/// `bucket` through role `role` and/or ServiceAccount `sa`, proving four
/// permissions.
fn spec(env: &TestEnv, bucket: &str, role: Option<&str>, sa: Option<&str>) -> Spec {
    Spec::iam_role(bucket, &env.endpoint, role, sa).permissions(&PROVABLE)
}

#[tokio::test]
async fn trusted_service_account_assumes_the_role() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("irsa").await;
    let bucket = env.bucket("irsa").await;
    let role = env
        .role(
            "irsa",
            env.irsa_trust(&ns, "s3-sync"),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    // The role ARN comes from the ServiceAccount annotation, as on EKS.
    env.service_account(&ns, "s3-sync", &[("eks.amazonaws.com/role-arn", &role)])
        .await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "irsa", spec(&env, &bucket, None, Some("s3-sync")))
        .await;
    let c = env.wait_ready(&ns, "irsa", "True", Some("Validated")).await;
    let status = c.status.unwrap();
    let role_name = role.rsplit('/').next().unwrap();
    let identity = status.identity.unwrap_or_default();
    assert!(
        identity.contains(&format!("assumed-role/{role_name}/")),
        "identity is an assumed-role session of {role_name}: {identity}"
    );
    assert_eq!(status.auth.as_deref(), Some("IRSA"));
    assert!(env.keys(&bucket).await.is_empty());
}

/// The ServiceAccount comes from the operator's metadata watch, not from a
/// GET per validation: a new role annotation re-validates the connection
/// with the new role at once, and without a read.
#[tokio::test]
async fn a_new_role_annotation_is_used_at_once_without_reading_the_service_account() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("irsa-swap").await;
    let bucket = env.bucket("irsa-swap").await;
    let mut roles = vec![];
    for name in ["irsa-swap-a", "irsa-swap-b"] {
        let trust = env.irsa_trust(&ns, "s3-sync");
        roles.push(env.role(name, trust, s3_policy(&bucket, "", &ALL)).await);
    }
    env.service_account(&ns, "s3-sync", &[("eks.amazonaws.com/role-arn", &roles[0])])
        .await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "irsa", spec(&env, &bucket, None, Some("s3-sync")))
        .await;
    let c = env.wait_ready(&ns, "irsa", "True", Some("Validated")).await;
    let session_of = |c: &S3Connection, role: &str| {
        let name = role.rsplit('/').next().unwrap_or_default();
        c.status
            .as_ref()
            .and_then(|s| s.identity.as_deref())
            .is_some_and(|i| i.contains(&format!("assumed-role/{name}/")))
    };
    assert!(session_of(&c, &roles[0]), "{:?}", c.status);
    let gets = api_gets(&op).await;

    let patch = json!({"metadata": {"annotations": {"eks.amazonaws.com/role-arn": roles[1]}}});
    Api::<ServiceAccount>::namespaced(env.kube.clone(), &ns)
        .patch("s3-sync", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate the ServiceAccount");
    let second = roles[1].clone();
    let swapped = await_condition(
        env.connections(&ns),
        "irsa",
        move |c: Option<&S3Connection>| c.is_some_and(|c| session_of(c, &second)),
    );
    let c = tokio::time::timeout(Duration::from_secs(20), swapped)
        .await
        .expect("validated with the new role within 20 s")
        .expect("watch")
        .expect("the connection exists");
    assert_eq!(condition(&c, "Ready").status, "True");
    assert_eq!(
        api_gets(&op).await,
        gets,
        "the ServiceAccount was read, not taken from the watch"
    );
}

#[tokio::test]
async fn service_account_the_role_does_not_trust_is_refused() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("untrusted").await;
    let bucket = env.bucket("untrusted").await;
    // The role trusts "s3-sync"; the connection uses "intruder" from the
    // same namespace: STS must refuse.
    let role = env
        .role(
            "untrusted",
            env.irsa_trust(&ns, "s3-sync"),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    env.service_account(&ns, "s3-sync", &[]).await;
    env.service_account(&ns, "intruder", &[]).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(
        &ns,
        "sneaky",
        spec(&env, &bucket, Some(&role), Some("intruder")),
    )
    .await;
    env.apply_connection(
        &ns,
        "honest",
        spec(&env, &bucket, Some(&role), Some("s3-sync")),
    )
    .await;
    let c = env
        .wait_ready(&ns, "sneaky", "False", Some("AssumeRoleFailed"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(
        msg.contains(&format!("system:serviceaccount:{ns}:intruder")),
        "{msg}"
    );
    // Same role, trusted ServiceAccount: works, so the refusal was the trust policy.
    env.wait_ready(&ns, "honest", "True", Some("Validated"))
        .await;
}

#[tokio::test]
async fn missing_service_account_and_missing_role_arn() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("nosa").await;
    let bucket = env.bucket("nosa").await;
    env.service_account(&ns, "plain", &[]).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(
        &ns,
        "nosa",
        spec(
            &env,
            &bucket,
            Some("arn:aws:iam::123456789012:role/x"),
            Some("ghost"),
        ),
    )
    .await;
    env.apply_connection(&ns, "noarn", spec(&env, &bucket, None, Some("plain")))
        .await;
    env.wait_ready(&ns, "nosa", "False", Some("ServiceAccountNotFound"))
        .await;
    let c = env
        .wait_ready(&ns, "noarn", "False", Some("RoleArnMissing"))
        .await;
    assert!(
        condition(&c, "Ready")
            .message
            .contains("eks.amazonaws.com/role-arn")
    );

    // Creating the ServiceAccount re-validates at once.
    let role = env
        .role(
            "nosa",
            env.irsa_trust(&ns, "ghost"),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    env.apply_connection(&ns, "nosa", spec(&env, &bucket, Some(&role), Some("ghost")))
        .await;
    env.service_account(&ns, "ghost", &[]).await;
    env.wait_ready_within(
        &ns,
        "nosa",
        "True",
        Some("Validated"),
        std::time::Duration::from_secs(20),
    )
    .await;
}

#[tokio::test]
async fn operator_identity_is_refused_unless_allowed() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("opid").await;
    let bucket = env.bucket("opid").await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(
        &ns,
        "borrow",
        spec(
            &env,
            &bucket,
            Some("arn:aws:iam::123456789012:role/anything"),
            None,
        ),
    )
    .await;
    let c = env
        .wait_ready(&ns, "borrow", "False", Some("OperatorIdentityDisabled"))
        .await;
    assert!(
        condition(&c, "Ready")
            .message
            .contains("--allow-operator-identity")
    );
}

#[tokio::test]
async fn the_operator_identity_sends_an_external_id_naming_the_namespace() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("opext").await;
    let bucket = env.bucket("opext").await;
    let kube_system = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(env.kube.clone())
        .get("kube-system")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    // What a real trust policy says (moto does not check the condition).
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            // moto matches principals literally (an account root does not
            // cover its users), so the trust names the admin user.
            "Principal": {"AWS": env.admin_principal()},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": format!("{kube_system}:{ns}")}}
        }]
    });
    let role = env.role("opext", trust, s3_policy(&bucket, "", &ALL)).await;
    // The operator's own identity: the environment's admin keys. Without
    // --cluster-name it names the cluster by the kube-system namespace's UID.
    let _op = Operator::start_as_admin(&env, &ns).await;
    env.apply_connection(&ns, "own", spec(&env, &bucket, Some(&role), None))
        .await;
    let c = env.wait_ready(&ns, "own", "True", Some("Validated")).await;
    let status = c.status.unwrap();
    assert_eq!(
        status.external_id.as_deref(),
        Some(format!("{kube_system}:{ns}").as_str()),
        "the ExternalId a trust policy must require"
    );
    assert_eq!(status.auth.as_deref(), Some("OperatorRole"));
    let identity = status.identity.unwrap_or_default();
    assert!(
        identity.contains(&format!("/s3c-{ns}-own")),
        "the session names the namespace: {identity}"
    );
}
