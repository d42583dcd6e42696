//! Objects the operator did not write: never deleted, never overwritten,
//! whatever a status or an object at the probe key says.

use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use testkit::aws::read_object;
use testkit::{ALL, Operator, Setup, TestEnv, condition, s3_policy};

use super::{AK, SK, spec_at};
use crate::OPERATOR;

#[tokio::test]
async fn objects_the_operator_did_not_write_are_never_deleted() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("foreign", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let ledger = b"date,amount\n2026-11-28,100\n".to_vec();
    env.s3
        .put_object()
        .bucket(&bucket)
        .key("finance/ledger.csv")
        .body(ByteStream::from(ledger.clone()))
        .send()
        .await
        .unwrap();
    let ledger_now = |env: &TestEnv| {
        let (s3, bucket) = (env.s3.clone(), bucket.clone());
        async move {
            read_object(&s3, &bucket, "finance/ledger.csv")
                .await
                .expect("the ledger is still there")
        }
    };

    // (a) A status that names someone else's object as the leftover.
    let spec = spec_at(&env.endpoint, &bucket, "creds");
    env.apply_connection(&ns, "tampered", spec.clone()).await;
    env.wait_ready(&ns, "tampered", "True", Some("Validated"))
        .await;
    env.connections(&ns)
        .patch_status(
            "tampered",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "leftoverProbeObject": "finance/ledger.csv",
                "leftoverProbeBucket": bucket,
            }})),
        )
        .await
        .unwrap();
    env.apply_connection(&ns, "tampered", spec.interval("2m"))
        .await;
    let c = env
        .wait_ready(&ns, "tampered", "True", Some("Validated"))
        .await;
    assert_eq!(ledger_now(&env).await, ledger, "byte for byte");
    assert!(c.status.unwrap().leftover_probe_object.is_none());

    // (b) An object already at the connection's probe key.
    let spec = spec_at(&env.endpoint, &bucket, "not-yet");
    env.apply_connection(&ns, "squatted", spec.clone()).await;
    let c = env
        .wait_ready(&ns, "squatted", "False", Some("SecretNotFound"))
        .await;
    let key = format!(".s3connection-probe/{}", c.metadata.uid.clone().unwrap());
    let theirs = b"not the operator's".to_vec();
    env.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from(theirs.clone()))
        .send()
        .await
        .unwrap();
    let user = env.user("foreign2", s3_policy(&bucket, "", &ALL)).await;
    env.secret(
        &ns,
        "not-yet",
        &[(AK, &user.access_key_id), (SK, &user.secret_access_key)],
    )
    .await;
    let c = env
        .wait_ready(&ns, "squatted", "False", Some("ProbeKeyInUse"))
        .await;
    assert!(condition(&c, "Ready").message.contains(&key));
    let body = read_object(&env.s3, &bucket, &key)
        .await
        .expect("their object is still there");
    assert_eq!(body, theirs, "byte for byte");
    assert_eq!(ledger_now(&env).await, ledger);
}
