//! Objects the operator did not write: never deleted, never overwritten,
//! whatever a status or an object at the probe key says (its marker
//! included, as a tenant can write it), and never a reason to stop probing.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use testkit::aws::read_object;
use testkit::{ALL, Operator, Setup, TestEnv, permission, permission_message, s3_policy};

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

    // (b) Objects already at connections' probe keys: one with the marker
    // as anyone could write it before it was keyed (the UID, which is in
    // the key) and a made-up MAC, one without any marker. Neither is
    // deleted, neither blocks its connection: the probe goes elsewhere.
    let forged = |uid: &str| {
        HashMap::from([
            ("s3connection-uid".to_string(), uid.to_string()),
            ("s3connection-mac".to_string(), "0".repeat(64)),
        ])
    };
    for (name, marked) in [("forged", true), ("squatted", false)] {
        let secret = format!("{name}-creds");
        let spec = spec_at(&env.endpoint, &bucket, &secret);
        env.apply_connection(&ns, name, spec.clone()).await;
        let c = env
            .wait_ready(&ns, name, "False", Some("SecretNotFound"))
            .await;
        let uid = c.metadata.uid.clone().unwrap();
        let key = format!(".s3connection-probe/{uid}");
        let theirs = format!("not the operator's: {name}").into_bytes();
        env.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .set_metadata(marked.then(|| forged(&uid)))
            .body(ByteStream::from(theirs.clone()))
            .send()
            .await
            .unwrap();
        let user = env
            .user(&format!("{name}2"), s3_policy(&bucket, "", &ALL))
            .await;
        env.secret(
            &ns,
            &secret,
            &[(AK, &user.access_key_id), (SK, &user.secret_access_key)],
        )
        .await;
        let c = env.wait_ready(&ns, name, "True", Some("Validated")).await;
        let put = permission_message(&c, "s3:PutObject");
        assert!(put.contains(&key), "{name}: {put}");
        assert_eq!(permission(&c, "s3:DeleteObject"), "Allowed", "{name}");
        assert!(c.status.unwrap().leftover_probe_object.is_none());
        let body = read_object(&env.s3, &bucket, &key)
            .await
            .expect("their object is still there");
        assert_eq!(body, theirs, "{name}: byte for byte");
        // The probe object at the fresh key is gone again.
        let keys = env.keys(&bucket).await;
        let left: Vec<_> = keys
            .iter()
            .filter(|k| k.starts_with(&key) && **k != key)
            .collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
    assert_eq!(ledger_now(&env).await, ledger);
}
