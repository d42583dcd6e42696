//! A connection whose status records a leftover probe object carries the
//! operator's finalizer: the leftover is removed when the connection is
//! deleted and can be, the deletion completes when it cannot, the finalizer
//! goes when the leftover goes, and `release-finalizers` frees connections
//! when no operator runs.

use std::process::Command;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::DeleteParams;
use s3_connection_operator::crd::S3Connection;
use s3_connection_operator::reconcile::finalizer::FINALIZER;
use testkit::wait::await_object;
use testkit::{ALL, Operator, PROVABLE, Setup, TestEnv, s3_policy};

use crate::OPERATOR;

/// A deletion that the operator lets complete: well within this (the
/// cleanup's own deadline is 10 s).
const DELETED_WITHIN: Duration = Duration::from_secs(30);

/// May read and write but not delete: the probe object stays.
const NO_DELETE: [&str; 3] = ["s3:ListBucket", "s3:GetObject", "s3:PutObject"];

fn has_finalizer(c: &S3Connection) -> bool {
    c.finalizers().iter().any(|f| f == FINALIZER)
}

/// `ns/name` validated with a denied delete: its leftover key, once the
/// finalizer is on it.
async fn with_leftover(env: &TestEnv, ns: &str, bucket: &str, name: &str) -> String {
    let spec = env.access_key_spec(bucket, "creds").permissions(&PROVABLE);
    env.apply_connection(ns, name, spec).await;
    let c = env
        .wait_ready(ns, name, "False", Some("PermissionDenied"))
        .await;
    let leftover = c
        .status
        .clone()
        .unwrap()
        .leftover_probe_object
        .expect("leftoverProbeObject set");
    await_object(
        &env.connections(ns),
        name,
        "the finalizer added with the leftover",
        testkit::TIMEOUT,
        |c: Option<&S3Connection>| c.is_some_and(has_finalizer),
    )
    .await;
    assert!(env.keys(bucket).await.contains(&leftover));
    leftover
}

async fn delete_and_wait_gone(env: &TestEnv, ns: &str, name: &str) {
    env.connections(ns)
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    await_object(
        &env.connections(ns),
        name,
        "the connection gone",
        DELETED_WITHIN,
        |c: Option<&S3Connection>| c.is_none(),
    )
    .await;
}

#[tokio::test]
async fn a_leftover_is_removed_when_its_connection_is_deleted() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("fin-rm", "", &NO_DELETE).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let key = with_leftover(&env, &ns, &bucket, "sticky").await;

    // Deleting is allowed now: the deletion removes the object.
    env.set_user_policy(&user, s3_policy(&bucket, "", &ALL))
        .await;
    delete_and_wait_gone(&env, &ns, "sticky").await;
    assert!(
        env.keys(&bucket).await.is_empty(),
        "the leftover {key} is gone"
    );
    let e = env.wait_event(&ns, "Normal", "ProbeObjectRemoved").await;
    let note = e.note.unwrap_or_default();
    assert!(note.contains(&format!("s3://{bucket}/{key}")), "{note}");
}

#[tokio::test]
async fn a_deletion_completes_when_the_leftover_cannot_be_removed() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("fin-left", "", &NO_DELETE).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let denied = with_leftover(&env, &ns, &bucket, "denied").await;
    let orphan = with_leftover(&env, &ns, &bucket, "orphan").await;
    assert_ne!(denied, orphan);

    // Still denied: the deletion completes, the object stays, an event says where.
    delete_and_wait_gone(&env, &ns, "denied").await;
    let e = env.wait_event(&ns, "Warning", "ProbeObjectLeft").await;
    let note = e.note.unwrap_or_default();
    assert!(note.contains(&format!("s3://{bucket}/{denied}")), "{note}");
    assert!(note.contains("DeleteObject was denied"), "{note}");

    // No credentials at all: the same, at once.
    env.kubectl(&["delete", "secret", "-n", &ns, "creds"]);
    delete_and_wait_gone(&env, &ns, "orphan").await;
    let mut keys = env.keys(&bucket).await;
    keys.sort();
    let mut left = vec![denied, orphan];
    left.sort();
    assert_eq!(keys, left, "both objects are where the events say");
}

#[tokio::test]
async fn the_finalizer_goes_with_the_leftover_and_ready_connections_never_get_one() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("fin-sync", "", &NO_DELETE).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    with_leftover(&env, &ns, &bucket, "sticky").await;

    env.set_user_policy(&user, s3_policy(&bucket, "", &ALL))
        .await;
    // A new generation validates again and removes the leftover.
    let spec = env
        .access_key_spec(&bucket, "creds")
        .permissions(&PROVABLE)
        .interval("2m");
    env.apply_connection(&ns, "sticky", spec).await;
    let c = env
        .wait_ready(&ns, "sticky", "True", Some("Validated"))
        .await;
    assert_eq!(c.status.unwrap().leftover_probe_object, None);
    await_object(
        &env.connections(&ns),
        "sticky",
        "the finalizer removed with the leftover",
        testkit::TIMEOUT,
        |c: Option<&S3Connection>| c.is_some_and(|c| !has_finalizer(c)),
    )
    .await;
    assert!(env.keys(&bucket).await.is_empty());

    let spec = env.access_key_spec(&bucket, "creds").permissions(&PROVABLE);
    env.apply_connection(&ns, "fine", spec).await;
    let c = env.wait_ready(&ns, "fine", "True", Some("Validated")).await;
    assert!(!has_finalizer(&c), "{:?}", c.metadata.finalizers);
}

#[tokio::test]
async fn release_finalizers_frees_the_connections_in_scope_without_an_operator() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("fin-rel", "", &NO_DELETE).await;
    let op = Operator::start(&env, &ns, &[]).await;
    with_leftover(&env, &ns, &bucket, "a").await;
    with_leftover(&env, &ns, &bucket, "b").await;
    env.kubectl(&["label", "-n", &ns, "s3connection/a", "shard=one"]);
    op.stop(Duration::from_secs(30)).await.unwrap();

    let release = |selector: &str| {
        let out = Command::new(OPERATOR)
            .args(["release-finalizers", "--namespace", &ns])
            .args(["--watch-label-selector", selector])
            .env("KUBECONFIG", &env.kubeconfig)
            .output()
            .expect("run release-finalizers");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        release("shard=one").trim(),
        format!("released 1 S3Connection(s) from {FINALIZER}")
    );
    // The one selected is deleted at once; the other still waits for an
    // operator.
    delete_and_wait_gone(&env, &ns, "a").await;
    let b = env.connections(&ns).get("b").await.unwrap();
    assert!(has_finalizer(&b));
    assert!(release("!shard").contains("released 1 "));
    delete_and_wait_gone(&env, &ns, "b").await;
    assert_eq!(env.keys(&bucket).await.len(), 2, "the objects stay");
}

#[tokio::test]
async fn only_its_own_finalizer_is_removed_whoever_added_it() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("fin-own", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let spec = env.access_key_spec(&bucket, "creds").permissions(&PROVABLE);
    env.apply_connection(&ns, "c", spec).await;
    env.wait_ready(&ns, "c", "True", Some("Validated")).await;

    // A tenant puts the operator's finalizer and one of its own on a
    // connection with no leftover, then deletes it.
    let finalizers =
        format!(r#"{{"metadata":{{"finalizers":["example.com/keep","{FINALIZER}"]}}}}"#);
    let out = env.kubectl(&[
        "patch",
        "-n",
        &ns,
        "s3connection/c",
        "--type=merge",
        "-p",
        &finalizers,
    ]);
    assert!(out.status.success(), "{out:?}");
    env.connections(&ns)
        .delete("c", &DeleteParams::default())
        .await
        .unwrap();
    let c = await_object(
        &env.connections(&ns),
        "c",
        "the operator's finalizer removed, the other kept",
        DELETED_WITHIN,
        |c: Option<&S3Connection>| c.is_some_and(|c| !has_finalizer(c)),
    )
    .await
    .unwrap();
    assert_eq!(c.finalizers(), ["example.com/keep"]);
    assert!(c.metadata.deletion_timestamp.is_some());
    assert!(env.keys(&bucket).await.is_empty(), "nothing was written");
}
