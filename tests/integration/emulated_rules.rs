//! Buckets with rules on the AWS emulator: moto, through
//! hack/moto_launcher.py, which enforces what moto only stores, as AWS
//! documents it (see 5. in the launcher's module doc). A Requester Pays
//! bucket refuses a requester of another account until the spec says the
//! requester pays, and never its owner's account; an SSE-KMS probe needs
//! kms:GenerateDataKey to write and kms:Decrypt to read, which the status
//! reports as KMS's refusal, not as a missing S3 grant. Every case has a
//! control that passes, so each refusal is the rule's and not the setup's.

use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::types::{
    Payer, RequestPaymentConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_json::{Value, json};
use testkit::aws::{admin_credentials, create_user, policy_document};
use testkit::{
    IamUser, Operator, PROVABLE, Spec, TestEnv, annotate, condition, permission_message, s3_policy,
};

use s3_connection_operator::crd::{ProbeSettings, S3Connection};

use crate::OPERATOR;

/// The account of the requester that is not the bucket owner's (moto keeps
/// it apart from the environment's own account; see `x-moto-account-id` in
/// the launcher's module doc).
const OTHER_ACCOUNT: &str = "444455556666";

/// Sends moto's `x-moto-account-id`, so the admin keys act in that account.
#[derive(Debug)]
struct InAccount(&'static str);

impl Intercept for InAccount {
    fn name(&self) -> &'static str {
        "InAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0);
        Ok(())
    }
}

/// IAM of [`OTHER_ACCOUNT`], with the environment's admin keys.
fn other_account_iam(env_iam: &aws_sdk_iam::Client) -> aws_sdk_iam::Client {
    let conf = env_iam
        .config()
        .to_builder()
        .interceptor(InAccount(OTHER_ACCOUNT));
    aws_sdk_iam::Client::from_conf(conf.build())
}

/// KMS of the environment's account, with its admin keys.
fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(testkit::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(admin_credentials());
    aws_sdk_kms::Client::from_conf(conf.build())
}

/// What a test made that the testkit's cleanup does not know of: IAM users
/// of [`OTHER_ACCOUNT`] and KMS keys. Removed (keys: scheduled for
/// deletion, as KMS allows no sooner) when dropped, also when the test
/// fails, on a thread of its own with fresh clients.
struct Outside {
    endpoint: String,
    other_users: Mutex<Vec<String>>,
    keys: Mutex<Vec<String>>,
}

impl Outside {
    fn new(env: &TestEnv) -> Self {
        Self {
            endpoint: env.endpoint.clone(),
            other_users: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    /// An IAM user of [`OTHER_ACCOUNT`] allowed `statements`, with an
    /// access key.
    async fn other_user(&self, env: &TestEnv, prefix: &str, statements: Value) -> IamUser {
        let name = testkit::unique(prefix);
        self.other_users.lock().unwrap().push(name.clone());
        create_user(&other_account_iam(&env.iam), &name, statements)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A KMS key of the environment's account (with `policy` as its key
    /// policy, else KMS's default one, which hands the decision to IAM);
    /// its ARN.
    async fn key(&self, policy: Option<Value>) -> String {
        let meta = kms_client(&self.endpoint)
            .create_key()
            .set_policy(policy.map(|p| p.to_string()))
            .send()
            .await
            .expect("create a KMS key")
            .key_metadata
            .expect("key metadata");
        self.keys.lock().unwrap().push(meta.key_id);
        meta.arn.expect("a key ARN")
    }

    async fn remove(endpoint: &str, users: Vec<String>, keys: Vec<String>) {
        let iam = other_account_iam(&testkit::aws::iam_client(endpoint, admin_credentials()));
        for user in users {
            let listed = iam.list_access_keys().user_name(&user).send().await;
            for k in listed.map(|l| l.access_key_metadata).unwrap_or_default() {
                let id = k.access_key_id;
                let _ = iam
                    .delete_access_key()
                    .user_name(&user)
                    .set_access_key_id(id)
                    .send()
                    .await;
            }
            let policy = iam.delete_user_policy().user_name(&user).policy_name("s3");
            let _ = policy.send().await;
            if let Err(e) = iam.delete_user().user_name(&user).send().await {
                eprintln!("cleanup of user {user} of {OTHER_ACCOUNT} failed: {e:?}");
            }
        }
        let kms = kms_client(endpoint);
        for key in keys {
            // By key ID: moto 5.2.5 fails (500) on ScheduleKeyDeletion by ARN.
            let call = kms
                .schedule_key_deletion()
                .key_id(&key)
                .pending_window_in_days(7);
            if let Err(e) = call.send().await {
                eprintln!("cleanup of KMS key {key} failed: {e:?}");
            }
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let users =
            std::mem::take(&mut *self.other_users.lock().unwrap_or_else(|e| e.into_inner()));
        let keys = std::mem::take(&mut *self.keys.lock().unwrap_or_else(|e| e.into_inner()));
        let endpoint = self.endpoint.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup")
                .block_on(Self::remove(&endpoint, users, keys))
        })
        .join();
    }
}

/// Every permission row of the status, in order, as (action, result).
fn rows(c: &S3Connection) -> Vec<(String, String)> {
    let s = c.status.as_ref().expect("status");
    s.permissions
        .iter()
        .map(|p| (p.action.clone(), p.result.as_str().to_string()))
        .collect()
}

/// The rows [`PROVABLE`] should come to: List, Get, Put, Delete.
fn expected(results: [&str; 4]) -> Vec<(String, String)> {
    PROVABLE
        .iter()
        .zip(results)
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect()
}

fn provable_spec(env: &TestEnv, bucket: &str, secret: &str) -> Spec {
    env.access_key_spec(bucket, secret)
        .permissions(&PROVABLE)
        .interval("1h")
}

async fn keys_in(env: &TestEnv, ns: &str, secret: &str, user: &IamUser) {
    env.secret(
        ns,
        secret,
        &[
            ("AWS_ACCESS_KEY_ID", &user.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &user.secret_access_key),
        ],
    )
    .await;
}

/// An SSE-KMS probe with key `key`.
fn with_kms_key(key: &str) -> ProbeSettings {
    ProbeSettings {
        server_side_encryption: Some("aws:kms".into()),
        kms_key_id: Some(key.into()),
        ..Default::default()
    }
}

/// [`s3_policy`] for the provable actions on `bucket`, and `kms` (actions)
/// on `key`.
fn s3_and_kms(bucket: &str, kms: &[&str], key: &str) -> Value {
    let mut statements = s3_policy(bucket, "", &PROVABLE);
    if !kms.is_empty() {
        let grant = json!({"Effect": "Allow", "Action": kms, "Resource": key});
        statements.as_array_mut().unwrap().push(grant);
    }
    statements
}

/// The environment, what the testkit does not clean up, a namespace and a
/// bucket of the environment's account, named after `prefix`.
async fn begin(prefix: &str) -> (TestEnv, Outside, String, String) {
    let env = TestEnv::new(OPERATOR).await;
    let outside = Outside::new(&env);
    let ns = env.namespace(prefix).await;
    let bucket = env.bucket(prefix).await;
    (env, outside, ns, bucket)
}

/// No probe object is left in `bucket`.
async fn nothing_left(env: &TestEnv, bucket: &str) {
    assert_eq!(
        env.keys(bucket).await,
        Vec::<String>::new(),
        "probe object left behind"
    );
}

/// Waits for connection `name` to be Ready with every provable action
/// allowed.
async fn validated(env: &TestEnv, ns: &str, name: &str) -> S3Connection {
    let c = env.wait_ready(ns, name, "True", Some("Validated")).await;
    assert_eq!(rows(&c), expected(["Allowed"; 4]), "{name}");
    c
}

/// Waits for connection `name` to be `KmsAccessDenied` with the rows
/// `results`, what KMS refused (`refused`: an action, or a `KMS.*` code)
/// named in its Ready message (with the key ARN, if S3's answer named it)
/// and in the row of `action`.
async fn kms_refused(
    env: &TestEnv,
    ns: &str,
    name: &str,
    results: [&str; 4],
    (action, refused, key): (&str, &str, Option<&str>),
) {
    let c = env
        .wait_ready(ns, name, "False", Some("KmsAccessDenied"))
        .await;
    assert_eq!(rows(&c), expected(results), "{name}");
    let ready = condition(&c, "Ready").message;
    assert!(ready.contains(refused), "{name}: {ready}");
    if let Some(key) = key {
        assert!(ready.contains(key), "{name}: {ready}");
    }
    let row = permission_message(&c, action);
    assert!(row.contains(refused), "{name}: {row}");
}

#[tokio::test]
async fn a_requester_pays_bucket_answers_another_account_only_when_it_pays() {
    let (env, outside, ns, bucket) = begin("payer").await;
    let paying = RequestPaymentConfiguration::builder()
        .payer(Payer::Requester)
        .build()
        .unwrap();
    env.s3
        .put_bucket_request_payment()
        .bucket(&bucket)
        .request_payment_configuration(paying)
        .send()
        .await
        .expect("make the bucket Requester Pays");
    // What a real bucket needs for another account's requests (the emulator
    // evaluates no bucket policy, so this is for the record).
    let grant = json!([{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ACCOUNT}:root")},
        "Action": PROVABLE,
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
    }]);
    env.s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy_document(grant))
        .send()
        .await
        .expect("bucket policy");
    let grants = s3_policy(&bucket, "", &PROVABLE);
    let theirs = outside.other_user(&env, "payer", grants.clone()).await;
    let ours = env.user("payer-own", grants).await;
    keys_in(&env, &ns, "theirs", &theirs).await;
    keys_in(&env, &ns, "ours", &ours).await;
    let _op = Operator::start(&env, &ns, &[]).await;

    env.apply_connection(&ns, "unpaid", provable_spec(&env, &bucket, "theirs"))
        .await;
    let pays = ProbeSettings {
        requester_pays: Some(true),
        ..Default::default()
    };
    let paid = provable_spec(&env, &bucket, "theirs").probe(pays);
    env.apply_connection(&ns, "paid", paid).await;
    // The bucket owner's account pays anyway and needs no header.
    env.apply_connection(&ns, "owner", provable_spec(&env, &bucket, "ours"))
        .await;

    // Every request refused: nothing reached the bucket, so the whole
    // access is denied; GetObject cannot be told from a missing key without
    // listing, and nothing was written to delete.
    let c = env
        .wait_ready(&ns, "unpaid", "False", Some("AccessDenied"))
        .await;
    let results = ["Denied", "Unverified", "Denied", "Unverified"];
    assert_eq!(rows(&c), expected(results));
    let message = testkit::condition(&c, "Ready").message;
    assert!(message.contains("spec.probe.requesterPays"), "{message}");

    let c = validated(&env, &ns, "paid").await;
    let identity = c.status.clone().unwrap().identity.unwrap_or_default();
    assert!(identity.contains(OTHER_ACCOUNT), "{identity}");

    validated(&env, &ns, "owner").await;
    nothing_left(&env, &bucket).await;
}

#[tokio::test]
async fn an_sse_kms_probe_needs_the_data_key_to_write_and_decrypt_to_read() {
    let (env, outside, ns, bucket) = begin("kms").await;
    let key = outside.key(None).await;
    for (secret, kms) in [
        ("no-key", &[][..]),
        ("data-key", &["kms:GenerateDataKey"][..]),
        ("both", &["kms:GenerateDataKey", "kms:Decrypt"][..]),
    ] {
        let user = env.user(secret, s3_and_kms(&bucket, kms, &key)).await;
        keys_in(&env, &ns, secret, &user).await;
        let spec = provable_spec(&env, &bucket, secret).probe(with_kms_key(&key));
        env.apply_connection(&ns, secret, spec).await;
    }
    let _op = Operator::start(&env, &ns, &[]).await;

    // No data key: nothing written, so PutObject and DeleteObject are not
    // known; GetObject of the missing probe key is (404 with listing).
    let write = ("s3:PutObject", "kms:GenerateDataKey", Some(key.as_str()));
    let results = ["Allowed", "Allowed", "Unverified", "Unverified"];
    kms_refused(&env, &ns, "no-key", results, write).await;
    // Written, not read back, and still deleted.
    let read = ("s3:GetObject", "kms:Decrypt", Some(key.as_str()));
    let results = ["Allowed", "Unverified", "Allowed", "Allowed"];
    kms_refused(&env, &ns, "data-key", results, read).await;

    validated(&env, &ns, "both").await;
    nothing_left(&env, &bucket).await;
}

#[tokio::test]
async fn a_bucket_default_key_and_its_key_policy_are_honoured() {
    let (env, outside, ns, bucket) = begin("kmspolicy").await;
    // A key policy that does not hand the decision to IAM: only the admin.
    let only = |principals: Vec<String>| {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": principals},
            "Action": "kms:*", "Resource": "*"
        }]})
    };
    let key = outside.key(Some(only(vec![env.admin_principal()]))).await;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(&key)
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .build();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .unwrap();
    env.s3
        .put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .expect("default encryption");
    let both = ["kms:GenerateDataKey", "kms:Decrypt"];
    let user = env
        .user("kmspolicy", s3_and_kms(&bucket, &both, &key))
        .await;
    keys_in(&env, &ns, "creds", &user).await;
    let _op = Operator::start(&env, &ns, &[]).await;

    // The spec says nothing of encryption: the bucket's default key is used.
    env.apply_connection(&ns, "default-key", provable_spec(&env, &bucket, "creds"))
        .await;
    let missing = format!("{}0000", key.trim_end_matches(|c: char| c != '-'));
    let spec = provable_spec(&env, &bucket, "creds").probe(with_kms_key(&missing));
    env.apply_connection(&ns, "no-such-key", spec).await;

    // The IAM grant is there; the key policy does not allow it (S3's answer
    // then names no key).
    let results = ["Allowed", "Allowed", "Unverified", "Unverified"];
    let write = ("s3:PutObject", "kms:GenerateDataKey", None);
    kms_refused(&env, &ns, "default-key", results, write).await;
    let unknown = ("s3:PutObject", "KMS.NotFoundException", None);
    kms_refused(&env, &ns, "no-such-key", results, unknown).await;

    // Once the key policy names the user too, the same connection is Ready.
    let user_arn = format!("arn:aws:iam::{}:user/{}", env.account, user.name);
    let policy = only(vec![env.admin_principal(), user_arn]).to_string();
    let kms = kms_client(&env.endpoint);
    let put = kms
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(policy);
    put.send().await.expect("put key policy");
    annotate(
        &env,
        &ns,
        "default-key",
        "s3connection.dev/requested-at",
        "policy",
    );
    let (c, _) = env.wait_handled(&ns, "default-key", "policy").await;
    assert_eq!(condition(&c, "Ready").reason, "Validated");
    assert_eq!(rows(&c), expected(["Allowed"; 4]));
    nothing_left(&env, &bucket).await;
}
