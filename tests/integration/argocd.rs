//! The Argo CD health check (deploy/argocd/health.lua) run by the real
//! `argocd-health` tool (gopher-lua with Argo CD's sandbox: no string
//! library, no open libs) on every fixture in deploy/argocd/fixtures/, and the
//! argocd-cm snippet carrying exactly that script. Needs only `argocd-health`
//! on PATH (`make test` puts the built tools there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::OPERATOR;

const ARGOCD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd");
const KEY: &str = "resource.customizations.health.s3connection.dev_S3Connection";

fn script() -> PathBuf {
    Path::new(ARGOCD).join("health.lua")
}

/// What Argo CD shows for each fixture: (status, message).
fn expected() -> BTreeMap<&'static str, (&'static str, &'static str)> {
    const WAIT_1: &str = "Waiting for the operator to validate generation 1";
    const WAIT_3: &str = "Waiting for the operator to validate generation 3";
    const READY: &str = "Validated: Connected to s3://output/customers/ as arn:aws:iam::123456789012:user/analytics-sync; proved s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject.";
    const DENIED: &str = "PermissionDenied: S3 denied s3:PutObject on s3://output/customers/. Add them to the IAM policy (s3:ListBucket on arn:aws:s3:::output, object actions on arn:aws:s3:::output/customers/*).";
    BTreeMap::from([
        // New objects: no status yet, or the CRD's default status.
        ("new-no-status.json", ("Progressing", WAIT_1)),
        ("new-defaulted-status.json", ("Progressing", WAIT_1)),
        ("ready.json", ("Healthy", READY)),
        (
            "ready-unverified.json",
            (
                "Healthy",
                "Validated: Connected to s3://output/customers/ as arn:aws:iam::123456789012:user/analytics-sync; proved s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject. Not provable: s3:ReplicateObject (see status.permissions).",
            ),
        ),
        // A new generation: not yet seen, announced, or a Ready condition
        // left from the previous one.
        ("spec-changed.json", ("Progressing", WAIT_3)),
        (
            "validating-new-generation.json",
            ("Progressing", "Progressing: Validating generation 3."),
        ),
        ("ready-condition-stale.json", ("Progressing", WAIT_3)),
        // Transient failures are retried: Progressing, with the reason.
        (
            "transient-endpoint-unreachable.json",
            (
                "Progressing",
                "EndpointUnreachable: Could not connect to https://minio.storage.svc:9000 for ListObjectsV2. Check spec.endpoint and the network; retrying.",
            ),
        ),
        (
            "transient-timed-out.json",
            (
                "Progressing",
                "ValidationTimedOut: The validation did not finish within 60s (an endpoint or STS answers too slowly or not at all); it was stopped and is retried with backoff.",
            ),
        ),
        // Definite failures.
        ("stalled-permission-denied.json", ("Degraded", DENIED)),
        (
            "stalled-invalid-credentials.json",
            (
                "Degraded",
                "InvalidCredentials: STS rejected the credentials (SignatureDoesNotMatch): the secret access key does not match the access key ID. Update the credentials the connection uses.",
            ),
        ),
        (
            "not-ready-without-stalled.json",
            (
                "Degraded",
                "BucketNotFound: Bucket \"outptu\" does not exist at https://s3.us-west-1.amazonaws.com (NoSuchBucket). Create it, or fix spec.bucket.",
            ),
        ),
        // A fix pushed after a definite failure: not Degraded until the
        // operator has judged the new generation.
        (
            "stalled-previous-generation.json",
            (
                "Progressing",
                "Waiting for the operator to validate generation 5",
            ),
        ),
        // Suspended wins, whatever the last result was.
        (
            "suspended.json",
            (
                "Suspended",
                "Validation is suspended (spec.suspend is true); last result: Ready=True (Validated)",
            ),
        ),
        (
            "suspended-after-failure.json",
            (
                "Suspended",
                "Validation is suspended (spec.suspend is true); last result: Ready=False (PermissionDenied)",
            ),
        ),
        (
            "suspended-no-status.json",
            (
                "Suspended",
                "Validation is suspended (spec.suspend is true)",
            ),
        ),
    ])
}

/// Run `argocd-health [flags] health.lua < fixture`; its {status, message}.
fn health(flags: &[&str], fixture: &Path) -> (String, String) {
    let input = std::fs::File::open(fixture).unwrap();
    let out = Command::new("argocd-health")
        .args(flags)
        .arg(script())
        .stdin(Stdio::from(input))
        .output()
        .expect("argocd-health on PATH (hack/tools.sh argocd-health; make test puts it on PATH)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "argocd-health failed on {}: {stderr}",
        fixture.display()
    );
    assert!(
        stderr.trim().is_empty(),
        "argocd-health warned on {}: {stderr}",
        fixture.display()
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("argocd-health prints JSON");
    (
        v["status"].as_str().unwrap_or_default().to_string(),
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ARGOCD).join("fixtures"))
        .expect("deploy/argocd/fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn argocd_health_of_every_fixture_in_the_default_sandbox() {
    let expected = expected();
    let files = fixtures();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let known: Vec<String> = expected.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        names, known,
        "every fixture has an expected health, and every expected health a fixture"
    );
    let mut wrong = vec![];
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let (status, message) = expected[name];
        // Argo CD's default for a custom script (no useOpenLibs), and with
        // open libraries: the same answer.
        for flags in [&[][..], &["--use-open-libs"][..]] {
            let got = health(flags, file);
            if got != (status.to_string(), message.to_string()) {
                wrong.push(format!(
                    "{name} {flags:?}: got {got:?}, want ({status:?}, {message:?})"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong health:\n{}", wrong.join("\n"));
}

#[test]
fn argocd_fixtures_are_s3connections_as_the_api_server_holds_them() {
    for file in fixtures() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.display();
        assert_eq!(v["apiVersion"], "s3connection.dev/v1alpha1", "{name}");
        assert_eq!(v["kind"], "S3Connection", "{name}");
        assert!(v["metadata"]["generation"].as_i64().unwrap() >= 1, "{name}");
        // The spec is one the CRD accepts (parsed by the operator's own types).
        let _: s3_connection_operator::crd::S3ConnectionSpec =
            serde_json::from_value(v["spec"].clone())
                .unwrap_or_else(|e| panic!("{name}: spec: {e}"));
        for c in v["status"]["conditions"].as_array().into_iter().flatten() {
            for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
                assert!(
                    c[field].is_string(),
                    "{name}: condition without {field}: {c}"
                );
            }
            assert!(
                ["True", "False", "Unknown"].contains(&c["status"].as_str().unwrap()),
                "{name}: {c}"
            );
            assert!(
                c["observedGeneration"].is_i64(),
                "{name}: every condition carries observedGeneration: {c}"
            );
        }
    }
}

#[test]
fn argocd_cm_snippet_embeds_exactly_the_health_script() {
    let lua = std::fs::read_to_string(script()).unwrap();
    let cm: Value = yaml_serde::from_str(
        &std::fs::read_to_string(Path::new(ARGOCD).join("argocd-cm.yaml")).unwrap(),
    )
    .expect("argocd-cm.yaml is YAML");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().expect("data");
    assert_eq!(data.len(), 1, "only the health check: {:?}", data.keys());
    assert_eq!(
        data[KEY].as_str(),
        Some(lua.as_str()),
        "argocd-cm.yaml's {KEY} differs from health.lua: regenerate the snippet"
    );
    assert!(
        !data.keys().any(|k| k.contains("useOpenLibs")),
        "the script needs no open libraries"
    );
}

/// `argocd-health health.lua` on an object as the API server returns it.
fn health_of(obj: &Value) -> (String, String) {
    use std::io::Write;
    let mut child = Command::new("argocd-health")
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("argocd-health on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(obj.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "argocd-health: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["status"].as_str().unwrap().to_string(),
        v["message"].as_str().unwrap().to_string(),
    )
}

/// Connections as the operator really writes them, judged by the script.
#[tokio::test]
async fn argocd_health_of_connections_the_operator_wrote() {
    use kube::Api;
    use kube::api::{ApiResource, DynamicObject};
    use s3_connection_operator::crd::S3Connection;
    use testkit::{ALL, Operator, Setup, TestEnv};

    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("argocd", "", &ALL).await;
    let good = env.access_key_spec(&bucket, "creds");
    let wrong_key = good.clone().secret_access_key_key("AWS_ACCESS_KEY_ID");
    let paused = good.clone().suspend(true);
    env.apply_connection(&ns, "good", good.clone()).await;
    env.apply_connection(&ns, "wrong-key", wrong_key).await;
    env.apply_connection(&ns, "paused", paused).await;

    let raw: Api<DynamicObject> = Api::namespaced_with(
        env.kube.clone(),
        &ns,
        &ApiResource::erase::<S3Connection>(&()),
    );
    let get = |name: &'static str| {
        let raw = raw.clone();
        async move { serde_json::to_value(raw.get(name).await.unwrap()).unwrap() }
    };

    // Before any operator runs: waiting for generation 1.
    assert_eq!(
        health_of(&get("good").await),
        (
            "Progressing".to_string(),
            "Waiting for the operator to validate generation 1".to_string()
        )
    );

    let _op = Operator::start(&env, &ns, &[]).await;
    let ready = env.wait_ready(&ns, "good", "True", Some("Validated")).await;
    let (status, message) = health_of(&get("good").await);
    let r = testkit::ready_of(&ready).unwrap();
    assert_eq!(status, "Healthy", "{message}");
    assert_eq!(message, format!("Validated: {}", r.message));

    let failed = env.wait_ready(&ns, "wrong-key", "False", None).await;
    let r = testkit::ready_of(&failed).unwrap();
    let (status, message) = health_of(&get("wrong-key").await);
    assert_eq!(status, "Degraded", "{message}");
    assert_eq!(message, format!("{}: {}", r.reason, r.message));

    // Suspended from the start: Suspended, never validated.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let obj = get("paused").await;
        let suspended = obj["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Suspended" && c["status"] == "True")
        });
        if suspended {
            assert_eq!(
                health_of(&obj),
                (
                    "Suspended".to_string(),
                    "Validation is suspended (spec.suspend is true)".to_string()
                )
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Suspended condition: {obj}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A new generation reads Progressing until the operator has judged it,
    // then Healthy again.
    let narrower = good.permissions(&["s3:ListBucket", "s3:GetObject"]);
    env.apply_connection(&ns, "good", narrower).await;
    let obj = get("good").await;
    if obj["status"]["observedGeneration"].as_i64() < Some(2)
        || testkit::ready_of(&serde_json::from_value(obj.clone()).unwrap())
            .is_some_and(|r| r.observed_generation < Some(2))
    {
        let (status, message) = health_of(&obj);
        assert_eq!(status, "Progressing", "{message}");
        assert!(
            message == "Waiting for the operator to validate generation 2"
                || message == "Progressing: Validating generation 2.",
            "{message}"
        );
    }
    env.wait_ready(&ns, "good", "True", Some("Validated")).await;
    assert_eq!(health_of(&get("good").await).0, "Healthy");
}
