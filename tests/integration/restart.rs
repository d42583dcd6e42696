//! The control plane restarts under a running operator (every cluster
//! upgrade does that): the test environment's own kube-apiserver, and
//! separately etcd, are killed and started again. Afterwards every watch
//! must resume: changes to a Secret, a ServiceAccount annotation and a
//! connection's spec, made right after the return, and a Secret changed and
//! another deleted while the operator was still cut off, are all acted on
//! within 30 s, and the operator never exits.
//!
//! The deletion is the hard case after an API server restart: the restarted
//! API server no longer knows the resource version the operator's Secret
//! watch resumes from, so the watch lists again, and a list shows no
//! deletion, only a Secret that is no longer there. The operator compares
//! the list with what it knew.
//!
//! The operator reaches the API server through a relay the test owns, so
//! the test can keep it cut off a little longer than the outage itself and
//! change things meanwhile through its own, direct connection. These tests
//! take the environment exclusively: nothing else runs while they restart
//! parts of it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use testkit::{ALL, Operator, Relay, Setup, Spec, TestEnv, condition, s3_policy};

use crate::OPERATOR;

/// How long the component is away: the only fixed wait in these tests.
const OUTAGE: Duration = Duration::from_secs(10);
/// How soon after the return every change must have been acted on.
const WITHIN: Duration = Duration::from_secs(30);

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

fn access_key(env: &TestEnv, bucket: &str, secret: &str) -> Spec {
    // Long: only the watches can explain a quick re-validation.
    env.access_key_spec(bucket, secret).interval("1h")
}

async fn survives_a_restart_of(component: &str) {
    let env = TestEnv::exclusive(OPERATOR).await;
    let ns = env.namespace("restart").await;
    let bucket = env.bucket("restart").await;
    let user = env.user("restart", s3_policy(&bucket, "", &ALL)).await;
    let keys = [
        (AK, user.access_key_id.as_str()),
        (SK, user.secret_access_key.as_str()),
    ];
    for secret in ["after", "during", "deleted", "edited"] {
        env.secret(&ns, secret, &keys).await;
    }
    let role = env
        .role(
            "restart",
            env.irsa_trust(&ns, "sync"),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    env.service_account(&ns, "sync", &[("eks.amazonaws.com/role-arn", &role)])
        .await;
    for name in ["after", "during", "deleted", "edited"] {
        env.apply_connection(&ns, name, access_key(&env, &bucket, name))
            .await;
    }
    let irsa = access_key(&env, &bucket, "unused").service_account("sync");
    env.apply_connection(&ns, "irsa", irsa).await;

    let target = format!("127.0.0.1:{}", std::env::var("APISERVER_PORT").unwrap());
    let mut relay = Relay::start(&target).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = env.kubeconfig_via(relay.addr, dir.path());
    let mut op = Operator::start_with(
        &env,
        Some(&ns),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    let pid = op.pid();
    for name in ["after", "during", "deleted", "edited", "irsa"] {
        env.wait_ready(&ns, name, "True", Some("Validated")).await;
    }

    // The outage. The operator stays cut off until after the change made
    // "during" it.
    relay.stop().await;
    env.control("kill", component);
    tokio::time::sleep(OUTAGE).await;
    env.control("start", component);
    env.update_secret(&ns, "during", &[(SK, "changed-during-the-outage")])
        .await;
    Api::<Secret>::namespaced(env.kube.clone(), &ns)
        .delete("deleted", &DeleteParams::default())
        .await
        .unwrap();
    relay.resume().await;
    let returned = tokio::time::Instant::now();

    // Right after the return.
    env.update_secret(&ns, "after", &[(SK, "changed-right-after-the-return")])
        .await;
    Api::<ServiceAccount>::namespaced(env.kube.clone(), &ns)
        .patch(
            "sync",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "eks.amazonaws.com/role-arn": format!("{role}-gone")
            }}})),
        )
        .await
        .unwrap();
    let edited =
        access_key(&env, &bucket, "edited").permissions(&["s3:ListBucket", "s3:GetObject"]);
    env.apply_connection(&ns, "edited", edited).await;

    let left = || WITHIN.saturating_sub(returned.elapsed());
    for name in ["during", "after"] {
        let c = env
            .wait_ready_within(&ns, name, "False", Some("InvalidCredentials"), left())
            .await;
        assert!(
            condition(&c, "Ready")
                .message
                .contains("SignatureDoesNotMatch")
        );
    }
    env.wait_ready_within(&ns, "irsa", "False", Some("AssumeRoleFailed"), left())
        .await;
    // Its interval is an hour: only the relist's comparison explains this.
    env.wait_ready_within(&ns, "deleted", "False", Some("SecretNotFound"), left())
        .await;
    let c = env
        .wait_ready_within(&ns, "edited", "True", Some("Validated"), left())
        .await;
    assert_eq!(c.status.unwrap().permissions.len(), 2, "the new spec");
    eprintln!(
        "{component}: every change acted on {:?} after the return",
        returned.elapsed()
    );

    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
    assert_eq!(op.pid(), pid);
    let (_, metrics) = op.get("/metrics").await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("s3connection_watch_restarts_total{watch=\"secrets\"}")),
        "{metrics}"
    );
    assert!(
        op.log().contains("\"watch\":\"secrets\""),
        "watch errors name their watch"
    );
    // A restarted API server's watch cache is new, so the Secret watch
    // relisted and no event told of the deletion. (After an etcd restart
    // the API server's cache still knows where the watch was, and the
    // deletion arrives as an event.)
    if component == "kube-apiserver" {
        assert!(
            op.log()
                .contains("objects deleted while the watch was down"),
            "the deletion was found by the relist:\n{}",
            op.log()
        );
    }
}

#[tokio::test]
async fn every_watch_resumes_after_the_api_server_restarts() {
    survives_a_restart_of("kube-apiserver").await;
}

#[tokio::test]
async fn every_watch_resumes_after_etcd_restarts() {
    survives_a_restart_of("etcd").await;
}

/// With leader election, an API server outage longer than the lease makes
/// the leader step down (it cannot renew, so a standby could take over once
/// the API server is back) and exit non-zero, so that a fresh process
/// competes again; after the return a new replica takes the Lease and
/// validates.
#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_and_a_new_one_takes_over() {
    let env = TestEnv::exclusive(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("stepdown", "", &ALL).await;
    let replica = |name: &'static str| {
        let env = &env;
        let ns = ns.clone();
        async move {
            Operator::start_with(
                env,
                Some(&ns),
                &[
                    "--leader-election",
                    "--lease-namespace",
                    &ns,
                    "--lease-duration",
                    "6",
                ],
                &[("KUBECONFIG", env.kubeconfig.as_str()), ("POD_NAME", name)],
            )
            .await
        }
    };
    let mut first = replica("replica-a").await;
    env.apply_connection(&ns, "c", access_key(&env, &bucket, "creds"))
        .await;
    env.wait_ready(&ns, "c", "True", Some("Validated")).await;

    let outage = tokio::time::Instant::now();
    env.control("kill", "kube-apiserver");
    let status = first.wait_exit(OUTAGE).await;
    let stepped_down = outage.elapsed();
    env.control("start", "kube-apiserver");
    assert!(!status.success(), "exits non-zero: {status:?}");
    assert!(first.log().contains("stepping down"), "{}", first.log());
    eprintln!("the leader stepped down {stepped_down:?} into the outage (lease 6s)");

    let _second = replica("replica-b").await;
    let spec = access_key(&env, &bucket, "creds").interval("2h");
    env.apply_connection(&ns, "c", spec).await;
    env.wait_ready(&ns, "c", "True", Some("Validated")).await;
}
