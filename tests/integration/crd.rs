//! The CRD against a real API server: accepted as generated, and each bad
//! input the schema can express is rejected by the API server itself, with a
//! message that says what is wrong.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt};
use s3_connection_operator::crd::S3Connection;
use serde_json::{Value, json};
use testkit::objects::connection;
use testkit::{Spec, TestEnv};

use crate::OPERATOR;

/// A spec the API server accepts, as JSON to spoil field by field.
fn good_spec() -> Value {
    Spec::aws("output/customers", "us-west-1", "s3-creds")
        .permissions(&["s3:ListBucket", "s3:GetObject"])
        .interval("5m")
        .json()
}

async fn create(env: &TestEnv, ns: &str, name: &str, spec: Value) -> Result<(), String> {
    let obj: S3Connection = serde_json::from_value(connection(name, &[], spec))
        .map_err(|e| format!("client-side: {e}"))?;
    env.connections(ns)
        .create(&PostParams::default(), &obj)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 422, "rejections are validation errors: {s:?}");
                s.message
            }
            other => panic!("unexpected error {other}"),
        })
}

#[tokio::test]
async fn generated_crd_is_accepted_by_the_api_server() {
    let env = TestEnv::new(OPERATOR).await;
    let api: Api<CustomResourceDefinition> = Api::all(env.kube.clone());
    let crd = S3Connection::crd();
    api.patch(
        "s3connections.s3connection.dev",
        &PatchParams::apply("integration-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("the API server accepts the generated CRD");
    let served = api.get("s3connections.s3connection.dev").await.unwrap();
    let established = served
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
    // The committed file is the same CRD.
    let committed: CustomResourceDefinition = yaml_serde::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crds/s3connection.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(committed.spec, crd.spec);
}

#[tokio::test]
async fn bad_input_is_rejected_by_the_api_server() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("crd").await;
    create(&env, &ns, "good", good_spec())
        .await
        .expect("a good spec is accepted");
    let mut own_sts = good_spec();
    own_sts["stsEndpoint"] = json!("https://sts-fips.us-east-1.amazonaws.com");
    create(&env, &ns, "own-sts", own_sts)
        .await
        .expect("an STS endpoint that is an origin is accepted");

    let with = |path: &[&str], value: Value| {
        let mut spec = good_spec();
        let mut cur = &mut spec;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = value;
        spec
    };
    let bucket = |b: &str| with(&["bucket"], json!(b));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("uppercase", bucket("Output"), "3-63 characters"),
        ("underscore", bucket("my_bucket"), "3-63 characters"),
        ("too-short", bucket("ab"), "3-63 characters"),
        ("too-long", bucket(&"a".repeat(64)), "3-63 characters"),
        (
            "ends-with-hyphen",
            bucket("bucket-"),
            "start and end with a letter or digit",
        ),
        ("double-dot", bucket("my..bucket"), "two adjacent periods"),
        ("ip-address", bucket("192.168.10.1"), "IP address"),
        ("prefix-xn", bucket("xn--bucket"), "reserved prefixes"),
        (
            "prefix-sthree",
            bucket("sthree-bucket"),
            "reserved prefixes",
        ),
        (
            "suffix-alias",
            bucket("bucket-s3alias"),
            "reserved suffixes",
        ),
        ("suffix-ol", bucket("bucket--ol-s3"), "reserved suffixes"),
        (
            "leading-slash-path",
            bucket("output//customers"),
            "must not start with '/'",
        ),
        ("double-slash", bucket("output/a//b"), "'//'"),
        ("dotdot-segment", bucket("output/a/../b"), "'..' segments"),
        (
            "both-auth",
            with(
                &["auth"],
                json!({"accessKey": {"secretName": "s"}, "iamRole": {"roleArn": "arn:aws:iam::123456789012:role/r"}}),
            ),
            "exactly one of auth.accessKey or auth.iamRole",
        ),
        (
            "no-auth",
            with(&["auth"], json!({})),
            "exactly one of auth.accessKey or auth.iamRole",
        ),
        (
            "bad-arn",
            with(
                &["auth"],
                json!({"iamRole": {"roleArn": "arn:aws:s3:::bucket"}}),
            ),
            "roleArn",
        ),
        (
            "empty-role",
            with(&["auth"], json!({"iamRole": {}})),
            "roleArn, serviceAccountName, or both",
        ),
        (
            "unknown-permission",
            with(&["permissions"], json!(["s3:GetObject", "s3:Everything"])),
            "s3:Everything",
        ),
        (
            "duplicate-permission",
            with(&["permissions"], json!(["s3:GetObject", "s3:GetObject"])),
            "Duplicate",
        ),
        (
            "short-interval",
            with(&["validationInterval"], json!("30s")),
            "at least 1m",
        ),
        (
            "long-interval",
            with(&["validationInterval"], json!("25h")),
            "at most 24h",
        ),
        (
            "garbage-interval",
            with(&["validationInterval"], json!("soon")),
            "validationInterval",
        ),
        (
            "bad-endpoint",
            with(&["endpoint"], json!("https://user:pw@s3.example.com")),
            "endpoint",
        ),
        ("bad-region", with(&["region"], json!("US West")), "region"),
        (
            "sts-endpoint-10k",
            with(
                &["stsEndpoint"],
                json!(format!("https://{}.example.com", "a".repeat(10 * 1024))),
            ),
            "stsEndpoint",
        ),
        (
            "sts-endpoint-control-characters",
            with(
                &["stsEndpoint"],
                json!("https://sts.example.com\r\nX-Injected: 1"),
            ),
            "stsEndpoint",
        ),
        (
            "sts-endpoint-with-path",
            with(&["stsEndpoint"], json!("https://sts.example.com/x")),
            "stsEndpoint",
        ),
        (
            "encryption-outside-enum",
            with(&["probe"], json!({"serverSideEncryption": "aws:kms:bogus"})),
            "Unsupported value",
        ),
        (
            "kms-key-control-characters",
            with(
                &["probe"],
                json!({"serverSideEncryption": "aws:kms", "kmsKeyId": "key\u{7}\nX-Injected: 1"}),
            ),
            "kmsKeyId",
        ),
        (
            "kms-key-10k",
            with(
                &["probe"],
                json!({"serverSideEncryption": "aws:kms", "kmsKeyId": "k".repeat(10 * 1024)}),
            ),
            "kmsKeyId",
        ),
        (
            "kms-key-without-kms",
            with(
                &["probe"],
                json!({"serverSideEncryption": "AES256", "kmsKeyId": "alias/data"}),
            ),
            "kmsKeyId needs serverSideEncryption aws:kms or aws:kms:dsse",
        ),
        (
            "probe-dir-dotdot",
            with(&["probe"], json!({"keyPrefix": ".."})),
            "keyPrefix",
        ),
        (
            "probe-dir-two-segments",
            with(&["probe"], json!({"keyPrefix": "a/b"})),
            "keyPrefix",
        ),
        (
            "checksum-outside-enum",
            with(&["probe"], json!({"checksumAlgorithm": "MD5"})),
            "Unsupported value",
        ),
        (
            "missing-region",
            {
                let mut s = good_spec();
                s.as_object_mut().unwrap().remove("region");
                s
            },
            "region",
        ),
    ];
    let mut failures = vec![];
    for (name, spec, expect) in cases {
        match create(&env, &ns, name, spec).await {
            Ok(()) => failures.push(format!("{name}: accepted")),
            Err(msg) if msg.contains(expect) => {}
            Err(msg) => failures.push(format!("{name}: message {msg:?} lacks {expect:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // The operator, not the tenant, chooses the ExternalId: the field is
    // gone, and kubectl's strict field validation rejects it.
    let mut spec = good_spec();
    spec["auth"] = json!({"iamRole": {"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": "borrowed"}});
    let obj = json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": "externalid", "namespace": ns},
        "spec": spec,
    });
    let (ok, out) = kubectl_apply(&env, &obj.to_string(), &["--validate=strict"]);
    assert!(!ok, "externalId must be refused:\n{out}");
    assert!(
        out.contains("unknown field") && out.contains("externalId"),
        "{out}"
    );
}

/// `kubectl apply -f -` with `manifest`; (success, stdout and stderr).
fn kubectl_apply(env: &TestEnv, manifest: &str, flags: &[&str]) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .args(flags)
        .env("KUBECONFIG", &env.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn explain_documents_the_api() {
    // `kubectl explain` reads the published schema: every field documented.
    let env = TestEnv::new(OPERATOR).await;
    let out = std::process::Command::new("kubectl")
        .args(["explain", "s3connection.spec.auth"])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .expect("kubectl on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("exactly one of `accessKey` or `iamRole`"),
        "{text}"
    );
    assert!(text.contains("iamRole"), "{text}");
    let out = std::process::Command::new("kubectl")
        .args(["explain", "s3connection.spec.probe"])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .expect("kubectl on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    for field in [
        "serverSideEncryption",
        "kmsKeyId",
        "requesterPays",
        "checksumAlgorithm",
        "readOnly",
        "keyPrefix",
    ] {
        assert!(text.contains(field), "{field}: {text}");
    }
    assert!(text.contains("Requester Pays"), "{text}");
}
