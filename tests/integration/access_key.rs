//! Connections with access keys from a Secret, against the real API server
//! and the S3/IAM endpoint with IAM enforcement on.

use crate::harness::{
    self, ALL, IamUser, Operator, Setup, TestEnv, annotate, condition, metrics, permission,
    s3_policy, total, unique,
};
use serde_json::{Value, json};

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

fn spec(env: &TestEnv, bucket: &str, secret: &str) -> Value {
    let mut s = env.access_key_spec(bucket, secret);
    s["validationInterval"] = json!("1m");
    s
}

#[tokio::test]
async fn full_access_is_ready_and_leaves_no_probe_object() {
    let env = TestEnv::new().await;
    let Setup { ns, bucket, user } = env.setup("full", "", &ALL).await;
    let (ak, sk) = (&user.access_key_id, &user.secret_access_key);
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "data", spec(&env, &bucket, "creds"))
        .await;

    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    for a in [
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ] {
        assert_eq!(permission(&c, a), "Allowed", "{a}");
    }
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
    assert_eq!(
        status.bucket_region.as_deref(),
        Some(crate::harness::REGION)
    );
    assert_eq!(status.auth.as_deref(), Some("AccessKey"));
    assert!(status.leftover_probe_object.is_none());
    assert_eq!(condition(&c, "Failed").status, "False");
    assert_eq!(condition(&c, "Authenticated").status, "True");
    assert_eq!(condition(&c, "BucketAccessible").status, "True");
    let harness::Cond {
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

/// No credential string in status, events or the operator's log.
async fn assert_no_credentials(env: &TestEnv, ns: &str, op: &Operator, secrets: &[&str]) {
    let statuses = serde_json::to_string(
        &env.connections(ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    )
    .unwrap();
    let events = serde_json::to_string(&env.events(ns).await).unwrap();
    let log = op.log();
    assert!(!log.is_empty());
    for s in secrets {
        assert!(!statuses.contains(s), "credential in status");
        assert!(!events.contains(s), "credential in events");
        assert!(!log.contains(s), "credential in operator log");
    }
}

#[tokio::test]
async fn prefix_scoped_policy_is_ready_on_its_prefix_only() {
    let env = TestEnv::new().await;
    let ns = env.namespace("prefix").await;
    let bucket = env.bucket("prefix").await;
    // Object actions only under customers/, listing on the bucket.
    let IamUser {
        access_key_id: ak,
        secret_access_key: sk,
        ..
    } = env
        .user(
            "prefix",
            s3_policy(
                &bucket,
                "customers/",
                &[
                    "s3:ListBucket",
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                ],
            ),
        )
        .await;
    env.secret(&ns, "creds", &[(AK, &ak), (SK, &sk)]).await;
    let _op = Operator::start(&env, &ns, &[]).await;

    let perms = json!([
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject"
    ]);
    let mut inside = spec(&env, &format!("{bucket}/customers"), "creds");
    inside["permissions"] = perms.clone();
    let mut outside = spec(&env, &format!("{bucket}/orders"), "creds");
    outside["permissions"] = perms;
    env.apply_connection(&ns, "customers", inside).await;
    env.apply_connection(&ns, "orders", outside).await;

    let ok = env
        .wait_ready(&ns, "customers", "True", Some("Validated"))
        .await;
    assert_eq!(permission(&ok, "s3:PutObject"), "Allowed");
    let denied = env
        .wait_ready(&ns, "orders", "False", Some("PermissionDenied"))
        .await;
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
    let env = TestEnv::new().await;
    let Setup { ns, bucket, .. } = env
        .setup("noput", "", &["s3:ListBucket", "s3:GetObject"])
        .await;
    env.s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let _op = Operator::start(&env, &ns, &[]).await;
    let mut s = spec(&env, &bucket, "creds");
    s["permissions"] = json!(["s3:ListBucket", "s3:GetObject", "s3:DeleteObject"]);
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
    let env = TestEnv::new().await;
    let Setup { ns, bucket, .. } = env
        .setup(
            "nodelete",
            "",
            &["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
        )
        .await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let mut s = spec(&env, &bucket, "creds");
    s["permissions"] = json!([
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject"
    ]);
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
    s["validationInterval"] = json!("2m");
    env.apply_connection(&ns, "sticky", s).await;
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
async fn wrong_secret_key_and_unknown_key_id_are_invalid_credentials() {
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
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
async fn nonexistent_bucket_is_bucket_not_found() {
    let env = TestEnv::new().await;
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
async fn kubectl_get_prints_the_documented_columns() {
    let env = TestEnv::new().await;
    let Setup { ns, bucket, .. } = env.setup("columns", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(
        &ns,
        "shown",
        spec(&env, &format!("{bucket}/reports"), "creds"),
    )
    .await;
    env.wait_ready(&ns, "shown", "True", Some("Validated"))
        .await;
    let out = std::process::Command::new("kubectl")
        .args(["get", "s3connections", "-n", &ns])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "BUCKET",
            "REGION",
            "AUTH",
            "READY",
            "REASON",
            "SUSPENDED",
            "SINCE",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            "shown",
            &format!("{bucket}/reports"),
            crate::harness::REGION,
            "AccessKey",
            "True",
            "Validated"
        ]
    );
    // SINCE (Ready's lastTransitionTime) is an age like AGE; SUSPENDED is
    // empty, so the row has eight fields.
    assert_eq!(row.len(), 8, "{row:?}");
    for age in &row[6..] {
        assert!(
            age.starts_with(|c: char| c.is_ascii_digit()) && age.ends_with(['s', 'm']),
            "{age:?} in {row:?}"
        );
    }
    // The short name and the category `s3` work too.
    for resource in ["s3c", "s3"] {
        let out = std::process::Command::new("kubectl")
            .args(["get", resource, "-n", &ns, "-o", "name"])
            .env("KUBECONFIG", &env.kubeconfig)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "s3connection.s3connection.dev/shown",
            "kubectl get {resource}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // `-o wide` adds where, who and what the operator said.
    let out = std::process::Command::new("kubectl")
        .args(["get", "s3c", "-n", &ns, "-o", "wide"])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap();
    let row = text.lines().nth(1).unwrap();
    let c = env.connections(&ns).get("shown").await.unwrap();
    let message = condition(&c, "Ready").message;
    let identity = c.status.unwrap().identity.unwrap();
    for value in [env.endpoint.as_str(), &identity, &message] {
        assert!(row.contains(value), "{value:?} not in -o wide row: {row}");
    }
    let names: Vec<&str> = header.split_whitespace().collect();
    assert!(
        names.ends_with(&["ENDPOINT", "IDENTITY", "MESSAGE"]),
        "{names:?}"
    );
}

#[tokio::test]
async fn status_is_not_rewritten_when_nothing_changed() {
    let env = TestEnv::new().await;
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
    let deadline = tokio::time::Instant::now() + crate::harness::TIMEOUT;
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

#[tokio::test]
async fn expected_bucket_owner_is_sent_and_a_mismatch_is_its_own_failure() {
    let env = TestEnv::new().await;
    let Setup { ns, bucket, .. } = env.setup("owner", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let with_owner = |owner: &str| {
        let mut s = spec(&env, &bucket, "creds");
        s["expectedBucketOwner"] = json!(owner);
        s
    };
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
            &kube::api::Patch::Apply(json!({
                "apiVersion": "s3connection.dev/v1alpha1",
                "kind": "S3Connection",
                "metadata": {"name": "bad"},
                "spec": with_owner("12345"),
            })),
        )
        .await
        .expect_err("a 5-digit owner is invalid");
    assert!(err.to_string().contains("expectedBucketOwner"), "{err}");
}
