//! `s3-connection-operator check -f FILE`, the binary run as a user runs it,
//! against the real API server and S3/STS/IAM endpoint. For every case the
//! operator can also run, the same spec is applied with the operator
//! running, and check's `-o json` must agree with the operator's status on
//! the reason and on every permission's result. No run prints a secret
//! value, whatever the output format or log level; input check cannot use
//! is one line on stderr and exit code 2.

use std::collections::BTreeMap;
use std::process::Stdio;

use futures::future::join_all;
use s3_connection_operator::crd::S3Connection;
use serde_json::{Value, json};
use testkit::net::free_addr;
use testkit::{ALL, Minio, Operator, PROVABLE, Setup, Spec, TestEnv, ready_of, s3_policy, unique};

use crate::OPERATOR;

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// One run of `check`.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON `-o json` printed.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Nothing it printed holds any of `secrets`.
    fn assert_tells_none_of(&self, secrets: &[&str]) {
        for s in secrets {
            assert!(!self.stdout.contains(s), "a secret value on stdout");
            assert!(!self.stderr.contains(s), "a secret value on stderr");
        }
    }
}

/// Run `check -f <manifest> <args>` with the test's kubeconfig and
/// endpoints, no AWS credentials of its own (unless `vars` gives some) and
/// no RUST_LOG (unless `vars` sets it).
async fn check(env: &TestEnv, manifest: &str, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.yaml");
    std::fs::write(&path, manifest).unwrap();
    let mut cmd = tokio::process::Command::new(OPERATOR);
    cmd.arg("check")
        .arg("-f")
        .arg(&path)
        .args(args)
        .env_remove(AK)
        .env_remove(SK)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env("KUBECONFIG", &env.kubeconfig)
        .env("AWS_ENDPOINT_URL", &env.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run check");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `--from-cluster -o json`, allowing each of `endpoints`.
fn json_from_cluster<'a>(endpoints: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--from-cluster", "-o", "json"];
    for e in endpoints {
        args.extend(["--allowed-endpoint", e]);
    }
    args
}

/// Connection `name` of namespace `ns` with `spec`, as a manifest.
fn manifest(ns: &str, name: &str, spec: &Spec) -> String {
    let mut c = testkit::objects::connection(name, &[], spec);
    c["metadata"]["namespace"] = json!(ns);
    c.to_string()
}

/// Each permission's result, by action.
fn results(permissions: &[(String, String)]) -> BTreeMap<String, String> {
    permissions.iter().cloned().collect()
}

/// check's answer and the operator's status say the same: Ready's status
/// and reason, and every permission's result.
fn assert_agree(name: &str, answer: &Value, c: &S3Connection) {
    let ready = ready_of(c).expect("a Ready condition");
    assert_eq!(answer["ready"], ready.status, "{name}: Ready");
    assert_eq!(answer["reason"], ready.reason, "{name}: reason");
    let status = c.status.clone().unwrap_or_default();
    let operator: Vec<(String, String)> = status
        .permissions
        .iter()
        .map(|p| (p.action.clone(), p.result.as_str().to_string()))
        .collect();
    let ours: Vec<(String, String)> = answer["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("action"), s("result"))
        })
        .collect();
    assert_eq!(results(&ours), results(&operator), "{name}: permissions");
    assert_eq!(ours.len(), operator.len(), "{name}: one result each");
}

/// One case of the controller tests.
struct Case {
    name: &'static str,
    spec: Spec,
    ready: &'static str,
    reason: &'static str,
    exit: i32,
}

#[tokio::test]
async fn check_answers_what_the_operator_writes() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("check", "", &ALL).await;
    let (ak, sk) = (user.access_key_id.as_str(), user.secret_access_key.as_str());
    let reader = env
        .user(
            "check-ro",
            s3_policy(&bucket, "", &["s3:ListBucket", "s3:GetObject"]),
        )
        .await;
    env.secret(
        &ns,
        "ro",
        &[(AK, &reader.access_key_id), (SK, &reader.secret_access_key)],
    )
    .await;
    let wrong_key = "not-the-secret-key-at-all";
    env.secret(&ns, "wrong", &[(AK, ak), (SK, wrong_key)]).await;
    let missing = unique("check-missing");
    let nobucket = env.user("check-nob", s3_policy(&missing, "", &ALL)).await;
    env.secret(
        &ns,
        "nob",
        &[
            (AK, &nobucket.access_key_id),
            (SK, &nobucket.secret_access_key),
        ],
    )
    .await;
    let secrets = [
        ak,
        sk,
        reader.access_key_id.as_str(),
        reader.secret_access_key.as_str(),
        nobucket.access_key_id.as_str(),
        nobucket.secret_access_key.as_str(),
        wrong_key,
    ];
    let closed = format!("http://{}", free_addr().unwrap());
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &closed]).await;

    let spec = |bucket: &str, secret: &str| env.access_key_spec(bucket, secret).interval("1h");
    let mut other_region = spec(&bucket, "creds");
    other_region.0.region = "eu-west-1".into();
    let case = |name, spec, ready, reason, exit| Case {
        name,
        spec,
        ready,
        reason,
        exit,
    };
    // Definitely not Ready: False, exit code 1.
    let not = |name, spec, reason| case(name, spec, "False", reason, 1);
    let cases = [
        case("ready", spec(&bucket, "creds"), "True", "Validated", 0),
        not(
            "denied",
            spec(&bucket, "ro").permissions(&PROVABLE),
            "PermissionDenied",
        ),
        not("badkey", spec(&bucket, "wrong"), "InvalidCredentials"),
        not("nobucket", spec(&missing, "nob"), "BucketNotFound"),
        not("region", other_region, "WrongRegion"),
        not(
            "notallowed",
            spec(&bucket, "creds").at("https://storage.example.com"),
            "EndpointNotAllowed",
        ),
        case(
            "down",
            spec(&bucket, "creds").at(&closed),
            "Unknown",
            "EndpointUnreachable",
            2,
        ),
        not("nosecret", spec(&bucket, "absent"), "SecretNotFound"),
    ];
    for c in &cases {
        env.apply_connection(&ns, c.name, c.spec.clone()).await;
    }
    let args = json_from_cluster(&[&env.endpoint, &closed]);
    let manifests: Vec<String> = cases
        .iter()
        .map(|c| manifest(&ns, c.name, &c.spec))
        .collect();
    let runs = join_all(manifests.iter().map(|m| check(&env, m, &args, &[]))).await;
    for (c, run) in cases.iter().zip(&runs) {
        run.assert_tells_none_of(&secrets);
        let answer = run.json();
        assert_eq!(
            (
                answer["ready"].as_str(),
                answer["reason"].as_str(),
                run.code
            ),
            (Some(c.ready), Some(c.reason), Some(c.exit)),
            "{}: {}\nstderr: {}",
            c.name,
            run.stdout,
            run.stderr
        );
        let status = env.wait_ready(&ns, c.name, c.ready, Some(c.reason)).await;
        assert_agree(c.name, &answer, &status);
    }

    // What a Ready answer tells besides: who, where, the probe object.
    let ready = runs[0].json();
    let identity = ready["identity"].as_str().unwrap_or_default();
    assert!(identity.contains(":user/check-"), "{identity}");
    assert_eq!(ready["bucketRegion"], testkit::REGION);
    assert_eq!(ready["auth"], "AccessKey");
    assert_eq!(ready["probeObject"]["fate"], "Deleted");
    assert_eq!(ready["probeObject"]["bucket"], bucket.as_str());
    // Where something is denied: the hint and the command for the policy.
    let denied = runs[1].json();
    assert!(
        denied["policyHint"]
            .as_str()
            .is_some_and(|h| h.contains(&format!("arn:aws:s3:::{bucket}"))),
        "{denied}"
    );
    assert!(
        denied["policyCommand"]
            .as_str()
            .is_some_and(|c| c.contains("policy -f"))
    );
    assert!(
        env.keys(&bucket).await.is_empty(),
        "no probe object left behind"
    );

    // As a table, and with every log level: still no secret value.
    let ready_manifest = manifest(&ns, "ready", &cases[0].spec);
    let allowed = ["--from-cluster", "--allowed-endpoint", &env.endpoint];
    for (more, vars) in [
        (&["-v"][..], &[][..]),
        (&[], &[("RUST_LOG", "debug")]),
        (&["-o", "json"], &[("RUST_LOG", "trace")]),
    ] {
        let args = [&allowed[..], more].concat();
        let run = check(&env, &ready_manifest, &args, vars).await;
        run.assert_tells_none_of(&secrets);
        assert_eq!(run.code, Some(0), "{args:?} {vars:?}: {}", run.stderr);
        assert!(
            !run.stderr.is_empty(),
            "{args:?} {vars:?}: something is logged"
        );
        if !args.contains(&"json") {
            assert!(run.stdout.contains("True (Validated)"), "{}", run.stdout);
        }
    }
}

#[tokio::test]
async fn secret_files_and_local_credentials_answer_as_the_cluster_would() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("check-file", "", &ALL).await;
    let (ak, sk) = (user.access_key_id.as_str(), user.secret_access_key.as_str());
    // In the cluster too, for the operator: a newline inside the key ID.
    let broken = format!("{ak}\nINJECTED");
    env.secret(&ns, "broken", &[(AK, &broken), (SK, sk)]).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let spec = |secret: &str| env.access_key_spec(&bucket, secret).interval("1h");
    env.apply_connection(&ns, "broken", spec("broken")).await;

    let allowed = ["--allowed-endpoint", env.endpoint.as_str(), "-o", "json"];
    let dir = tempfile::tempdir().unwrap();
    // check of connection `name` whose Secret `name`, in a file, holds `id`.
    let from_file = async |name: &str, id: &str| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, secret_manifest(name, &[(AK, id), (SK, sk)])).unwrap();
        let file = path.display().to_string();
        let args = [&allowed[..], &["--secret-file", &file]].concat();
        check(&env, &manifest(&ns, name, &spec(name)), &args, &[]).await
    };

    let run = from_file("creds", ak).await;
    run.assert_tells_none_of(&[ak, sk]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["reason"], "Validated");

    let run = from_file("broken", &broken).await;
    run.assert_tells_none_of(&[ak, sk, &broken]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["reason"], "SecretValueInvalid");
    let status = env
        .wait_ready(&ns, "broken", "False", Some("SecretValueInvalid"))
        .await;
    assert_agree("broken", &run.json(), &status);

    // This machine's credentials, only when asked for.
    let local = [&allowed[..], &["--use-local-credentials"]].concat();
    let vars = [(AK, ak), (SK, sk)];
    let run = check(&env, &manifest(&ns, "data", &spec("absent")), &local, &vars).await;
    run.assert_tells_none_of(&[ak, sk]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let answer = run.json();
    assert_eq!(answer["reason"], "Validated");
    assert!(
        answer["identity"]
            .as_str()
            .unwrap_or_default()
            .contains(&user.name)
    );
    // Not asked for: the environment's keys are not used.
    let run = check(
        &env,
        &manifest(&ns, "data", &spec("absent")),
        &allowed,
        &vars,
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// Secret `name` holding `data`, as a manifest.
fn secret_manifest(name: &str, data: &[(&str, &str)]) -> String {
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "type": "Opaque", "stringData": data,
    })
    .to_string()
}

#[tokio::test]
async fn a_private_ca_comes_from_the_cluster_or_a_secret_file() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let ns = env.namespace("check-ca").await;
    let bucket = env.minio_bucket(&minio, "check-ca").await;
    let user = env
        .minio_user("check-ca", s3_policy(&bucket, "", &ALL))
        .await;
    let keys = [
        (AK, user.access_key_id.as_str()),
        (SK, user.secret_access_key.as_str()),
    ];
    let ca = [("ca.crt", minio.ca_pem.as_str())];
    env.secret(&ns, "creds", &keys).await;
    env.secret(&ns, "s3-ca", &ca).await;
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &minio.endpoint]).await;
    let spec = Spec::access_key(&bucket, &minio.endpoint, "creds")
        .ca("s3-ca")
        .interval("1h");
    env.apply_connection(&ns, "data", spec.clone()).await;
    let conn = manifest(&ns, "data", &spec);

    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: String| {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let creds = write("creds.yaml", secret_manifest("creds", &keys));
    let ca_file = write("ca.yaml", secret_manifest("s3-ca", &ca));
    let both = write(
        "both.yaml",
        format!(
            "{}\n---\n{}",
            secret_manifest("creds", &keys),
            secret_manifest("s3-ca", &ca)
        ),
    );
    let allowed = ["-o", "json", "--allowed-endpoint", minio.endpoint.as_str()];
    let status = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    for files in [
        vec![creds.as_str(), ca_file.as_str()],
        vec![both.as_str()],
        vec![],
    ] {
        let mut args = allowed.to_vec();
        if files.is_empty() {
            args.push("--from-cluster");
        }
        for f in &files {
            args.extend(["--secret-file", f]);
        }
        let run = check(&env, &conn, &args, &[]).await;
        run.assert_tells_none_of(&[keys[0].1, keys[1].1]);
        assert_eq!(
            run.code,
            Some(0),
            "{files:?}: {}\n{}",
            run.stdout,
            run.stderr
        );
        assert_agree("data", &run.json(), &status);
    }
    // Without the CA Secret: the operator's reason for a missing one.
    let args = [&allowed[..], &["--secret-file", &creds]].concat();
    let run = check(&env, &conn, &args, &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let answer = run.json();
    assert_eq!(answer["reason"], "SecretNotFound");
    assert!(
        answer["message"].as_str().unwrap().contains("caSecretRef"),
        "{answer}"
    );
}

#[tokio::test]
async fn irsa_gets_a_token_with_the_users_own_rights() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("check-irsa").await;
    let bucket = env.bucket("check-irsa").await;
    let trust = env.irsa_trust(&ns, "s3-sync");
    let role = env
        .role("check-irsa", trust, s3_policy(&bucket, "", &ALL))
        .await;
    env.service_account(&ns, "s3-sync", &[("eks.amazonaws.com/role-arn", &role)])
        .await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let spec = Spec::iam_role(&bucket, &env.endpoint, None, Some("s3-sync"))
        .permissions(&PROVABLE)
        .interval("1h");
    env.apply_connection(&ns, "irsa", spec.clone()).await;
    let args = json_from_cluster(&[&env.endpoint]);
    let run = check(&env, &manifest(&ns, "irsa", &spec), &args, &[]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let answer = run.json();
    let role_name = role.rsplit('/').next().unwrap();
    let identity = answer["identity"].as_str().unwrap_or_default();
    assert!(
        identity.contains(&format!("assumed-role/{role_name}/")),
        "{identity}"
    );
    assert_eq!(answer["auth"], "IRSA");
    let status = env.wait_ready(&ns, "irsa", "True", Some("Validated")).await;
    assert_agree("irsa", &answer, &status);

    // Without the cluster there is no token: one line, exit 2.
    let run = check(&env, &manifest(&ns, "irsa", &spec), &args[1..], &[]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--from-cluster"), "{}", run.stderr);
}

#[tokio::test]
async fn input_check_cannot_use_is_one_line_and_exit_2() {
    let env = TestEnv::new(OPERATOR).await;
    let conn = manifest("default", "c", &env.access_key_spec("some-bucket", "creds"));
    let cases: [(&str, String, &[&str]); 6] = [
        (
            "unparseable YAML",
            "spec: [unclosed\n".into(),
            &["--from-cluster"],
        ),
        (
            "not an S3Connection",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".into(),
            &["--from-cluster"],
        ),
        ("an empty file", String::new(), &["--from-cluster"]),
        (
            "two credential sources",
            conn.clone(),
            &["--from-cluster", "--use-local-credentials"],
        ),
        ("no credential source", conn.clone(), &[]),
        (
            "a secret file that is not there",
            conn,
            &["--secret-file", "/nonexistent/secret.yaml"],
        ),
    ];
    for (what, text, args) in cases {
        let run = check(&env, &text, args, &[("RUST_BACKTRACE", "1")]).await;
        assert_eq!(run.code, Some(2), "{what}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line: {}", run.stderr);
        assert!(lines[0].starts_with("error: "), "{what}: {}", run.stderr);
        for never in ["panicked", "backtrace", "RUST_BACKTRACE"] {
            assert!(!run.stderr.contains(never), "{what}: {}", run.stderr);
        }
    }
}
