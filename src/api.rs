//! The `S3Connection` custom resource: spec, status and the generated CRD.
//!
//! Field names, condition types and reasons are public API. The schema carries
//! every rule the API server can enforce itself (patterns, enums, CEL
//! `x-kubernetes-validations`); [`crate::validation`] repeats them in the
//! controller for clusters where the CRD was installed without them.

// The repeated `printcolumn(type_ = ...)` arguments of the derive look like
// duplicated attributes to clippy.
#![allow(clippy::duplicated_attributes)]

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "s3connection.dev";
pub const DEFAULT_ACCESS_KEY_ID_KEY: &str = "AWS_ACCESS_KEY_ID";
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
    printcolumn(
        name = "Last Validated",
        type_ = "date",
        json_path = ".status.lastValidationTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct S3ConnectionSpec {
    /// The bucket, optionally followed by a path: `<bucket>` or `<bucket>/<path>`.
    /// A path limits the connection to that prefix: `output/customers` means
    /// objects under `customers/` in bucket `output`. Bucket names follow the S3
    /// naming rules; the path must not start with `/` or contain `//`, `.` or
    /// `..` segments.
    #[schemars(schema_with = "bucket_schema")]
    pub bucket: String,

    /// The AWS region the bucket lives in, for example `us-west-1`.
    #[schemars(schema_with = "region_schema")]
    pub region: String,

    /// An S3-compatible endpoint URL (`http://` or `https://`, no credentials,
    /// query or fragment), for example `https://minio.example.com:9000`.
    /// Leave empty for AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_schema")]
    pub endpoint: Option<String>,

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
    #[schemars(schema_with = "permissions_schema")]
    pub permissions: Option<Vec<String>>,

    /// How often the connection is validated again, as a duration such as
    /// `10m`, `1h` or `90s`. From `1m` to `24h`; default `10m`. A change to the spec,
    /// the Secret or the ServiceAccount re-validates at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "interval_schema")]
    pub validation_interval: Option<String>,
}

/// How the operator authenticates to S3 for this connection. Set exactly one
/// of `accessKey` or `iamRole`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    /// Static credentials from a Secret in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKeyAuth>,
    /// An IAM role, assumed through a ServiceAccount of this namespace (IRSA)
    /// or, if the operator allows it, through the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_role: Option<IamRoleAuth>,
}

/// Static credentials stored in a Secret of the connection's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyAuth {
    /// Name of a Secret in the same namespace as this S3Connection. Secrets in
    /// other namespaces cannot be used.
    #[schemars(schema_with = "dns_subdomain_schema")]
    pub secret_name: String,
    /// Key in the Secret holding the access key ID. Default `AWS_ACCESS_KEY_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "secret_key_schema")]
    pub access_key_id_key: Option<String>,
    /// Key in the Secret holding the secret access key. Default
    /// `AWS_SECRET_ACCESS_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "secret_key_schema")]
    pub secret_access_key_key: Option<String>,
    /// Key in the Secret holding a session token, for temporary credentials.
    /// No default: without it no session token is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "secret_key_schema")]
    pub session_token_key: Option<String>,
}

impl AccessKeyAuth {
    pub fn access_key_id_key(&self) -> &str {
        self.access_key_id_key
            .as_deref()
            .unwrap_or(DEFAULT_ACCESS_KEY_ID_KEY)
    }
    pub fn secret_access_key_key(&self) -> &str {
        self.secret_access_key_key
            .as_deref()
            .unwrap_or(DEFAULT_SECRET_ACCESS_KEY_KEY)
    }
}

/// An IAM role to assume.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleAuth {
    /// ARN of the role, `arn:aws:iam::<account>:role/<name>`. Optional with
    /// `serviceAccountName` when the ServiceAccount carries the
    /// `eks.amazonaws.com/role-arn` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "role_arn_schema")]
    pub role_arn: Option<String>,
    /// IRSA: a ServiceAccount in the same namespace. The operator requests a
    /// token for it (audience `sts.amazonaws.com` or the ServiceAccount's
    /// `eks.amazonaws.com/audience` annotation) and exchanges it with STS
    /// AssumeRoleWithWebIdentity, so the role's trust policy decides which
    /// namespace may use the role. Without it the operator's own identity
    /// assumes the role, which the operator must allow explicitly
    /// (`--allow-operator-identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "dns_subdomain_schema")]
    pub service_account_name: Option<String>,
    /// External ID passed to STS AssumeRole. Only for the operator's own
    /// identity (no `serviceAccountName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "external_id_schema")]
    pub external_id: Option<String>,
    /// Role session name. Default `s3connection-<namespace>-<name>`, shortened
    /// to the 64 characters STS allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "session_name_schema")]
    pub session_name: Option<String>,
}

/// The five permissions the operator knows how to prove, in AWS spelling.
pub const ALL_PERMISSIONS: [&str; 5] = [
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ReplicateObject",
];

/// Observed state of an S3Connection, written by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3ConnectionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Failed`, `Authenticated`, `BucketAccessible` and
    /// `PermissionsGranted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// How the connection authenticates: `AccessKey`, `IRSA` or `OperatorRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,

    /// The ARN the credentials resolve to (STS GetCallerIdentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,

    /// The region S3 reports for the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_region: Option<String>,

    /// The result for each requested permission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "permission_results_schema")]
    pub permissions: Vec<PermissionResult>,

    /// When the connection was last validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_validation_time: Option<Time>,

    /// Key of a probe object the operator wrote but could not delete. The
    /// operator retries the delete at each validation (with the current
    /// credentials) and writes no other probe object for this connection while
    /// it exists. Delete it yourself or grant `s3:DeleteObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_object: Option<String>,

    /// Bucket holding `leftoverProbeObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_bucket: Option<String>,
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
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PermissionOutcome {
    Allowed,
    Denied,
    Unverified,
}

impl PermissionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "Allowed",
            Self::Denied => "Denied",
            Self::Unverified => "Unverified",
        }
    }
}

// ---------------------------------------------------------------------------
// Schema pieces. Each rule here is repeated in `validation.rs`; the CRD tests
// against a real API server check that both agree.
// ---------------------------------------------------------------------------

/// S3 bucket naming rules, as CEL over the part before the first `/`.
const BUCKET_RULES: &[(&str, &str)] = &[
    (
        "self.split('/')[0].matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')",
        "bucket name must be 3-63 characters of lowercase letters, digits, dots and hyphens, and start and end with a letter or digit",
    ),
    (
        "!self.split('/')[0].contains('..')",
        "bucket name must not contain two adjacent periods",
    ),
    (
        "!self.split('/')[0].matches('^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$')",
        "bucket name must not be formatted as an IP address",
    ),
    (
        "!['xn--', 'sthree-', 'amzn-s3-demo-'].exists(p, self.split('/')[0].startsWith(p))",
        "bucket name must not start with the reserved prefixes xn--, sthree- or amzn-s3-demo-",
    ),
    (
        "!['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].exists(s, self.split('/')[0].endsWith(s))",
        "bucket name must not end with the reserved suffixes -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3",
    ),
    (
        "!self.contains('//')",
        "path must not start with '/' or contain '//'",
    ),
    (
        "!self.split('/').exists(s, s == '..' || s == '.')",
        "path must not contain '.' or '..' segments",
    ),
];

fn rules(list: &[(&str, &str)]) -> serde_json::Value {
    serde_json::Value::Array(
        list.iter()
            .map(|(rule, message)| serde_json::json!({"rule": rule, "message": message}))
            .collect(),
    )
}

fn bucket_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "The bucket, optionally followed by a path: `<bucket>` or `<bucket>/<path>`. A path limits the connection to that prefix: `output/customers` means objects under `customers/` in bucket `output`.",
        "minLength": 3,
        "maxLength": 900,
        "pattern": "^[^\\s\\x00-\\x1f\\x7f\\\\]+$",
        "x-kubernetes-validations": rules(BUCKET_RULES),
    })
}

fn region_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "The AWS region the bucket lives in, for example `us-west-1`.",
        "minLength": 1,
        "maxLength": 64,
        "pattern": crate::validation::REGION_PATTERN,
    })
}

fn endpoint_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "An S3-compatible endpoint URL (`http://` or `https://`, no credentials, query or fragment), for example `https://minio.example.com:9000`. Leave empty for AWS S3.",
        "maxLength": 2048,
        "pattern": crate::validation::ENDPOINT_PATTERN,
    })
}

fn permissions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "description": "The permissions the workload needs and the operator proves. Default: all five. Without `s3:PutObject` the operator writes nothing.",
        "minItems": 1,
        "maxItems": 5,
        "x-kubernetes-list-type": "set",
        "items": {"type": "string", "enum": ALL_PERMISSIONS},
    })
}

fn interval_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "How often the connection is validated again, such as `10m`, `1h` or `90s`. From `1m` to `24h`; default `10m`.",
        "maxLength": 32,
        "pattern": crate::validation::INTERVAL_PATTERN,
        "x-kubernetes-validations": [
            {"rule": "duration(self) >= duration('1m')", "message": "validationInterval must be at least 1m"},
            {"rule": "duration(self) <= duration('24h')", "message": "validationInterval must be at most 24h"}
        ],
    })
}

fn dns_subdomain_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "A Kubernetes object name in the same namespace.",
        "minLength": 1,
        "maxLength": 253,
        "pattern": crate::validation::DNS_SUBDOMAIN_PATTERN,
    })
}

fn secret_key_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "A key in the Secret's data.",
        "minLength": 1,
        "maxLength": 253,
        "pattern": crate::validation::SECRET_KEY_PATTERN,
    })
}

fn role_arn_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "ARN of the role, `arn:aws:iam::<account>:role/<name>`. Optional with `serviceAccountName` when the ServiceAccount carries the `eks.amazonaws.com/role-arn` annotation.",
        "maxLength": 2048,
        "pattern": crate::validation::ROLE_ARN_PATTERN,
    })
}

fn external_id_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "External ID passed to STS AssumeRole. Only for the operator's own identity (no `serviceAccountName`).",
        "minLength": 2,
        "maxLength": 1224,
        "pattern": crate::validation::EXTERNAL_ID_PATTERN,
    })
}

fn session_name_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "Role session name (2-64 characters of letters, digits and `+=,.@-`). Default `s3connection-<namespace>-<name>`.",
        "minLength": 2,
        "maxLength": 64,
        "pattern": crate::validation::SESSION_NAME_PATTERN,
    })
}

fn conditions_schema(g: &mut SchemaGenerator) -> Schema {
    let mut s = g.subschema_for::<Vec<Condition>>();
    s.insert("x-kubernetes-list-type".into(), "map".into());
    s.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    s
}

fn permission_results_schema(g: &mut SchemaGenerator) -> Schema {
    let mut s = g.subschema_for::<Vec<PermissionResult>>();
    s.insert("x-kubernetes-list-type".into(), "map".into());
    s.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["action"]),
    );
    s
}

/// `Auth` gets a hand-written schema so the "exactly one" rule and the
/// iamRole consistency rules sit on the right objects.
impl JsonSchema for Auth {
    fn schema_name() -> Cow<'static, str> {
        "Auth".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let access_key = g.subschema_for::<AccessKeyAuth>();
        let mut iam_role = g.subschema_for::<IamRoleAuth>();
        iam_role.insert(
            "x-kubernetes-validations".into(),
            rules(&[
                (
                    "has(self.roleArn) || has(self.serviceAccountName)",
                    "iamRole needs roleArn, serviceAccountName, or both",
                ),
                (
                    "!(has(self.externalId) && has(self.serviceAccountName))",
                    "externalId applies only to the operator's own identity; remove it or remove serviceAccountName",
                ),
            ]),
        );
        iam_role.insert(
            "description".into(),
            "An IAM role to assume, through a ServiceAccount of this namespace (IRSA) or, if the operator allows it, through the operator's own identity.".into(),
        );
        let mut access_key = access_key;
        access_key.insert(
            "description".into(),
            "Static credentials from a Secret in the same namespace.".into(),
        );
        json_schema!({
            "type": "object",
            "description": "How to authenticate: exactly one of `accessKey` or `iamRole`.",
            "properties": {
                "accessKey": access_key,
                "iamRole": iam_role,
            },
            "x-kubernetes-validations": rules(&[(
                "has(self.accessKey) != has(self.iamRole)",
                "set exactly one of auth.accessKey or auth.iamRole",
            )]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_has_names_columns_and_status_subresource() {
        let crd = S3Connection::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.names.plural, "s3connections");
        assert_eq!(crd.spec.names.short_names, Some(vec!["s3c".to_string()]));
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<_> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            cols,
            [
                "Bucket",
                "Region",
                "Auth",
                "Ready",
                "Reason",
                "Last Validated",
                "Age"
            ]
        );
    }

    #[test]
    fn every_spec_field_has_a_description() {
        let crd = serde_json::to_value(S3Connection::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, p) in props {
                    let path = format!("{path}.{k}");
                    if p.get("description").is_none() {
                        missing.push(path.clone());
                    }
                    walk(&path, p, missing);
                }
            }
        }
        let mut missing = vec![];
        walk("spec", spec, &mut missing);
        assert!(
            missing.is_empty(),
            "fields without description: {missing:?}"
        );
    }

    #[test]
    fn conditions_are_a_list_map_keyed_by_type() {
        let crd = serde_json::to_value(S3Connection::crd()).unwrap();
        let status =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        assert_eq!(
            status["properties"]["conditions"]["x-kubernetes-list-type"],
            "map"
        );
        assert_eq!(
            status["properties"]["conditions"]["x-kubernetes-list-map-keys"][0],
            "type"
        );
    }
}
