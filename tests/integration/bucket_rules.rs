//! Buckets with rules, on MinIO (which enforces `s3:x-amz-server-side-encryption`
//! conditions in policies and has a KMS, its built-in static key): a
//! policy that denies writes without SSE-KMS reads as a denied
//! `s3:PutObject` until the spec names the encryption, and then as Ready;
//! a read-only check proves what it can and leaves not even a version or
//! a delete marker in a versioned bucket; on a bucket whose Object Lock
//! retains every version, forced validations leave at most one probe
//! version.

use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use serde_json::json;
use testkit::{Minio, Operator, PROVABLE, Spec, TestEnv, condition, permission};

use s3_connection_operator::crd::ProbeSettings;

use crate::OPERATOR;

/// The four provable actions on `bucket`.
fn provable(bucket: &str) -> serde_json::Value {
    json!([
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [format!("arn:aws:s3:::{bucket}")]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [format!("arn:aws:s3:::{bucket}/*")]},
    ])
}

/// [`provable`], and writes that are not SSE-KMS denied (as a bucket with
/// an encryption rule does).
fn kms_only(bucket: &str) -> serde_json::Value {
    let mut statements = provable(bucket);
    statements.as_array_mut().unwrap().push(json!(
        {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": [format!("arn:aws:s3:::{bucket}/*")],
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}}
    ));
    statements
}

/// A namespace with MinIO's CA in Secret `s3-ca`.
async fn minio_namespace(env: &TestEnv, minio: &Minio, name: &str) -> String {
    let ns = env.namespace(name).await;
    env.secret(&ns, "s3-ca", &[("ca.crt", &minio.ca_pem)]).await;
    ns
}

/// [`minio_namespace`] and a bucket.
async fn minio_setup(env: &TestEnv, minio: &Minio, name: &str) -> (String, String) {
    let ns = minio_namespace(env, minio, name).await;
    let bucket = env.minio_bucket(minio, name).await;
    (ns, bucket)
}

/// Every version and delete marker in `bucket`.
async fn versions_in(minio: &Minio, bucket: &str) -> ListObjectVersionsOutput {
    minio
        .s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("list versions")
}

async fn keys_for(env: &TestEnv, ns: &str, user: &testkit::IamUser) {
    env.secret(
        ns,
        "creds",
        &[
            ("AWS_ACCESS_KEY_ID", &user.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &user.secret_access_key),
        ],
    )
    .await;
}

/// A user allowed [`provable`] on `bucket`, its keys in Secret `creds`,
/// and the operator allowing MinIO.
async fn granted(env: &TestEnv, minio: &Minio, ns: &str, bucket: &str, name: &str) -> Operator {
    let user = env.minio_user(name, provable(bucket)).await;
    keys_for(env, ns, &user).await;
    Operator::start(env, ns, &["--allowed-endpoint", &minio.endpoint]).await
}

fn on_minio(minio: &Minio, bucket: &str) -> Spec {
    Spec::access_key(bucket, &minio.endpoint, "creds")
        .ca("s3-ca")
        .permissions(&PROVABLE)
        .interval("1h")
}

#[tokio::test]
async fn an_encryption_rule_is_met_once_the_spec_names_the_kms_key() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, bucket) = minio_setup(&env, &minio, "sse").await;
    let user = env.minio_user("sse", kms_only(&bucket)).await;
    keys_for(&env, &ns, &user).await;
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &minio.endpoint]).await;
    let key = std::env::var("S3C_MINIO_KMS_KEY").expect("S3C_MINIO_KMS_KEY (hack/dev-up.sh)");

    env.apply_connection(&ns, "plain", on_minio(&minio, &bucket))
        .await;
    let encrypted = on_minio(&minio, &bucket).probe(ProbeSettings {
        server_side_encryption: Some("aws:kms".into()),
        kms_key_id: Some(key),
        ..Default::default()
    });
    env.apply_connection(&ns, "encrypted", encrypted).await;

    // What the operator said before: the grant is there, the header was not.
    let c = env
        .wait_ready(&ns, "plain", "False", Some("PermissionDenied"))
        .await;
    assert_eq!(permission(&c, "s3:PutObject"), "Denied");
    assert_eq!(permission(&c, "s3:ListBucket"), "Allowed");
    let ready = condition(&c, "Ready").message;
    assert!(
        ready.contains("set spec.probe.serverSideEncryption"),
        "{ready}"
    );

    let c = env
        .wait_ready(&ns, "encrypted", "True", Some("Validated"))
        .await;
    for action in PROVABLE {
        assert_eq!(permission(&c, action), "Allowed", "{action}");
    }
    let status = c.status.unwrap();
    assert!(status.leftover_probe_object.is_none());
}

#[tokio::test]
async fn a_read_only_check_leaves_no_version_and_no_delete_marker() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, bucket) = minio_setup(&env, &minio, "ro").await;
    minio
        .s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
    let _op = granted(&env, &minio, &ns, &bucket, "ro").await;
    let read_only = on_minio(&minio, &bucket).probe(ProbeSettings {
        read_only: Some(true),
        ..Default::default()
    });
    env.apply_connection(&ns, "ro", read_only).await;
    let c = env.wait_ready(&ns, "ro", "True", Some("Validated")).await;
    assert_eq!(permission(&c, "s3:ListBucket"), "Allowed");
    assert_eq!(permission(&c, "s3:GetObject"), "Allowed");
    for action in ["s3:PutObject", "s3:DeleteObject"] {
        assert_eq!(permission(&c, action), "Unverified", "{action}");
    }
    let ready = condition(&c, "Ready").message;
    assert!(
        ready.contains("Not provable: s3:PutObject, s3:DeleteObject"),
        "{ready}"
    );

    let versions = versions_in(&minio, &bucket).await;
    assert!(versions.versions().is_empty(), "{:?}", versions.versions());
    assert!(
        versions.delete_markers().is_empty(),
        "{:?}",
        versions.delete_markers()
    );
}

#[tokio::test]
async fn an_object_lock_keeps_at_most_one_probe_version_through_ten_validations() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let ns = minio_namespace(&env, &minio, "lock").await;
    // A bucket whose every new version is retained for a day.
    let bucket = testkit::unique("lock");
    minio
        .s3
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with Object Lock");
    let rule = ObjectLockRule::builder()
        .default_retention(
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .days(1)
                .build(),
        )
        .build();
    minio
        .s3
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(rule)
                .build(),
        )
        .send()
        .await
        .expect("default retention");
    let _op = granted(&env, &minio, &ns, &bucket, "lock").await;
    // Object Lock buckets want a checksum on writes; the probe objects go
    // to a directory of the user's choosing.
    let spec = on_minio(&minio, &bucket).probe(ProbeSettings {
        checksum_algorithm: Some("CRC32".into()),
        key_prefix: Some("_probe".into()),
        ..Default::default()
    });
    env.apply_connection(&ns, "locked", spec).await;
    let c = env
        .wait_ready(&ns, "locked", "True", Some("Validated"))
        .await;
    for action in PROVABLE {
        assert_eq!(permission(&c, action), "Allowed", "{action}");
    }
    let status = c.status.clone().unwrap();
    assert!(status.leftover_probe_version.is_some(), "{status:?}");
    let retained = status.leftover_probe_object.unwrap_or_default();
    assert!(retained.starts_with("_probe/"), "{retained}");
    let ready = condition(&c, "Ready").message;
    assert!(
        ready.contains("retained by the bucket's Object Lock"),
        "{ready}"
    );

    for i in 1..=10 {
        let value = format!("lock-{i}");
        testkit::annotate(&env, &ns, "locked", "s3connection.dev/requested-at", &value);
        let (c, _) = env.wait_handled(&ns, "locked", &value).await;
        assert_eq!(condition(&c, "Ready").reason, "Validated");
        for action in PROVABLE {
            assert_eq!(
                permission(&c, action),
                "Allowed",
                "{action} after request {i}"
            );
        }
    }
    let versions = versions_in(&minio, &bucket).await;
    let probes: Vec<_> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(probes, [retained.as_str()], "one retained probe version");
    assert!(
        versions.delete_markers().len() <= 1,
        "{:?}",
        versions.delete_markers()
    );
}
