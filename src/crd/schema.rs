//! The schema pieces the derive cannot infer: patterns, limits and CEL rules
//! from [`super::rules`], added to the generated field schemas (which keep
//! their descriptions from the fields' doc comments).

use schemars::Schema;
use serde_json::{Value, json};
use strum::IntoEnumIterator;

use super::Permission;
use super::rules::*;

/// `[{rule, message}, ...]` as `x-kubernetes-validations` wants it.
fn validations(rules: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Array(
        rules
            .into_iter()
            .map(|(rule, message)| json!({"rule": rule, "message": message}))
            .collect(),
    )
}

/// A string field with the pattern and lengths of `field`: an `Option` must
/// not become `nullable` (the operator never writes `null`, and a user's
/// `null` should not be accepted as unset).
fn string(s: &mut Schema, field: &Field) {
    s.remove("nullable");
    s.insert("type".into(), "string".into());
    if let Some(min) = field.len.0 {
        s.insert("minLength".into(), min.into());
    }
    s.insert("maxLength".into(), field.len.1.into());
    s.insert("pattern".into(), field.pattern.into());
}

/// `spec.bucket`: the field's pattern, then every bucket and path rule.
pub fn bucket(s: &mut Schema) {
    string(s, &BUCKET_FIELD);
    let names = BUCKET_RULES.iter().map(|r| {
        let (cel, message) = r.schema();
        (cel, format!("bucket name {message}"))
    });
    let paths = PATH_RULES.iter().map(Rule::schema);
    s.insert(
        "x-kubernetes-validations".into(),
        validations(names.chain(paths)),
    );
}

/// `spec.region`.
pub fn region(s: &mut Schema) {
    string(s, &REGION);
}

/// `spec.endpoint`.
pub fn endpoint(s: &mut Schema) {
    string(s, &ENDPOINT);
}

/// `spec.stsEndpoint`: the field's pattern and lengths, and its CEL rule.
pub fn sts_endpoint(s: &mut Schema) {
    string(s, &STS_ENDPOINT);
    s.insert(
        "x-kubernetes-validations".into(),
        validations([STS_ENDPOINT_ORIGIN.schema()]),
    );
}

/// `spec.permissions`: a set of the permission names.
pub fn permissions(s: &mut Schema) {
    s.remove("nullable");
    s.insert("type".into(), "array".into());
    s.insert("minItems".into(), 1.into());
    s.insert("maxItems".into(), Permission::iter().count().into());
    s.insert("x-kubernetes-list-type".into(), "set".into());
    let names: Vec<&str> = Permission::iter().map(Permission::as_str).collect();
    s.insert("items".into(), json!({"type": "string", "enum": names}));
}

/// `spec.validationInterval`: the field's pattern and its limits.
pub fn interval(s: &mut Schema) {
    string(s, &INTERVAL);
    s.insert(
        "x-kubernetes-validations".into(),
        validations(INTERVAL_RULES.iter().map(Rule::schema)),
    );
}

/// `spec.fullValidationInterval`: the field's pattern and its limits.
pub fn full_interval(s: &mut Schema) {
    string(s, &FULL_INTERVAL);
    s.insert(
        "x-kubernetes-validations".into(),
        validations(FULL_INTERVAL_RULES.iter().map(Rule::schema)),
    );
}

/// `spec`: the rules across its fields.
pub fn spec(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        validations([FULL_NOT_SHORTER.schema()]),
    );
}

/// `spec.caSecretRef.name`.
pub fn ca_secret_name(s: &mut Schema) {
    string(s, &CA_SECRET_NAME);
}

/// `spec.auth.accessKey.secretName`.
pub fn secret_name(s: &mut Schema) {
    string(s, &SECRET_NAME);
}

/// `spec.auth.accessKey.accessKeyIdKey`.
pub fn access_key_id_key(s: &mut Schema) {
    string(s, &ACCESS_KEY_ID_KEY);
}

/// `spec.auth.accessKey.secretAccessKeyKey`.
pub fn secret_access_key_key(s: &mut Schema) {
    string(s, &SECRET_ACCESS_KEY_KEY);
}

/// `spec.auth.accessKey.sessionTokenKey`.
pub fn session_token_key(s: &mut Schema) {
    string(s, &SESSION_TOKEN_KEY);
}

/// `spec.auth.iamRole.roleArn`.
pub fn role_arn(s: &mut Schema) {
    string(s, &ROLE_ARN);
}

/// `spec.auth.iamRole.serviceAccountName`.
pub fn service_account_name(s: &mut Schema) {
    string(s, &SERVICE_ACCOUNT_NAME);
}

/// `spec.auth.iamRole.sessionName`.
pub fn session_name(s: &mut Schema) {
    string(s, &SESSION_NAME);
}

/// `spec.expectedBucketOwner`.
pub fn account_id(s: &mut Schema) {
    string(s, &EXPECTED_BUCKET_OWNER);
}

/// `spec.probe`: a KMS key only with KMS encryption.
pub fn probe(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        validations([KMS_KEY_NEEDS_KMS.schema()]),
    );
}

/// An enumerated string field: not `nullable`, one of `values`.
fn one_of(s: &mut Schema, values: &[&str]) {
    s.remove("nullable");
    s.insert("type".into(), "string".into());
    s.insert("enum".into(), json!(values));
}

/// `spec.probe.serverSideEncryption`.
pub fn server_side_encryption(s: &mut Schema) {
    one_of(s, &SERVER_SIDE_ENCRYPTION);
}

/// `spec.probe.checksumAlgorithm`.
pub fn checksum_algorithm(s: &mut Schema) {
    one_of(s, &CHECKSUM_ALGORITHMS);
}

/// `spec.probe.keyPrefix`.
pub fn probe_key_prefix(s: &mut Schema) {
    string(s, &PROBE_KEY_PREFIX);
}

/// `spec.probe.kmsKeyId`.
pub fn kms_key_id(s: &mut Schema) {
    string(s, &KMS_KEY_ID);
}

/// A boolean an `Option` holds, without `nullable`.
pub fn plain_bool(s: &mut Schema) {
    s.remove("nullable");
    s.insert("type".into(), "boolean".into());
}

/// A new object reads as not yet observed (kstatus: InProgress), as Flux does.
pub fn status(s: &mut Schema) {
    s.insert("default".into(), json!({"observedGeneration": -1}));
}

/// `spec.auth`: exactly one method.
pub fn auth(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        validations([AUTH_EXACTLY_ONE.schema()]),
    );
}

/// `spec.auth.iamRole`: a role or a ServiceAccount, or both.
pub fn iam_role(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        validations([IAM_ROLE_NAMES_ONE.schema()]),
    );
}

/// A list whose items are merged by server-side apply on `key`.
fn list_map(s: &mut Schema, key: &str) {
    s.insert("x-kubernetes-list-type".into(), "map".into());
    s.insert("x-kubernetes-list-map-keys".into(), json!([key]));
}

/// `status.conditions`, merged on `type`.
pub fn conditions(s: &mut Schema) {
    list_map(s, "type");
}

/// `status.permissions`, merged on `action`.
pub fn permission_results(s: &mut Schema) {
    list_map(s, "action");
}
