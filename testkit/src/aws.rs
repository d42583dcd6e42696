//! The S3/STS/IAM endpoint (moto with IAM enforcement): clients, buckets,
//! IAM users and roles with inline policies, and the policies themselves.
//! The plain functions return errors (the bench reports them); the
//! [`TestEnv`] methods panic and remember what they made for the cleanup.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::cleanup::Created;
use crate::env::{REGION, TestEnv, unique, var};

/// The five actions a connection can be granted.
pub const ALL: [&str; 5] = [
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ReplicateObject",
];

/// The four actions a validation proves with requests of its own (all but
/// `s3:ReplicateObject`, which no client request exercises).
pub const PROVABLE: [&str; 4] = [
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
];

/// The environment's admin keys (IAM user `admin` of moto).
pub fn admin_credentials() -> Credentials {
    Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test-admin",
    )
}

/// An S3 client for `endpoint` (path style, the test region).
pub fn s3_client(endpoint: &str, creds: Credentials) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An IAM client for `endpoint`.
pub fn iam_client(endpoint: &str, creds: Credentials) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .build(),
    )
}

/// Statements granting `actions` on a bucket (object actions under
/// `prefix`).
pub fn s3_policy(bucket: &str, prefix: &str, actions: &[&str]) -> Value {
    let objects: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| *a != "s3:ListBucket")
        .collect();
    let mut st = vec![];
    if actions.contains(&"s3:ListBucket") {
        st.push(json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")}));
    }
    if !objects.is_empty() {
        st.push(json!({"Effect": "Allow", "Action": objects, "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*")}));
    }
    json!(st)
}

/// A policy document of `statements`.
pub fn policy_document(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A trust policy that lets exactly ServiceAccount `ns/sa` assume the role
/// by web identity through OpenID provider `provider` of `account`, for the
/// audience EKS uses (the way EKS IRSA trust policies read).
pub fn irsa_trust(account: &str, provider: &str, ns: &str, sa: &str) -> Value {
    let p = provider;
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{p}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{p}:sub"): format!("system:serviceaccount:{ns}:{sa}"),
                format!("{p}:aud"): "sts.amazonaws.com"
            }}
        }]
    })
}

/// An IAM user with an access key.
pub struct IamUser {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// IAM user `name` with one inline policy (`statements`) and an access key.
pub async fn create_user(
    iam: &aws_sdk_iam::Client,
    name: &str,
    statements: Value,
) -> Result<IamUser, String> {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .map_err(|e| format!("create user {name}: {e:?}"))?;
    put_user_policy(iam, name, statements).await?;
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .map_err(|e| format!("create access key: {e:?}"))?
        .access_key
        .ok_or("no access key")?;
    Ok(IamUser {
        name: name.into(),
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
    })
}

/// Replace the inline policy of a user made by [`create_user`].
pub async fn put_user_policy(
    iam: &aws_sdk_iam::Client,
    user: &str,
    statements: Value,
) -> Result<(), String> {
    iam.put_user_policy()
        .user_name(user)
        .policy_name("s3")
        .policy_document(policy_document(statements))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("put user policy: {e:?}"))
}

/// IAM role `name` with a trust policy and one inline permission policy;
/// its ARN.
pub async fn create_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust: &Value,
    statements: Value,
) -> Result<String, String> {
    let role = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| format!("create role {name}: {e:?}"))?
        .role
        .ok_or("no role")?;
    iam.put_role_policy()
        .role_name(name)
        .policy_name("s3")
        .policy_document(policy_document(statements))
        .send()
        .await
        .map_err(|e| format!("put role policy: {e:?}"))?;
    Ok(role.arn)
}

/// Every version and delete marker in `bucket` as `version:<key>` and
/// `delete-marker:<key>`, on any S3 endpoint.
pub async fn versions_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("list object versions");
    let mut all: Vec<String> = out
        .versions()
        .iter()
        .map(|v| format!("version:{}", v.key().unwrap_or_default()))
        .collect();
    all.extend(
        out.delete_markers()
            .iter()
            .map(|m| format!("delete-marker:{}", m.key().unwrap_or_default())),
    );
    all
}

/// Turn versioning on for `bucket`, on any S3 endpoint.
pub async fn enable_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let on = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(on)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("versioning of {bucket}: {e:?}"))
}

/// The bytes of object `key` in `bucket`, on any S3 endpoint.
pub async fn read_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("GetObject {bucket}/{key}: {e:?}"))?;
    let body = o.body.collect().await.map_err(|e| format!("{e:?}"))?;
    Ok(body.into_bytes().to_vec())
}

/// A namespace, a bucket, and a user with some actions on it whose access
/// key is in Secret `creds` of the namespace.
pub struct Setup {
    pub ns: String,
    pub bucket: String,
    pub user: IamUser,
}

impl TestEnv {
    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        self.remember(Created::Bucket(name.clone()));
        name
    }

    /// A [`Setup`]: the user may do `actions` on `bucket/prefix`.
    pub async fn setup(&self, name: &str, prefix: &str, actions: &[&str]) -> Setup {
        let ns = self.namespace(name).await;
        let bucket = self.bucket(name).await;
        let user = self.user(name, s3_policy(&bucket, prefix, actions)).await;
        self.secret(
            &ns,
            "creds",
            &[
                ("AWS_ACCESS_KEY_ID", &user.access_key_id),
                ("AWS_SECRET_ACCESS_KEY", &user.secret_access_key),
            ],
        )
        .await;
        Setup { ns, bucket, user }
    }

    /// An IAM user with one inline policy and an access key.
    pub async fn user(&self, prefix: &str, statements: Value) -> IamUser {
        let name = unique(prefix);
        self.remember(Created::User(name.clone()));
        create_user(&self.iam, &name, statements)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Replace the inline policy of a user made by [`Self::user`].
    pub async fn set_user_policy(&self, user: &IamUser, statements: Value) {
        put_user_policy(&self.iam, &user.name, statements)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// An IAM role with a trust policy and one inline permission policy.
    pub async fn role(&self, prefix: &str, trust: Value, statements: Value) -> String {
        let name = unique(prefix);
        self.remember(Created::Role(name.clone()));
        create_role(&self.iam, &name, &trust, statements)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The ARN of the IAM user whose keys are the environment's admin keys
    /// (the operator's own identity in [`crate::Operator::start_as_admin`]).
    pub fn admin_principal(&self) -> String {
        format!("arn:aws:iam::{}:user/admin", self.account)
    }

    /// A trust policy letting the operator's own identity in the tests (the
    /// admin user, [`crate::Operator::start_as_admin`]) assume a role; moto
    /// matches principals literally, so it names the user.
    pub fn operator_trust(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": self.admin_principal()},
                "Action": "sts:AssumeRole"
            }]
        })
    }

    /// A trust policy letting exactly one ServiceAccount assume a role by web
    /// identity, the way EKS IRSA trust policies read.
    pub fn irsa_trust(&self, ns: &str, sa: &str) -> Value {
        irsa_trust(&self.account, &self.oidc_provider, ns, sa)
    }

    /// All object keys and versions (with delete markers) in a bucket.
    pub async fn versions(&self, bucket: &str) -> Vec<String> {
        versions_in(&self.s3, bucket).await
    }

    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list objects")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}
