//! The `S3Connection` custom resource: spec and status types and the CRD
//! generated from them.
//!
//! Field names, condition types and reasons are public API. The types here
//! are the wire format: they accept whatever the API server may hold (a
//! permission name the operator does not know is a string, not a
//! deserialization error that would blind the whole watch), and
//! [`crate::spec`] turns a spec into checked, typed values. Every rule,
//! limit and pattern lives in [`rules`]; `schema` puts them into the CRD.

// The repeated `printcolumn(type_ = ...)` arguments of the derive look like
// duplicated attributes to clippy.
#![allow(clippy::duplicated_attributes)]

pub mod condition;
pub mod rules;
mod schema;
mod status;

pub use condition::{CondStatus, Condition, Text};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use status::{PermissionOutcome, PermissionResult, S3ConnectionStatus};

/// The API group of `S3Connection`.
pub const GROUP: &str = "s3connection.dev";
/// The Secret key of the access key ID when `accessKeyIdKey` is not set.
pub const DEFAULT_ACCESS_KEY_ID_KEY: &str = "AWS_ACCESS_KEY_ID";
/// The Secret key of the secret access key when `secretAccessKeyKey` is not set.
pub const DEFAULT_SECRET_ACCESS_KEY_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// Declares where a team's S3 data lives and how to reach it. The operator
/// proves the connection works (credentials, bucket, region, each permission)
/// and writes the answer to `status`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "s3connection.dev",
    version = "v1alpha1",
    kind = "S3Connection",
    plural = "s3connections",
    singular = "s3connection",
    shortname = "s3c",
    category = "s3",
    namespaced,
    status = "S3ConnectionStatus",
    derive = "PartialEq",
    doc = "An S3 bucket (optionally a path inside it), the credentials to reach it and the permissions a workload needs. The operator validates the connection for real and reports the result in status.",
    printcolumn(name = "Bucket", type_ = "string", json_path = ".spec.bucket"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(name = "Auth", type_ = "string", json_path = ".status.auth"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(
        name = "Since",
        type_ = "date",
        json_path = ".status.conditions[?(@.type==\"Ready\")].lastTransitionTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.endpoint",
        priority = "1"
    ),
    printcolumn(
        name = "Identity",
        type_ = "string",
        json_path = ".status.identity",
        priority = "1"
    ),
    printcolumn(
        name = "Requests/Day",
        type_ = "integer",
        json_path = ".status.requestsPerDay",
        priority = "1"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::spec)]
pub struct S3ConnectionSpec {
    /// The bucket, optionally followed by a path: `<bucket>` or `<bucket>/<path>`.
    /// A path limits the connection to that prefix: `output/customers` means
    /// objects under `customers/` in bucket `output`. Bucket names follow the S3
    /// naming rules; the path must not start with `/` or contain `//`, `.` or
    /// `..` segments.
    #[schemars(transform = schema::bucket)]
    pub bucket: String,

    /// The AWS region the bucket lives in, for example `us-west-1`.
    #[schemars(transform = schema::region)]
    pub region: String,

    /// An S3-compatible endpoint URL (`http://` or `https://`, no credentials,
    /// query or fragment), for example `https://minio.example.com:9000`.
    /// Leave empty for AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::endpoint)]
    pub endpoint: Option<String>,

    /// Where every STS request of this connection goes (GetCallerIdentity,
    /// AssumeRole, AssumeRoleWithWebIdentity) instead of the regional STS
    /// (or the store's own STS for an S3-compatible `endpoint`): an STS VPC
    /// or FIPS endpoint, as `https://host[:port]` (no path; `http://` only
    /// where the administrator allows it), for example
    /// `https://sts-fips.us-east-1.amazonaws.com`. The operator's
    /// `--allowed-endpoint` list must allow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::sts_endpoint)]
    pub sts_endpoint: Option<String>,

    /// Address the bucket as `<endpoint>/<bucket>` instead of
    /// `<bucket>.<endpoint>`. Most S3-compatible stores need this. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,

    /// How to authenticate: exactly one of `accessKey` or `iamRole`.
    pub auth: Auth,

    /// The permissions the workload needs and the operator proves. Default: all
    /// five (`s3:ListBucket`, `s3:GetObject`, `s3:PutObject`, `s3:DeleteObject`,
    /// `s3:ReplicateObject`). Without `s3:PutObject` the operator writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::permissions)]
    pub permissions: Option<Vec<String>>,

    /// How often the connection is validated again, as a duration such as
    /// `10m`, `1h` or `90s`. From `1m` to `24h`; default `10m`. A change to the spec,
    /// the Secret or the ServiceAccount re-validates at once, and so does a new
    /// value of the annotation `s3connection.dev/requested-at` (or Flux's
    /// `reconcile.fluxcd.io/requestedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::interval)]
    pub validation_interval: Option<String>,

    /// How often a validation is a full one, which writes, reads and deletes
    /// the probe object, as a duration such as `24h`. The validations in
    /// between are light checks: they prove that the credentials and the
    /// bucket still answer with one request (ListObjectsV2, or HeadBucket
    /// without `s3:ListBucket`) and, where IAM can simulate the principal's
    /// policy, re-check the other permissions with
    /// `iam:SimulatePrincipalPolicy`; a light check that finds anything
    /// different validates fully at once. A change to the spec, the
    /// credentials or a forced check, and any connection that is not Ready,
    /// are always validated fully. From `1m` to `168h`, not shorter than
    /// `validationInterval`; default `24h`. Equal to `validationInterval`:
    /// every validation is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::full_interval)]
    pub full_validation_interval: Option<String>,

    /// Stop validating this connection (the last result stays in status, with
    /// a `Suspended` condition). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// A Secret in the same namespace whose key `ca.crt` holds PEM
    /// certificates to trust, besides the public ones, for `endpoint` (and an
    /// STS at that endpoint): for stores behind a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "SecretReference")]
    pub ca_secret_ref: Option<SecretReference>,

    /// The AWS account ID (12 digits) that must own the bucket. Sent with
    /// every S3 request (`x-amz-expected-bucket-owner`), so requests to a
    /// bucket of another account fail instead of reading or writing there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::account_id)]
    pub expected_bucket_owner: Option<String>,

    /// How the probe object is written and which requests are sent, for
    /// buckets with rules: encryption a bucket policy requires, Requester
    /// Pays, a checksum the store requires, or no writes at all.
    // Boxed, as are `auth.accessKey` and `auth.iamRole`: the cache holds
    // every connection, and most leave these out (a connection uses one
    // kind of auth); inline they were a fifth of each cached connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ProbeSettings", transform = schema::probe)]
    pub probe: Option<Box<ProbeSettings>>,
}

/// `spec.probe`: how the operator's requests are made, for buckets with
/// rules.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSettings {
    /// Server-side encryption the probe object is written with
    /// (`x-amz-server-side-encryption`): `AES256`, `aws:kms` or
    /// `aws:kms:dsse`. Set it to what the bucket policy requires of writes
    /// (a policy that denies `s3:PutObject` without it makes the operator
    /// report `s3:PutObject` Denied otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::server_side_encryption)]
    pub server_side_encryption: Option<String>,
    /// The KMS key for `aws:kms` and `aws:kms:dsse`: a key ID, key ARN,
    /// alias name or alias ARN (`x-amz-server-side-encryption-aws-kms-key-id`).
    /// Without it the bucket's default key (or `aws/s3`) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::kms_key_id)]
    pub kms_key_id: Option<String>,
    /// Send `x-amz-request-payer: requester` with every request: the
    /// bucket is a Requester Pays bucket and the connection's account pays
    /// for its requests. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::plain_bool)]
    pub requester_pays: Option<bool>,
    /// The checksum sent with the probe object: `CRC32`, `CRC32C`,
    /// `CRC64NVME`, `SHA1` or `SHA256`. Default: the AWS SDK's (`CRC32`) for
    /// AWS, none for other stores (several reject the trailing checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::checksum_algorithm)]
    pub checksum_algorithm: Option<String>,
    /// Write nothing: prove `s3:ListBucket` and `s3:GetObject` by listing
    /// and reading a key that does not exist; `s3:PutObject` and
    /// `s3:DeleteObject` are then `Unverified`. For buckets whose
    /// notifications or retention make every write count. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::plain_bool)]
    pub read_only: Option<bool>,
    /// The directory under the connection's path that holds its probe
    /// objects (`<path>/<keyPrefix>/<connection UID>`), one path segment.
    /// Default `.s3connection-probe`. Changing it while a probe object is
    /// left over forgets that object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::probe_key_prefix)]
    pub key_prefix: Option<String>,
}

/// A Secret in the connection's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(transform = schema::ca_secret_name)]
    pub name: String,
}

/// How the operator authenticates to S3 for this connection. Set exactly one
/// of `accessKey` or `iamRole`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::auth)]
pub struct Auth {
    /// Static credentials from a Secret in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "AccessKeyAuth")]
    pub access_key: Option<Box<AccessKeyAuth>>,
    /// An IAM role to assume, through a ServiceAccount of this namespace (IRSA) or, if the operator allows it, through the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "IamRoleAuth", transform = schema::iam_role)]
    pub iam_role: Option<Box<IamRoleAuth>>,
}

/// Which connection: what the stages after the spec need of its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionId {
    /// The connection's namespace.
    pub namespace: String,
    /// The connection's name.
    pub name: String,
    /// The connection's uid.
    pub uid: String,
}

impl ConnectionId {
    /// The identity of connection `c`.
    pub fn of(c: &S3Connection) -> Self {
        use kube::ResourceExt;
        Self {
            namespace: c.namespace().unwrap_or_default(),
            name: c.name_any(),
            uid: c.uid().unwrap_or_default(),
        }
    }
}

/// How a connection authenticates, as shown in `status.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum AuthKind {
    /// Static credentials from a Secret.
    AccessKey,
    /// A ServiceAccount's token exchanged for a role.
    #[strum(serialize = "IRSA")]
    Irsa,
    /// A role assumed with the operator's own identity.
    OperatorRole,
}

impl AuthKind {
    /// The name `status.auth` shows.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Auth {
    /// The one method this spec selects, or `None` unless exactly one is set.
    pub fn kind(&self) -> Option<AuthKind> {
        match (&self.access_key, &self.iam_role) {
            (Some(_), None) => Some(AuthKind::AccessKey),
            (None, Some(r)) if r.service_account_name.is_some() => Some(AuthKind::Irsa),
            (None, Some(_)) => Some(AuthKind::OperatorRole),
            _ => None,
        }
    }
}

/// Static credentials stored in a Secret of the connection's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyAuth {
    /// Name of a Secret in the same namespace as this S3Connection. Secrets in
    /// other namespaces cannot be used.
    #[schemars(transform = schema::secret_name)]
    pub secret_name: String,
    /// Key in the Secret holding the access key ID. Default `AWS_ACCESS_KEY_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::access_key_id_key)]
    pub access_key_id_key: Option<String>,
    /// Key in the Secret holding the secret access key. Default
    /// `AWS_SECRET_ACCESS_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::secret_access_key_key)]
    pub secret_access_key_key: Option<String>,
    /// Key in the Secret holding a session token, for temporary credentials.
    /// No default: without it no session token is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::session_token_key)]
    pub session_token_key: Option<String>,
}

/// An IAM role to assume.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleAuth {
    /// ARN of the role, `arn:aws:iam::<account>:role/<name>`. Optional with
    /// `serviceAccountName` when the ServiceAccount carries the
    /// `eks.amazonaws.com/role-arn` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::role_arn)]
    pub role_arn: Option<String>,
    /// IRSA: a ServiceAccount in the same namespace. The operator requests a
    /// token for it (audience `sts.amazonaws.com` or the ServiceAccount's
    /// `eks.amazonaws.com/audience` annotation) and exchanges it with STS
    /// AssumeRoleWithWebIdentity, so the role's trust policy decides which
    /// namespace may use the role. Without it the operator's own identity
    /// assumes the role, which the operator must allow explicitly
    /// (`--allow-operator-identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::service_account_name)]
    pub service_account_name: Option<String>,
    /// Role session name. With IRSA the default is
    /// `s3connection-<namespace>-<serviceAccountName>` (connections sharing a
    /// ServiceAccount and role share one session); with the operator's own
    /// identity it is always `s3c-<namespace>-<sessionName or name>`.
    /// Shortened to the 64 characters STS allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::session_name)]
    pub session_name: Option<String>,
}

/// The five permissions the operator knows how to prove, named as in AWS
/// policies. The only place their names are spelled.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
pub enum Permission {
    /// Listing the bucket (at the prefix).
    #[strum(serialize = "s3:ListBucket")]
    ListBucket,
    /// Reading objects.
    #[strum(serialize = "s3:GetObject")]
    GetObject,
    /// Writing objects.
    #[strum(serialize = "s3:PutObject")]
    PutObject,
    /// Deleting objects.
    #[strum(serialize = "s3:DeleteObject")]
    DeleteObject,
    /// Replicating objects (proved through IAM's policy simulation).
    #[strum(serialize = "s3:ReplicateObject")]
    ReplicateObject,
}

impl Permission {
    /// The action's name as IAM policies spell it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests;
