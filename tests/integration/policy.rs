//! `s3-connection-operator policy -f FILE` proved, not only printed: for a
//! matrix of connections, a fresh user given exactly the printed identity
//! policy makes the connection Ready, against moto and against MinIO (which
//! enforces the `s3:prefix` condition moto ignores); the same policy
//! without any one action makes it PermissionDenied, naming that action.
//!
//! `s3:ReplicateObject` and `iam:SimulatePrincipalPolicy` stay out of the
//! remove-one proof: on a store (moto or MinIO as an S3-compatible
//! endpoint) the printed policy has no simulation statement, so the user
//! may not simulate its policy and s3:ReplicateObject is Unverified
//! whatever the policy says. The simulation itself is proved in
//! `simulate`.

use std::io::Write;
use std::process::{Command, Output};

use futures::future::join_all;
use serde_json::{Value, json};
use testkit::{ALL, Minio, Operator, PROVABLE, Spec, TestEnv, condition, permission};

use crate::OPERATOR;

/// One connection of the matrix: its name, the path under the bucket, the
/// permissions it lists, and the action taken out of the generated policy
/// (`None`: the policy as printed).
struct Case {
    name: &'static str,
    path: &'static str,
    permissions: &'static [&'static str],
    without: Option<&'static str>,
}

const fn case(
    name: &'static str,
    path: &'static str,
    permissions: &'static [&'static str],
    without: Option<&'static str>,
) -> Case {
    Case {
        name,
        path,
        permissions,
        without,
    }
}

const MATRIX: &[Case] = &[
    case("whole", "", &PROVABLE, None),
    case("prefix", "customers", &PROVABLE, None),
    case("nested", "a/b/c", &PROVABLE, None),
    case("all-five", "customers", &ALL, None),
    case(
        "read-only",
        "customers",
        &["s3:ListBucket", "s3:GetObject"],
        None,
    ),
    case("list", "p", &["s3:ListBucket"], None),
    case("get", "p", &["s3:GetObject"], None),
    case("put", "p", &["s3:PutObject"], None),
    case("delete", "p", &["s3:DeleteObject"], None),
    case("no-list", "a/b", &PROVABLE, Some("s3:ListBucket")),
    case("no-get", "a/b", &PROVABLE, Some("s3:GetObject")),
    case("no-put", "a/b", &PROVABLE, Some("s3:PutObject")),
    case("no-delete", "a/b", &PROVABLE, Some("s3:DeleteObject")),
];

/// Run the operator binary's `policy` command on `manifest`.
pub(crate) fn policy_command(manifest: &str, args: &[&str]) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(manifest.as_bytes()).unwrap();
    Command::new(OPERATOR)
        .args(["policy", "-f"])
        .arg(file.path())
        .args(args)
        .output()
        .unwrap()
}

/// The statements `policy` prints for connection `name` with `spec`.
fn generated(name: &str, spec: &Spec) -> Value {
    let manifest = json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": name},
        "spec": spec.json(),
    });
    let out = policy_command(&manifest.to_string(), &["-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "policy: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("policy prints JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    doc["Statement"].clone()
}

/// `statements` without `action` (a statement left with no action goes).
fn without(statements: Value, action: &str) -> Value {
    let kept: Vec<Value> = statements
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .filter_map(|mut s| {
            let actions: Vec<Value> = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| *a != action)
                .cloned()
                .collect();
            s["Action"] = json!(actions);
            (!actions.is_empty()).then_some(s)
        })
        .collect();
    json!(kept)
}

/// Where the matrix runs.
enum Store {
    Moto,
    Minio(Minio),
}

impl Store {
    async fn bucket(&self, env: &TestEnv, name: &str) -> String {
        match self {
            Store::Moto => env.bucket(name).await,
            Store::Minio(m) => env.minio_bucket(m, name).await,
        }
    }

    async fn user(&self, env: &TestEnv, name: &str, statements: Value) -> testkit::IamUser {
        match self {
            Store::Moto => env.user(name, statements).await,
            Store::Minio(_) => env.minio_user(name, statements).await,
        }
    }

    fn spec(&self, env: &TestEnv, bucket: &str, secret: &str) -> Spec {
        match self {
            Store::Moto => env.access_key_spec(bucket, secret),
            Store::Minio(m) => Spec::access_key(bucket, &m.endpoint, secret).ca("s3-ca"),
        }
        .interval("1h")
    }
}

/// One case: a bucket, a user with the generated policy (less
/// `case.without`), a connection; then what its status must say. Returns
/// a line for the log: each permission's result.
async fn prove(env: &TestEnv, store: &Store, ns: &str, case: &Case) -> String {
    let bucket = store.bucket(env, case.name).await;
    let secret = format!("{}-creds", case.name);
    let target = if case.path.is_empty() {
        bucket.clone()
    } else {
        format!("{bucket}/{}", case.path)
    };
    let spec = store
        .spec(env, &target, &secret)
        .permissions(case.permissions);
    let mut statements = generated(case.name, &spec);
    if let Some(action) = case.without {
        statements = without(statements, action);
    }
    let user = store.user(env, case.name, statements).await;
    env.secret(
        ns,
        &secret,
        &[
            ("AWS_ACCESS_KEY_ID", &user.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &user.secret_access_key),
        ],
    )
    .await;
    env.apply_connection(ns, case.name, spec).await;
    let c = match case.without {
        None => {
            env.wait_ready(ns, case.name, "True", Some("Validated"))
                .await
        }
        Some(action) => {
            let c = env
                .wait_ready(ns, case.name, "False", Some("PermissionDenied"))
                .await;
            assert_eq!(permission(&c, action), "Denied", "{}", case.name);
            let ready = condition(&c, "Ready").message;
            assert!(ready.contains(action), "{}: {ready}", case.name);
            assert!(
                ready.contains("s3-connection-operator policy -f"),
                "{ready}"
            );
            c
        }
    };
    let results: Vec<String> = c
        .status
        .as_ref()
        .unwrap()
        .permissions
        .iter()
        .map(|p| format!("{}={}", p.action, p.result.as_str()))
        .collect();
    for p in case.permissions {
        if Some(*p) != case.without {
            assert_ne!(permission(&c, p), "Denied", "{}: {results:?}", case.name);
        }
    }
    let left = c.status.as_ref().unwrap().leftover_probe_object.clone();
    let left = left.map(|k| format!(" leftover={k}")).unwrap_or_default();
    format!("{}: {}{left}", case.name, results.join(" "))
}

async fn prove_matrix(env: &TestEnv, store: &Store, ns: &str) {
    let lines = join_all(MATRIX.iter().map(|case| prove(env, store, ns, case))).await;
    let name = match store {
        Store::Moto => "moto",
        Store::Minio(_) => "MinIO",
    };
    eprintln!("{name}:\n  {}", lines.join("\n  "));
}

#[tokio::test]
async fn generated_policy_is_exactly_enough_on_moto() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("policy").await;
    let _op = Operator::start(&env, &ns, &["--concurrency", "16"]).await;
    prove_matrix(&env, &Store::Moto, &ns).await;
}

#[tokio::test]
async fn generated_policy_is_exactly_enough_on_minio() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let ns = env.namespace("mpolicy").await;
    env.secret(&ns, "s3-ca", &[("ca.crt", &minio.ca_pem)]).await;
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &minio.endpoint]).await;
    prove_matrix(&env, &Store::Minio(minio), &ns).await;
}

#[test]
fn policy_command_answers_bad_input_in_one_line_with_exit_2() {
    let good = "apiVersion: s3connection.dev/v1alpha1\nkind: S3Connection\nmetadata: {name: c}\nspec:\n  bucket: output/customers\n  region: us-gov-west-1\n  auth: {accessKey: {secretName: creds}}\n";
    let out = policy_command(good, &["-o", "yaml"]);
    assert!(out.status.success());
    let doc: Value = yaml_serde::from_slice(&out.stdout).expect("policy prints YAML");
    let resources = doc["Statement"].to_string();
    assert!(
        resources.contains("arn:aws-us-gov:s3:::output/customers/*"),
        "{resources}"
    );
    assert!(
        resources.contains("iam:SimulatePrincipalPolicy"),
        "{resources}"
    );
    for bad in [
        "{{{ not yaml".to_string(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n".to_string(),
        good.replace("output/customers", "Not_A_Bucket"),
        "\u{0}\u{1}binary".to_string(),
    ] {
        let out = policy_command(&bad, &[]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let missing = Command::new(OPERATOR)
        .args(["policy", "-f", "/nonexistent/conn.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
