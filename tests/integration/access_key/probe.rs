//! What a validation proves and what it leaves in the bucket: every
//! permission on the bucket or a prefix, nothing written without
//! `s3:PutObject`, one named probe object when deleting is denied, a missing
//! bucket, and a bucket of another account.

use testkit::aws::enable_versioning;
use testkit::objects::connection;
use testkit::{
    ALL, IamUser, Operator, PROVABLE, Setup, TestEnv, assert_allowed, condition, permission,
    s3_policy, unique,
};

use super::{AK, SK, assert_no_credentials, spec};
use crate::OPERATOR;

#[tokio::test]
async fn full_access_is_ready_and_leaves_no_probe_object() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("full", "", &ALL).await;
    let (ak, sk) = (&user.access_key_id, &user.secret_access_key);
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "data", spec(&env, &bucket, "creds"))
        .await;

    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    assert_allowed(&c, &PROVABLE);
    assert_eq!(permission(&c, "s3:ReplicateObject"), "Unverified");
    let status = c.status.clone().unwrap();
    assert!(
        status
            .identity
            .as_deref()
            .unwrap_or_default()
            .contains(":user/full-"),
        "identity is the IAM user: {:?}",
        status.identity
    );
    assert_eq!(status.bucket_region.as_deref(), Some(testkit::REGION));
    assert_eq!(status.auth.as_deref(), Some("AccessKey"));
    assert!(status.leftover_probe_object.is_none());
    assert_eq!(condition(&c, "Failed").status, "False");
    assert_eq!(condition(&c, "Authenticated").status, "True");
    assert_eq!(condition(&c, "BucketAccessible").status, "True");
    let testkit::Cond {
        status: perm_status,
        message: perm_msg,
        ..
    } = condition(&c, "PermissionsGranted");
    assert_eq!(perm_status, "Unknown");
    assert!(perm_msg.contains("s3:ReplicateObject"));
    assert!(
        env.keys(&bucket).await.is_empty(),
        "probe object left behind"
    );

    // Nothing secret anywhere. (No event: a first result that is Ready is
    // said by the status; see the rotation test for the events.)
    assert_no_credentials(&env, &ns, &op, &[ak, sk]).await;
}

#[tokio::test]
async fn prefix_scoped_policy_is_ready_on_its_prefix_only() {
    let env = TestEnv::new(OPERATOR).await;
    // Object actions only under customers/, listing on the bucket.
    let Setup { ns, bucket, .. } = env.setup("prefix", "customers/", &PROVABLE).await;
    let _op = Operator::start(&env, &ns, &[]).await;

    let (ok, denied) = env
        .own_and_other_prefix(&ns, &bucket, |at| spec(&env, at, "creds"))
        .await;
    assert_eq!(permission(&ok, "s3:PutObject"), "Allowed");
    let msg = condition(&denied, "Ready").message;
    for a in ["s3:PutObject", "s3:GetObject"] {
        assert!(msg.contains(a), "message names {a}: {msg}");
        assert_eq!(permission(&denied, a), "Denied");
    }
    assert_eq!(condition(&denied, "Failed").reason, "PermissionDenied");
    assert!(env.keys(&bucket).await.is_empty());
}

#[tokio::test]
async fn without_put_permission_nothing_is_written() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env
        .setup("noput", "", &["s3:ListBucket", "s3:GetObject"])
        .await;
    enable_versioning(&env.s3, &bucket).await.unwrap();
    let _op = Operator::start(&env, &ns, &[]).await;
    let s = spec(&env, &bucket, "creds").permissions(&[
        "s3:ListBucket",
        "s3:GetObject",
        "s3:DeleteObject",
    ]);
    env.apply_connection(&ns, "readonly", s).await;
    let c = env
        .wait_ready(&ns, "readonly", "True", Some("Validated"))
        .await;
    assert_eq!(permission(&c, "s3:GetObject"), "Allowed");
    assert_eq!(permission(&c, "s3:DeleteObject"), "Unverified");
    assert_eq!(
        env.versions(&bucket).await,
        Vec::<String>::new(),
        "no version or delete marker"
    );
}

#[tokio::test]
async fn denied_delete_leaves_exactly_one_probe_object() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env
        .setup(
            "nodelete",
            "",
            &["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
        )
        .await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let s = spec(&env, &bucket, "creds").permissions(&PROVABLE);
    env.apply_connection(&ns, "sticky", s.clone()).await;
    let c = env
        .wait_ready(&ns, "sticky", "False", Some("PermissionDenied"))
        .await;
    let leftover = c
        .status
        .clone()
        .unwrap()
        .leftover_probe_object
        .expect("leftoverProbeObject set");
    assert!(leftover.starts_with(".s3connection-probe/"), "{leftover}");
    assert_eq!(permission(&c, "s3:DeleteObject"), "Denied");
    assert_eq!(env.keys(&bucket).await, vec![leftover.clone()]);
    let first_generation = c.status.clone().unwrap().observed_generation;

    // Force a second validation (a spec change); wait_ready waits for the
    // status of the new generation.
    env.apply_connection(&ns, "sticky", s.interval("2m")).await;
    let c2 = env
        .wait_ready(&ns, "sticky", "False", Some("PermissionDenied"))
        .await;
    assert_ne!(
        c2.status.clone().unwrap().observed_generation,
        first_generation
    );
    assert_eq!(
        c2.status.unwrap().leftover_probe_object,
        Some(leftover.clone())
    );
    assert_eq!(
        env.keys(&bucket).await,
        vec![leftover],
        "no second probe object"
    );
}

#[tokio::test]
async fn nonexistent_bucket_is_bucket_not_found() {
    let env = TestEnv::new(OPERATOR).await;
    let missing = unique("missing");
    // The user may access the (missing) bucket, so S3 can say it does not exist.
    let ns = env.namespace("nobucket").await;
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env.user("nobucket2", s3_policy(&missing, "", &ALL)).await;
    env.secret(&ns, "creds", &[(AK, &ak), (SK, &sk)]).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "c", spec(&env, &missing, "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "c", "False", Some("BucketNotFound"))
        .await;
    assert!(condition(&c, "Ready").message.contains(&missing));
    assert_eq!(condition(&c, "BucketAccessible").status, "False");
}

#[tokio::test]
async fn expected_bucket_owner_is_sent_and_a_mismatch_is_its_own_failure() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("owner", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let with_owner = |owner: &str| spec(&env, &bucket, "creds").expected_bucket_owner(owner);
    env.apply_connection(&ns, "ours", with_owner(&env.account))
        .await;
    env.wait_ready(&ns, "ours", "True", Some("Validated")).await;

    env.apply_connection(&ns, "theirs", with_owner("111122223333"))
        .await;
    let c = env
        .wait_ready(&ns, "theirs", "False", Some("BucketOwnerMismatch"))
        .await;
    let message = condition(&c, "Ready").message;
    assert!(message.contains("111122223333"), "{message}");
    assert_eq!(condition(&c, "Stalled").reason, "BucketOwnerMismatch");
    assert!(env.keys(&bucket).await.is_empty(), "nothing is written");

    // Not an account ID: refused by the API server.
    let err = env
        .connections(&ns)
        .patch(
            "bad",
            &kube::api::PatchParams::apply("integration-test"),
            &kube::api::Patch::Apply(connection("bad", &[], with_owner("12345"))),
        )
        .await
        .expect_err("a 5-digit owner is invalid");
    assert!(err.to_string().contains("expectedBucketOwner"), "{err}");
}
