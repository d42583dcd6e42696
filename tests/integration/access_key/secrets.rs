//! Credentials from Secrets: wrong and unknown keys, a Secret that comes
//! late or lacks its key, rotation and breakage noticed within seconds, one
//! STS answer for connections sharing a Secret, and no status rewrite when
//! a touched Secret says the same.

use serde_json::json;
use testkit::{
    ALL, IamUser, Operator, Setup, TestEnv, annotate, condition, metrics, s3_policy, total,
};

use super::{AK, SK, assert_no_credentials, spec};
use crate::OPERATOR;

#[tokio::test]
async fn wrong_secret_key_and_unknown_key_id_are_invalid_credentials() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("badkeys", "", &ALL).await;
    let ak = &user.access_key_id;
    env.secret(
        &ns,
        "wrong-secret",
        &[(AK, ak), (SK, "not-the-secret-key-at-all")],
    )
    .await;
    env.secret(
        &ns,
        "unknown-id",
        &[(AK, "AKIAUNKNOWNKEY000000"), (SK, "whatever-secret-key")],
    )
    .await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "wrong-secret", spec(&env, &bucket, "wrong-secret"))
        .await;
    env.apply_connection(&ns, "unknown-id", spec(&env, &bucket, "unknown-id"))
        .await;
    let c = env
        .wait_ready(&ns, "wrong-secret", "False", Some("InvalidCredentials"))
        .await;
    assert!(
        condition(&c, "Ready")
            .message
            .contains("SignatureDoesNotMatch"),
        "{}",
        condition(&c, "Ready").message
    );
    assert_eq!(condition(&c, "Authenticated").status, "False");
    let c = env
        .wait_ready(&ns, "unknown-id", "False", Some("InvalidCredentials"))
        .await;
    assert!(
        condition(&c, "Ready")
            .message
            .contains("InvalidAccessKeyId"),
        "{}",
        condition(&c, "Ready").message
    );
    assert_no_credentials(
        &env,
        &ns,
        &op,
        &[
            ak,
            "not-the-secret-key-at-all",
            "AKIAUNKNOWNKEY000000",
            "whatever-secret-key",
        ],
    )
    .await;
}

#[tokio::test]
async fn missing_secret_then_created_becomes_ready_within_seconds() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("latesecret").await;
    let bucket = env.bucket("latesecret").await;
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env.user("latesecret", s3_policy(&bucket, "", &ALL)).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "late", spec(&env, &bucket, "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "late", "False", Some("SecretNotFound"))
        .await;
    assert!(condition(&c, "Ready").message.contains("\"creds\""));

    // The interval is 1m; the Secret watch must re-validate much sooner.
    env.secret(&ns, "creds", &[(AK, &ak), (SK, &sk)]).await;
    env.wait_ready_within(
        &ns,
        "late",
        "True",
        Some("Validated"),
        std::time::Duration::from_secs(20),
    )
    .await;
}

#[tokio::test]
async fn rotated_then_broken_secret_is_noticed_within_seconds() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("rotate", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "rot", spec(&env, &bucket, "creds"))
        .await;
    let first = env.wait_ready(&ns, "rot", "True", Some("Validated")).await;

    // Rotate to a second user's key: still ready, identity follows the key.
    let IamUser {
        access_key_id: ak2,
        secret_access_key: sk2,
        ..
    } = env.user("rotate2", s3_policy(&bucket, "", &ALL)).await;
    env.update_secret(&ns, "creds", &[(AK, &ak2), (SK, &sk2)])
        .await;
    let fast = std::time::Duration::from_secs(20);
    let api = env.connections(&ns);
    let before = first.status.unwrap().identity;
    tokio::time::timeout(
        fast,
        kube::runtime::wait::await_condition(
            api,
            "rot",
            move |c: Option<&s3_connection_operator::crd::S3Connection>| {
                c.and_then(|c| c.status.as_ref())
                    .is_some_and(|s| s.identity.is_some() && s.identity != before)
            },
        ),
    )
    .await
    .expect("rotation noticed within seconds")
    .unwrap();
    env.wait_ready(&ns, "rot", "True", Some("Validated")).await;

    // Break it: Ready=False within seconds, without waiting for the interval.
    env.update_secret(&ns, "creds", &[(SK, "broken-secret-key-value")])
        .await;
    env.wait_ready_within(&ns, "rot", "False", Some("InvalidCredentials"), fast)
        .await;
    // A Warning event on the transition.
    env.wait_event(&ns, "Warning", "InvalidCredentials").await;

    // Fix it: Ready again, and a Normal event for the recovery. It is the
    // only Normal one: the first Ready had none. (That one, had it been
    // published, would be older: each event follows its own status write.)
    env.update_secret(&ns, "creds", &[(AK, &ak2), (SK, &sk2)])
        .await;
    env.wait_ready_within(&ns, "rot", "True", Some("Validated"), fast)
        .await;
    env.wait_event(&ns, "Normal", "Validated").await;
    let normal: Vec<_> = env
        .events(&ns)
        .await
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Normal"))
        .map(|e| (e.reason, e.note))
        .collect();
    assert_eq!(
        normal.len(),
        1,
        "one Normal event, the recovery: {normal:?}"
    );
}

/// Connections that share a Secret share STS's answer about who the key
/// is: one GetCallerIdentity for all of them, while each still sends its
/// own S3 requests. So a key deleted in IAM fails at S3 at once, though STS
/// is not asked again.
#[tokio::test]
async fn connections_sharing_a_secret_ask_sts_once_and_a_deleted_key_still_fails() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("shared", "", &ALL).await;
    let op = Operator::start(&env, &ns, &[]).await;
    // One after the other: validations that run at the same moment each
    // ask, as nobody has the answer yet.
    for n in ["a", "b", "c"] {
        env.apply_connection(&ns, n, spec(&env, &bucket, "creds"))
            .await;
        let c = env.wait_ready(&ns, n, "True", Some("Validated")).await;
        let identity = c.status.clone().unwrap().identity.unwrap_or_default();
        assert!(
            identity.ends_with(&format!(":user/{}", user.name)),
            "{n}: {identity}"
        );
        assert_eq!(condition(&c, "Authenticated").status, "True", "{n}");
    }
    let asked = |m: &str| {
        total(
            m,
            "s3connection_aws_requests_total{service=\"STS\",operation=\"GetCallerIdentity\"",
        )
    };
    let m = metrics(&op).await;
    assert_eq!(asked(&m), 1.0, "{m}");
    // Every validation (at least one each; the Secret's watch may add one)
    // wrote its own probe object.
    let validations = total(&m, "s3connection_validations_total");
    assert!(validations >= 3.0, "{m}");
    assert_eq!(
        total(
            &m,
            "s3connection_aws_requests_total{service=\"S3\",operation=\"PutObject\",outcome=\"ok\"}"
        ),
        validations,
        "{m}"
    );

    // The key is deleted in IAM; a validation asked for now fails at S3.
    env.iam
        .delete_access_key()
        .user_name(&user.name)
        .access_key_id(&user.access_key_id)
        .send()
        .await
        .expect("delete access key");
    annotate(
        &env,
        &ns,
        "a",
        "s3connection.dev/requested-at",
        "key-deleted",
    );
    let fast = std::time::Duration::from_secs(20);
    env.wait_ready_within(&ns, "a", "False", Some("InvalidCredentials"), fast)
        .await;
    assert_eq!(
        asked(&metrics(&op).await),
        1.0,
        "S3 said it; STS was not asked"
    );
}

#[tokio::test]
async fn secret_without_the_key_is_secret_key_missing() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("nokey").await;
    let bucket = env.bucket("nokey").await;
    env.secret(&ns, "creds", &[(AK, "AKIAONLYTHEID0000000")])
        .await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "c", spec(&env, &bucket, "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "c", "False", Some("SecretKeyMissing"))
        .await;
    assert!(condition(&c, "Ready").message.contains(SK));
}

#[tokio::test]
async fn status_is_not_rewritten_when_nothing_changed() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("quiet", "", &ALL).await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "q", spec(&env, &bucket, "creds"))
        .await;
    let c = env.wait_ready(&ns, "q", "True", Some("Validated")).await;
    let rv = c.metadata.resource_version.clone();

    // Touch the Secret without changing it: the operator re-validates, finds
    // the same answer, and writes nothing.
    let validations = || async {
        let (_, body) = op.get("/metrics").await.unwrap();
        body.lines()
            .find(|l| l.starts_with("s3connection_validations_total{result=\"Validated\"}"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = validations().await;
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(env.kube.clone(), &ns);
    api.patch(
        "creds",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + testkit::TIMEOUT;
    while validations().await <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no re-validation after the Secret changed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let now = env.connections(&ns).get("q").await.unwrap();
    assert_eq!(
        now.metadata.resource_version, rv,
        "status rewritten although nothing changed"
    );
    let (_, body) = op.get("/metrics").await.unwrap();
    assert!(
        body.contains("s3connection_status_patches_total{outcome=\"unchanged\"}"),
        "{body}"
    );
}
