//! The same behaviour, proved against a second S3 implementation nobody
//! here wrote: MinIO, with its own policy evaluation (`s3:prefix`
//! conditions included), its own STS, and OpenID web identity verified
//! against the test API server's keys. MinIO serves TLS with a CA the test
//! environment generated, so every connection names it in `caSecretRef`.
//!
//! Where MinIO differs from AWS (and moto), the operator's answer must still
//! be right: `HeadBucket` sends no region header, STS has no
//! `GetCallerIdentity`, deleting a version needs only `s3:DeleteObject`.

use aws_config::{BehaviorVersion, Region};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use s3_connection_operator::outcome::Reason;
use serde_json::json;
use testkit::aws::{enable_versioning, policy_document, read_object, versions_in};
use testkit::minio::minio_admin;
use testkit::{
    ALL, IamUser, Minio, Operator, PROVABLE, Spec, TestEnv, assert_allowed, condition, permission,
    s3_policy, unique,
};

use crate::OPERATOR;

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// A namespace with the MinIO CA in Secret `s3-ca`, and an operator
/// allowed to use MinIO, sending it IRSA tokens for MinIO's client ID (never
/// AWS's audience: a store gets no token AWS would accept).
async fn namespace(env: &TestEnv, minio: &Minio, name: &str) -> (String, Operator) {
    let ns = env.namespace(name).await;
    env.secret(&ns, "s3-ca", &[("ca.crt", &minio.ca_pem)]).await;
    let entry = format!("{};audience={}", minio.endpoint, web_identity_audience());
    let op = Operator::start(env, &ns, &["--allowed-endpoint", &entry]).await;
    (ns, op)
}

/// MinIO's OpenID client ID: the audience its STS verifies.
fn web_identity_audience() -> String {
    std::env::var("S3C_MINIO_WEB_IDENTITY_AUDIENCE").unwrap()
}

async fn key_secret(env: &TestEnv, ns: &str, name: &str, user: &IamUser) {
    env.secret(
        ns,
        name,
        &[(AK, &user.access_key_id), (SK, &user.secret_access_key)],
    )
    .await;
}

/// `bucket` on MinIO with the key in Secret `secret`, trusting the CA in
/// Secret `s3-ca`, validated hourly.
fn spec(minio: &Minio, bucket: &str, secret: &str) -> Spec {
    Spec::access_key(bucket, &minio.endpoint, secret)
        .ca("s3-ca")
        .interval("1h")
}

#[tokio::test]
async fn minio_full_access_is_ready_and_leaves_nothing_behind() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mfull").await;
    let bucket = env.minio_bucket(&minio, "mfull").await;
    let user = env.minio_user("mfull", s3_policy(&bucket, "", &ALL)).await;
    key_secret(&env, &ns, "creds", &user).await;
    env.apply_connection(&ns, "data", spec(&minio, &bucket, "creds"))
        .await;

    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    assert_allowed(&c, &PROVABLE);
    // A store has no IAM to simulate policies with: honest Unverified.
    assert_eq!(permission(&c, "s3:ReplicateObject"), "Unverified");
    let status = c.status.clone().unwrap();
    // MinIO's STS has no GetCallerIdentity, and HeadBucket names no region:
    // neither is made up.
    assert_eq!(status.identity, None);
    assert_eq!(status.bucket_region, None);
    let ready = condition(&c, "Ready").message;
    assert!(ready.contains(&format!("s3://{bucket}")), "{ready}");
    assert_eq!(condition(&c, "Authenticated").status, "True");
    assert!(versions_in(&minio.s3, &bucket).await.is_empty());
}

#[tokio::test]
async fn minio_s3_prefix_condition_scopes_list_to_its_prefix() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mprefix").await;
    let bucket = env.minio_bucket(&minio, "mprefix").await;
    // What the README tells users to write for a prefix-scoped connection,
    // evaluated by MinIO (moto ignores the s3:prefix condition), plus
    // reading anywhere in the bucket.
    let statements = json!([
        {"Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": format!("arn:aws:s3:::{bucket}"),
         "Condition": {"StringLike": {"s3:prefix": ["customers/*"]}}},
        {"Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": format!("arn:aws:s3:::{bucket}/customers/*")},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]);
    let user = env.minio_user("mprefix", statements).await;
    key_secret(&env, &ns, "creds", &user).await;
    let (own, other) = env
        .own_and_other_prefix(&ns, &bucket, |at| spec(&minio, at, "creds"))
        .await;
    assert_eq!(permission(&own, "s3:ListBucket"), "Allowed");
    assert_eq!(permission(&other, "s3:ListBucket"), "Denied");
    assert_eq!(permission(&other, "s3:PutObject"), "Denied");
    let message = condition(&other, "Ready").message;
    assert!(
        message.contains("s3:ListBucket") && message.contains(&format!("s3://{bucket}/orders/")),
        "{message}"
    );
    assert!(versions_in(&minio.s3, &bucket).await.is_empty());
}

#[tokio::test]
async fn minio_denied_permission_is_named_and_denied_delete_leaves_one_named_object() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mnodel").await;
    let bucket = env.minio_bucket(&minio, "mnodel").await;
    let no_delete = ["s3:ListBucket", "s3:GetObject", "s3:PutObject"];
    let user = env
        .minio_user("mnodel", s3_policy(&bucket, "", &no_delete))
        .await;
    key_secret(&env, &ns, "creds", &user).await;
    let s = spec(&minio, &bucket, "creds").permissions(&PROVABLE);
    env.apply_connection(&ns, "data", s).await;

    let c = env
        .wait_ready(&ns, "data", "False", Some("PermissionDenied"))
        .await;
    assert_eq!(permission(&c, "s3:DeleteObject"), "Denied");
    assert_eq!(permission(&c, "s3:PutObject"), "Allowed");
    assert!(
        condition(&c, "Ready").message.contains("s3:DeleteObject"),
        "{}",
        condition(&c, "Ready").message
    );
    let leftover = c
        .status
        .unwrap()
        .leftover_probe_object
        .expect("named in status");
    let uid = c.metadata.uid.unwrap();
    assert_eq!(leftover, format!(".s3connection-probe/{uid}"));
    assert_eq!(
        versions_in(&minio.s3, &bucket).await,
        [format!("version:{leftover}")]
    );
}

#[tokio::test]
async fn minio_wrong_secret_and_unknown_key_are_invalid_credentials_and_missing_bucket_is_named() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mcreds").await;
    let bucket = env.minio_bucket(&minio, "mcreds").await;
    let user = env.minio_user("mcreds", s3_policy(&bucket, "", &ALL)).await;
    let wrong = IamUser {
        secret_access_key: "not-the-secret-key".into(),
        ..user
    };
    key_secret(&env, &ns, "wrong-secret", &wrong).await;
    let unknown = IamUser {
        name: String::new(),
        access_key_id: unique("nobody"),
        secret_access_key: "whatever-secret".into(),
    };
    key_secret(&env, &ns, "unknown-key", &unknown).await;
    let root = IamUser {
        name: String::new(),
        access_key_id: minio.root_user.clone(),
        secret_access_key: minio.root_password.clone(),
    };
    key_secret(&env, &ns, "root", &root).await;

    env.apply_connection(&ns, "wrong", spec(&minio, &bucket, "wrong-secret"))
        .await;
    env.apply_connection(&ns, "unknown", spec(&minio, &bucket, "unknown-key"))
        .await;
    let missing = unique("missing");
    env.apply_connection(&ns, "missing", spec(&minio, &missing, "root"))
        .await;

    for (name, code) in [
        ("wrong", "SignatureDoesNotMatch"),
        ("unknown", "InvalidAccessKeyId"),
    ] {
        let c = env
            .wait_ready(&ns, name, "False", Some("InvalidCredentials"))
            .await;
        let message = condition(&c, "Ready").message;
        assert!(message.contains(code), "{name}: {message}");
        assert!(!message.contains("not-the-secret-key") && !message.contains("whatever-secret"));
    }
    let c = env
        .wait_ready(&ns, "missing", "False", Some("BucketNotFound"))
        .await;
    assert!(condition(&c, "Ready").message.contains(&missing));
    assert!(versions_in(&minio.s3, &bucket).await.is_empty());
}

#[tokio::test]
async fn minio_versioned_bucket_keeps_no_version_and_no_delete_marker() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mversions").await;
    let bucket = env.minio_bucket(&minio, "mversions").await;
    enable_versioning(&minio.s3, &bucket)
        .await
        .expect("enable versioning");
    // What AWS needs to remove versions; MinIO would also do with
    // s3:DeleteObject alone.
    let mut actions = ALL.to_vec();
    actions.push("s3:DeleteObjectVersion");
    let user = env
        .minio_user("mversions", s3_policy(&bucket, "", &actions))
        .await;
    key_secret(&env, &ns, "creds", &user).await;
    env.apply_connection(&ns, "data", spec(&minio, &bucket, "creds"))
        .await;
    env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    assert_eq!(versions_in(&minio.s3, &bucket).await, Vec::<String>::new());
}

#[tokio::test]
async fn minio_conditional_write_refuses_to_overwrite_an_object_at_the_probe_key() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, _op) = namespace(&env, &minio, "mcond").await;
    let bucket = env.minio_bucket(&minio, "mcond").await;
    let user = env.minio_user("mcond", s3_policy(&bucket, "", &ALL)).await;
    key_secret(&env, &ns, "creds", &user).await;
    // Created suspended, to learn its uid (and so its probe key) first.
    let s = spec(&minio, &bucket, "creds").suspend(true);
    env.apply_connection(&ns, "data", s).await;
    let uid = env
        .connections(&ns)
        .get("data")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let key = format!(".s3connection-probe/{uid}");
    let theirs = b"somebody else's data".to_vec();
    minio
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(theirs.clone().into())
        .send()
        .await
        .unwrap();

    env.apply_connection(&ns, "data", spec(&minio, &bucket, "creds"))
        .await;
    // Left alone; the probe went to a fresh key of the connection, and was
    // deleted there (on condition of its ETag, or checked first).
    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    let put = testkit::permission_message(&c, "s3:PutObject");
    assert!(put.contains(&key), "{put}");
    let body = read_object(&minio.s3, &bucket, &key).await.unwrap();
    assert_eq!(body, theirs, "the object is untouched");
    assert_eq!(
        versions_in(&minio.s3, &bucket).await,
        [format!("version:{key}")]
    );
}

/// An STS client for MinIO's STS (its S3 endpoint), trusting its CA.
fn minio_sts(minio: &Minio) -> aws_sdk_sts::Client {
    let http = s3_connection_operator::aws::https_client(Some(minio.ca_pem.as_bytes())).unwrap();
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(testkit::REGION))
            .endpoint_url(&minio.endpoint)
            .http_client(http)
            .build(),
    )
}

/// A token of `sa` for MinIO's audience, from the API server.
async fn token(env: &TestEnv, ns: &str, sa: &str) -> String {
    let tr = TokenRequest {
        metadata: Default::default(),
        spec: TokenRequestSpec {
            audiences: vec![web_identity_audience()],
            expiration_seconds: Some(600),
            bound_object_ref: None,
        },
        status: None,
    };
    Api::<ServiceAccount>::namespaced(env.kube.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &tr)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
}

#[tokio::test]
async fn minio_web_identity_is_ready_through_minio_sts_and_refused_for_a_wrong_audience() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let role_arn = std::env::var("S3C_MINIO_ROLE_ARN").unwrap();
    let (ns, _op) = namespace(&env, &minio, "mwebid").await;
    // MinIO has one role per OpenID provider: its policy covers the buckets
    // of this test (names starting "mwebid-").
    let role_policy = policy_document(s3_policy("mwebid-*", "", &ALL));
    minio_admin(&["role-policy-set", &role_policy])
        .await
        .expect("set the web-identity role's policy");
    let bucket = env.minio_bucket(&minio, "mwebid").await;
    env.service_account(&ns, "sync", &[("eks.amazonaws.com/role-arn", &role_arn)])
        .await;
    env.service_account(
        &ns,
        "elsewhere",
        &[
            ("eks.amazonaws.com/role-arn", &role_arn),
            // The ServiceAccount's own choice wins over the administrator's.
            (
                s3_connection_operator::credentials::audience::STORE_AUDIENCE_ANNOTATION,
                "not-minio",
            ),
        ],
    )
    .await;
    let irsa = |sa: &str| spec(&minio, &bucket, "unused").service_account(sa);
    env.apply_connection(&ns, "webid", irsa("sync")).await;
    env.apply_connection(&ns, "wrong-audience", irsa("elsewhere"))
        .await;

    let c = env
        .wait_ready(&ns, "webid", "True", Some("Validated"))
        .await;
    assert_eq!(c.status.as_ref().unwrap().auth.as_deref(), Some("IRSA"));
    assert_eq!(permission(&c, "s3:PutObject"), "Allowed");
    assert!(versions_in(&minio.s3, &bucket).await.is_empty());

    let c = env
        .wait_ready(&ns, "wrong-audience", "False", Some("AssumeRoleFailed"))
        .await;
    let message = condition(&c, "Ready").message;
    assert!(
        message.contains("not-minio") && message.contains(&role_arn),
        "{message}"
    );

    // A token MinIO cannot verify (its signature is not the API server's):
    // refused by MinIO, and the operator's exchange calls it
    // AssumeRoleFailed without repeating the token. The same token intact
    // is accepted.
    let sts = minio_sts(&minio);
    let good = token(&env, &ns, "sync").await;
    let exchange = |t: String| {
        let (sts, arn) = (sts.clone(), role_arn.clone());
        async move {
            s3_connection_operator::credentials::role::exchange_web_identity(
                &sts,
                &arn,
                "s3c-test",
                &t,
                "a test token",
            )
            .await
        }
    };
    let issued = exchange(good.clone()).await.expect("the intact token");
    assert!(issued.is_some());
    let (head_and_claims, signature) = good.rsplit_once('.').unwrap();
    let mut forged: Vec<char> = signature.chars().collect();
    let mid = forged.len() / 2;
    forged[mid] = if forged[mid] == 'A' { 'B' } else { 'A' };
    let forged = format!(
        "{head_and_claims}.{}",
        forged.into_iter().collect::<String>()
    );
    let refused = exchange(forged.clone()).await.expect_err("a forged token");
    assert_eq!(
        refused.reason,
        Reason::AssumeRoleFailed,
        "{}",
        refused.message
    );
    assert!(!refused.message.contains(&forged));
}
