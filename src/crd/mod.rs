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

pub use condition::{CondStatus, Condition, Text};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ProbeSettings", transform = schema::probe)]
    pub probe: Option<ProbeSettings>,
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
    pub access_key: Option<AccessKeyAuth>,
    /// An IAM role to assume, through a ServiceAccount of this namespace (IRSA) or, if the operator allows it, through the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "IamRoleAuth", transform = schema::iam_role)]
    pub iam_role: Option<IamRoleAuth>,
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

/// Observed state of an S3Connection, written by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::status)]
pub struct S3ConnectionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Failed`, `Authenticated`, `BucketAccessible` and
    /// `PermissionsGranted` describe the connection. `Reconciling` (while a
    /// generation is validated or a transient problem is retried), `Stalled`
    /// (a definite failure) and `Suspended` are present only while True.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "condition::dedup_messages"
    )]
    #[schemars(
        with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>",
        transform = schema::conditions
    )]
    pub conditions: Vec<Condition>,

    /// How the connection authenticates: `AccessKey`, `IRSA` or `OperatorRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,

    /// With the operator's own identity (`OperatorRole`): the ExternalId the
    /// operator sends when it assumes the role, `<cluster>:<namespace>`. The
    /// role's trust policy must require it (condition `sts:ExternalId`), so a
    /// role meant for one namespace cannot be used from another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,

    /// The ARN the credentials resolve to (STS GetCallerIdentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,

    /// The region S3 reports for the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_region: Option<String>,

    /// The result for each requested permission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::permission_results)]
    pub permissions: Vec<PermissionResult>,

    /// S3 requests a day the operator sends to validate this connection:
    /// those of its last validation (every attempt, failed ones too) times
    /// the validations a day at its interval (86400 s / interval). What S3
    /// bills (PUT and LIST, GET and HEAD; DELETE is free); the free STS and
    /// IAM requests, which connections with the same credentials share
    /// through caches, are not included. 0 while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub requests_per_day: Option<i64>,

    /// The value of the `s3connection.dev/requested-at` (or
    /// `reconcile.fluxcd.io/requestedAt`) annotation the last validation
    /// answered. At most 256 printable ASCII characters: a value the
    /// operator does not accept is not handled, and not echoed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::requested_at::MAX_LEN))]
    pub last_handled_requested_at: Option<String>,

    /// Key of a probe object the operator wrote but could not delete. The
    /// operator retries the delete at each validation (with the current
    /// credentials) and writes no other probe object for this connection while
    /// it exists. Delete it yourself or grant `s3:DeleteObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_object: Option<String>,

    /// Bucket holding `leftoverProbeObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_bucket: Option<String>,

    /// The version of `leftoverProbeObject` the bucket's Object Lock
    /// retains: the object was deleted (a delete marker hides it), but the
    /// version stays until its retention ends. The operator deletes it then
    /// and writes no other probe object until it has, so at most one
    /// retained probe version exists per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_version: Option<String>,
}

/// The result of proving one permission.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResult {
    /// The action, for example `s3:GetObject`.
    pub action: String,
    /// `Allowed` (proved by a real call), `Denied` (S3 refused it) or
    /// `Unverified` (could not be proved either way; the message says why).
    pub result: PermissionOutcome,
    /// How the result was obtained.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When a real request last established this result (a full
    /// validation; light checks do not move it). While the result stays the
    /// same it moves at most once per `fullValidationInterval` (and at most
    /// once a day when that is shorter), so an unchanged connection's
    /// status is written at most that often. Absent for `Unverified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_proved: Option<Time>,
}

/// The result of proving one permission.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, strum::IntoStaticStr,
)]
pub enum PermissionOutcome {
    /// Proved by a real request.
    Allowed,
    /// Refused by S3 (or IAM's policy simulation).
    Denied,
    /// Could not be proved either way; the message says why.
    Unverified,
}

impl PermissionOutcome {
    /// The name `status.permissions[].result` shows.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests;
