//! The least-privilege IAM identity policy a connection needs, generated
//! from its [`ValidSpec`]: exactly the requested permissions on exactly its
//! bucket and prefix, as typed data that serializes to IAM policy JSON.
//! Pure functions, no I/O. The `policy` command ([`cli`]) prints it, the
//! trust policy of the role it assumes ([`trust`]), or the bucket policy
//! that lets a principal of another account in ([`bucket_policy`]).
//!
//! What the probe sends, and the action IAM checks for it:
//! - `ListObjectsV2` (at most one key, `prefix=<prefix>`): `s3:ListBucket` on
//!   the bucket ARN, with an `s3:prefix` condition when the connection has a
//!   prefix. `HeadBucket` (also `s3:ListBucket`) is sent but not required to
//!   succeed, so nothing more is granted for it.
//! - `PutObject` with `If-None-Match: *` and metadata: `s3:PutObject`;
//!   `GetObject` (reading back, or checking a probe object's marker):
//!   `s3:GetObject`; `DeleteObject`: `s3:DeleteObject`; all on
//!   `arn:PARTITION:s3:::bucket/prefix*`.
//! - `s3:ReplicateObject` is asked of IAM policy simulation on AWS, which
//!   needs `iam:SimulatePrincipalPolicy` on the principal itself.
//! - With `spec.probe.serverSideEncryption` `aws:kms(:dsse)` the probe
//!   object needs `kms:GenerateDataKey` (writing) and `kms:Decrypt`
//!   (reading it back) on the key, when `kmsKeyId` names its ARN.
//!
//! Deliberately not granted: `s3:DeleteObjectVersion` (only lets the probe
//! tidy up old versions in a versioned bucket; Ready does not need it) and
//! `s3:GetBucketLocation` (never called).

pub mod cli;
pub mod trust;

use serde::Serialize;

use crate::aws::Arn;
use crate::crd::Permission;
use crate::spec::{AuthMethod, Encryption, ValidSpec};

/// The policy language version every document uses.
pub const VERSION: &str = "2012-10-17";

/// An IAM policy document: `{"Version": "2012-10-17", "Statement": [...]}`
/// of identity or bucket policy statements, or of trust policy ones
/// ([`trust::TrustDocument`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument<S = Statement> {
    /// Always [`VERSION`] (policy variables need it).
    pub version: &'static str,
    /// One statement per kind of resource.
    pub statement: Vec<S>,
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Alphanumeric, as IAM requires.
    pub sid: &'static str,
    /// Always `Allow`: the generated policy never denies.
    pub effect: &'static str,
    /// Only in a bucket policy: who is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Actions, never a wildcard.
    pub action: Vec<String>,
    /// ARNs, never `*`.
    pub resource: Vec<String>,
    /// Only on the listing statement of a connection with a prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// The `Principal` of a resource or trust policy statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `{"AWS": ARN}`: an IAM user or role, an account, a role session.
    Aws(String),
    /// `{"Federated": ARN}`: an identity provider (IAM OIDC provider).
    Federated(String),
}

/// A map of one entry in JSON and in YAML alike (serde's enum
/// representation would be a YAML tag).
impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, arn) = match self {
            Principal::Aws(arn) => ("AWS", arn),
            Principal::Federated(arn) => ("Federated", arn),
        };
        ordered_map(&[(kind, arn.as_str())], s)
    }
}

/// `entries` as a map, in their order.
fn ordered_map<K: Serialize, V: Serialize, S: serde::Serializer>(
    entries: &[(K, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// The one condition the generated policies use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// `StringLike` on `s3:prefix`.
    #[serde(rename = "StringLike")]
    pub string_like: PrefixCondition,
}

/// `{"s3:prefix": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixCondition {
    /// The prefix itself and everything under it.
    #[serde(rename = "s3:prefix")]
    pub prefix: Vec<String>,
}

/// The identity policy, and what could not go into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// The document to attach to the user or role.
    pub document: PolicyDocument,
    /// `s3:ReplicateObject` was requested on AWS, but the role is not named
    /// in the spec (it comes from the ServiceAccount's annotation), so no
    /// `iam:SimulatePrincipalPolicy` statement could be written.
    pub simulation_principal_unknown: bool,
    /// The probe object is written with SSE-KMS, but `spec.probe.kmsKeyId`
    /// is not a key ARN (an alias, a key ID, or the bucket's default key),
    /// so no KMS statement could be written.
    pub kms_key_unnamed: bool,
}

/// The KMS actions S3 needs of the caller for an SSE-KMS object: a data
/// key to write it, decryption to read it back.
pub const KMS_WRITE: &str = "kms:GenerateDataKey";
/// See [`KMS_WRITE`].
pub const KMS_READ: &str = "kms:Decrypt";

/// The IAM action of policy simulation.
pub const SIMULATE: &str = "iam:SimulatePrincipalPolicy";

/// The partition of a region: `aws-cn` for `cn-*`, `aws-us-gov` for
/// `us-gov-*`, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `text` with the characters IAM reads as wildcards or variables in ARNs
/// and `StringLike` values (`*`, `?`, `$`) written as the policy variables
/// that stand for them literally (`${*}`, `${?}`, `${$}`).
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '$' => {
                out.push_str("${");
                out.push(c);
                out.push('}');
            }
            c => out.push(c),
        }
    }
    out
}

/// The identity policy `spec` needs; `aws` says whether its target is AWS
/// (where IAM policy simulation is asked about `s3:ReplicateObject`).
pub fn identity_policy(spec: &ValidSpec, aws: bool) -> IdentityPolicy {
    let part = partition(&spec.region);
    let mut statement = s3_statements(spec);
    let mut kms_key_unnamed = false;
    let kms = matches!(
        spec.probe.encryption,
        Some(Encryption::Kms | Encryption::KmsDsse)
    );
    let writes = spec.permissions.contains(&Permission::PutObject) && !spec.probe.read_only;
    if kms && writes {
        let mut action = vec![KMS_WRITE.to_string()];
        if spec.permissions.contains(&Permission::GetObject) {
            action.push(KMS_READ.into());
        }
        match spec.probe.kms_key_id.as_deref().filter(|k| is_key_arn(k)) {
            Some(key) => statement.push(Statement {
                sid: "KmsKey",
                effect: "Allow",
                principal: None,
                action,
                resource: vec![key.to_string()],
                condition: None,
            }),
            None => kms_key_unnamed = true,
        }
    }
    let mut simulation_principal_unknown = false;
    if aws && spec.permissions.contains(&Permission::ReplicateObject) {
        match simulation_resources(&spec.auth, part) {
            Some(resource) => statement.push(Statement {
                sid: "SimulateOwnPolicy",
                effect: "Allow",
                principal: None,
                action: vec![SIMULATE.into()],
                resource,
                condition: None,
            }),
            None => simulation_principal_unknown = true,
        }
    }
    IdentityPolicy {
        document: PolicyDocument {
            version: VERSION,
            statement,
        },
        simulation_principal_unknown,
        kms_key_unnamed,
    }
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`: a key a policy can name.
fn is_key_arn(key: &str) -> bool {
    Arn::parse(key).is_some_and(|a| a.service == "kms" && a.resource.starts_with("key/"))
}

/// The S3 statements of `spec`: listing on the bucket, object actions
/// under its prefix.
fn s3_statements(spec: &ValidSpec) -> Vec<Statement> {
    let part = partition(&spec.region);
    let bucket = &spec.target.bucket;
    let prefix = literal(&spec.target.prefix);
    let mut statement = Vec::new();
    if spec.permissions.contains(&Permission::ListBucket) {
        let condition = (!prefix.is_empty()).then(|| Condition {
            string_like: PrefixCondition {
                prefix: vec![prefix.clone(), format!("{prefix}*")],
            },
        });
        statement.push(Statement {
            sid: "ListBucket",
            effect: "Allow",
            principal: None,
            action: vec![Permission::ListBucket.as_str().into()],
            resource: vec![format!("arn:{part}:s3:::{bucket}")],
            condition,
        });
    }
    let objects: Vec<String> = spec
        .permissions
        .iter()
        .filter(|p| **p != Permission::ListBucket)
        .map(|p| p.as_str().to_string())
        .collect();
    if !objects.is_empty() {
        statement.push(Statement {
            sid: "Objects",
            effect: "Allow",
            principal: None,
            action: objects,
            resource: vec![format!("arn:{part}:s3:::{bucket}/{prefix}*")],
            condition: None,
        });
    }
    statement
}

/// The bucket policy that lets `principal` (an ARN, checked with
/// [`trust::principal_arn`]) do what `spec` needs on its bucket, for a
/// principal in another account than the bucket: the identity policy's S3
/// statements with `"Principal": {"AWS": principal}`, nothing of IAM. The
/// principal still needs the identity policy in its own account.
pub fn bucket_policy(spec: &ValidSpec, principal: &str) -> Result<PolicyDocument, String> {
    let principal = trust::principal_arn(principal)?;
    let mut document = PolicyDocument {
        version: VERSION,
        statement: s3_statements(spec),
    };
    for statement in &mut document.statement {
        statement.principal = Some(Principal::Aws(principal.clone()));
    }
    Ok(document)
}

/// The principal the operator simulates, as policy resources: the role
/// when the spec names it; for access keys the IAM user itself, written
/// with policy variables since the spec does not name it (with and
/// without an IAM path); `None` for IRSA without `roleArn`.
fn simulation_resources(auth: &AuthMethod, part: &str) -> Option<Vec<String>> {
    match auth {
        AuthMethod::OperatorRole(r) => Some(vec![r.role_arn.clone()]),
        AuthMethod::Irsa(r) => r.role_arn.clone().map(|a| vec![a]),
        AuthMethod::AccessKey(_) => Some(
            ["", "*/"]
                .iter()
                .map(|path| {
                    format!(
                        "arn:{part}:iam::${{aws:PrincipalAccount}}:user/{path}${{aws:username}}"
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
