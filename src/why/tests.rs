use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;

/// A connection as the API server would hand it out, with `status`.
fn conn(spec: serde_json::Value, status: serde_json::Value) -> S3Connection {
    serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": "data", "namespace": "team-a", "generation": 2},
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

fn keys() -> serde_json::Value {
    json!({"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "aws creds"}}})
}

fn ready(status: &str, reason: &str, message: &str) -> serde_json::Value {
    let t = Time(jiff::Timestamp::UNIX_EPOCH);
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": t})
}

fn text(e: &Explanation) -> String {
    e.lines.join("\n")
}

#[test]
fn a_connection_without_status_is_not_validated_yet() {
    let c = conn(keys(), json!({}));
    let e = explain(&c, "kubectl s3c");
    assert_eq!(e.state, State::Unknown);
    assert!(
        text(&e).contains("has not been validated yet"),
        "{}",
        text(&e)
    );
    assert!(text(&e).contains("kubectl get pods"), "{}", text(&e));
}

#[test]
fn a_denial_names_the_policy_command_and_the_identity() {
    let c = conn(
        keys(),
        json!({
            "observedGeneration": 2,
            "identity": "arn:aws:iam::123456789012:user/app",
            "permissions": [
                {"action": "s3:ListBucket", "result": "Allowed"},
                {"action": "s3:PutObject", "result": "Denied", "message": "AccessDenied"},
            ],
            "conditions": [ready("False", "PermissionDenied", "S3 denied s3:PutObject on b.")],
        }),
    );
    let e = explain(&c, "kubectl s3c");
    assert_eq!(e.state, State::NotReady);
    let t = text(&e);
    assert!(
        t.starts_with("S3Connection team-a/data is not ready (PermissionDenied)."),
        "{t}"
    );
    assert!(t.contains("  s3:PutObject: Denied (AccessDenied)"), "{t}");
    assert!(
        t.contains(
            "`kubectl s3c policy data -n team-a` prints to arn:aws:iam::123456789012:user/app"
        ),
        "{t}"
    );
    assert!(t.contains("s3connection.dev/requested-at="), "{t}");
    assert!(!t.contains("generation"), "{t}");
}

#[test]
fn each_credential_problem_gets_its_own_command() {
    let cases = [
        (
            "SecretNotFound",
            "kubectl create secret generic 'aws creds' -n team-a --from-literal=AWS_ACCESS_KEY_ID=",
        ),
        (
            "SecretLabelMissing",
            "kubectl label secret 'aws creds' -n team-a s3connection.dev/credentials=true",
        ),
        (
            "SecretValueInvalid",
            "kubectl edit secret 'aws creds' -n team-a",
        ),
        (
            "InvalidCredentials",
            "kubectl edit secret 'aws creds' -n team-a",
        ),
        (
            "AssumeRoleFailed",
            "`s3-connection-operator policy --trust data -n team-a`",
        ),
        ("EndpointUnreachable", "the operator retries"),
    ];
    for (reason, wanted) in cases {
        let c = conn(keys(), json!({"conditions": [ready("False", reason, "m")]}));
        let t = text(&explain(&c, "s3-connection-operator"));
        assert!(t.contains(wanted), "{reason}: {t}");
    }
    let irsa = json!({"bucket": "b", "region": "us-east-1",
                      "auth": {"iamRole": {"serviceAccountName": "uploader"}}});
    let c = conn(
        irsa.clone(),
        json!({"conditions": [ready("False", "RoleArnMissing", "m")]}),
    );
    let t = text(&explain(&c, "kubectl s3c"));
    assert!(
        t.contains(
            "kubectl annotate serviceaccount uploader -n team-a eks.amazonaws.com/role-arn="
        ),
        "{t}"
    );
    let c = conn(
        irsa,
        json!({"conditions": [ready("False", "ServiceAccountNotFound", "m")]}),
    );
    let t = text(&explain(&c, "kubectl s3c"));
    assert!(
        t.contains("kubectl create serviceaccount uploader -n team-a"),
        "{t}"
    );
}

#[test]
fn a_wrong_region_fix_uses_the_bucket_region_only_when_it_is_a_region() {
    let c = conn(
        keys(),
        json!({"bucketRegion": "eu-west-1", "conditions": [ready("False", "WrongRegion", "m")]}),
    );
    let t = text(&explain(&c, "kubectl s3c"));
    assert!(t.contains(r#"-p '{"spec":{"region":"eu-west-1"}}'"#), "{t}");
    // What an endpoint answered never becomes part of a command.
    let c = conn(
        keys(),
        json!({"bucketRegion": "eu'; rm -rf /", "conditions": [ready("False", "WrongRegion", "m")]}),
    );
    let t = text(&explain(&c, "kubectl s3c"));
    assert!(!t.contains("patch s3connection"), "{t}");
}

#[test]
fn hostile_status_text_is_shown_on_one_line_each() {
    let c = conn(
        keys(),
        json!({
            "identity": "arn:x\n\u{1b}[31mforged",
            "conditions": [ready("Unknown", "Evil\nReason", "line one\nline two")],
        }),
    );
    let e = explain(&c, "kubectl s3c");
    assert_eq!(e.state, State::Unknown);
    for line in &e.lines {
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    }
}

#[test]
fn ready_says_nothing_to_fix_and_flags_unverified() {
    let c = conn(
        keys(),
        json!({
            "observedGeneration": 1,
            "permissions": [{"action": "s3:ReplicateObject", "result": "Unverified", "message": "no IAM"}],
            "conditions": [ready("True", "Validated", "Connected.")],
        }),
    );
    let e = explain(&c, "kubectl s3c");
    assert_eq!(e.state, State::Ready);
    let t = text(&e);
    assert!(t.contains("Nothing to fix."), "{t}");
    assert!(t.contains("Unverified could not be proved"), "{t}");
    assert!(
        t.contains("generation 1; the current spec (generation 2)"),
        "{t}"
    );
}

#[test]
fn an_sts_endpoint_not_allowed_names_its_allowlist_entry() {
    let mut spec = keys();
    spec["endpoint"] = json!("https://minio.example.com:9000");
    spec["stsEndpoint"] = json!("https://STS.example.com/");
    let c = conn(
        spec,
        json!({
            "observedGeneration": 2,
            "conditions": [ready("False", "StsEndpointNotAllowed", "not allowed")],
        }),
    );
    let t = text(&explain(&c, "kubectl s3c"));
    assert!(
        t.contains("--allowed-endpoint https://sts.example.com:443"),
        "{t}"
    );
    assert!(!t.contains("minio"), "{t}");
}
