//! The schema pieces the derive cannot infer: patterns, limits and CEL rules
//! from [`super::rules`], added to the generated field schemas (which keep
//! their descriptions from the fields' doc comments).

use schemars::Schema;
use serde_json::{Value, json};
use strum::IntoEnumIterator;

use super::Permission;
use super::rules::*;

/// `[{rule, message}, ...]` as `x-kubernetes-validations` wants it.
fn validations<'a>(rules: impl IntoIterator<Item = (String, String)> + 'a) -> Value {
    Value::Array(
        rules
            .into_iter()
            .map(|(rule, message)| json!({"rule": rule, "message": message}))
            .collect(),
    )
}

fn static_validations(rules: &[(&str, &str)]) -> Value {
    validations(rules.iter().map(|(r, m)| (r.to_string(), m.to_string())))
}

/// A string field: an `Option` must not become `nullable` (the operator
/// never writes `null`, and a user's `null` should not be accepted as unset).
fn string(s: &mut Schema, len: (Option<u32>, u32), pattern: &str) {
    s.remove("nullable");
    s.insert("type".into(), "string".into());
    if let Some(min) = len.0 {
        s.insert("minLength".into(), min.into());
    }
    s.insert("maxLength".into(), len.1.into());
    s.insert("pattern".into(), pattern.into());
}

pub fn bucket(s: &mut Schema) {
    let (min, max) = BUCKET_FIELD_LEN;
    string(s, (Some(min), max), BUCKET_FIELD_PATTERN);
    let names = BUCKET_RULES
        .iter()
        .map(|r| ((r.cel)(), format!("bucket name {}", (r.message)())));
    let paths = PATH_RULES
        .iter()
        .map(|r| (r.cel.to_string(), r.message.to_string()));
    s.insert(
        "x-kubernetes-validations".into(),
        validations(names.chain(paths)),
    );
}

pub fn region(s: &mut Schema) {
    let (min, max) = REGION_LEN;
    string(s, (Some(min), max), REGION_PATTERN);
}

pub fn endpoint(s: &mut Schema) {
    string(s, (None, ENDPOINT_MAX_LEN), ENDPOINT_PATTERN);
}

pub fn permissions(s: &mut Schema) {
    s.remove("nullable");
    s.insert("type".into(), "array".into());
    s.insert("minItems".into(), 1.into());
    s.insert("maxItems".into(), Permission::iter().count().into());
    s.insert("x-kubernetes-list-type".into(), "set".into());
    let names: Vec<&str> = Permission::iter().map(Permission::as_str).collect();
    s.insert("items".into(), json!({"type": "string", "enum": names}));
}

pub fn interval(s: &mut Schema) {
    string(s, (None, INTERVAL_MAX_LEN), INTERVAL_PATTERN);
    s.insert(
        "x-kubernetes-validations".into(),
        validations([
            (
                format!("duration(self) >= duration('{MIN_INTERVAL_TEXT}')"),
                format!("validationInterval must be at least {MIN_INTERVAL_TEXT}"),
            ),
            (
                format!("duration(self) <= duration('{MAX_INTERVAL_TEXT}')"),
                format!("validationInterval must be at most {MAX_INTERVAL_TEXT}"),
            ),
        ]),
    );
}

pub fn object_name(s: &mut Schema) {
    let (min, max) = NAME_LEN;
    string(s, (Some(min), max), DNS_SUBDOMAIN_PATTERN);
}

pub fn secret_key(s: &mut Schema) {
    let (min, max) = NAME_LEN;
    string(s, (Some(min), max), SECRET_KEY_PATTERN);
}

pub fn role_arn(s: &mut Schema) {
    string(s, (None, ROLE_ARN_MAX_LEN), ROLE_ARN_PATTERN);
}

pub fn session_name(s: &mut Schema) {
    let (min, max) = SESSION_NAME_LEN;
    string(s, (Some(min), max), SESSION_NAME_PATTERN);
}

pub fn account_id(s: &mut Schema) {
    string(s, (None, 12), ACCOUNT_ID_PATTERN);
}

/// A new object reads as not yet observed (kstatus: InProgress), as Flux does.
pub fn status(s: &mut Schema) {
    s.insert("default".into(), json!({"observedGeneration": -1}));
}

pub fn auth(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        static_validations(&[AUTH_EXACTLY_ONE]),
    );
}

pub fn iam_role(s: &mut Schema) {
    s.insert(
        "x-kubernetes-validations".into(),
        static_validations(&IAM_ROLE_RULES),
    );
}

/// A list whose items are merged by server-side apply on `key`.
fn list_map(s: &mut Schema, key: &str) {
    s.insert("x-kubernetes-list-type".into(), "map".into());
    s.insert("x-kubernetes-list-map-keys".into(), json!([key]));
}

pub fn conditions(s: &mut Schema) {
    list_map(s, "type");
}

pub fn permission_results(s: &mut Schema) {
    list_map(s, "action");
}
