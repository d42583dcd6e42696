//! The binary as the kubectl plugin `kubectl s3c`: packed into its release
//! archive with the Krew manifest rendered for it (hack/plugin-archive.sh,
//! as `make plugin-archive` does), installed by krew itself, found by the
//! real kubectl on the PATH. `why` explains live connections as the
//! operator left them, with exit codes a script can use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::{Operator, PROVABLE, TestEnv};

use crate::OPERATOR;

/// Install the plugin with krew into `root` (its KREW_ROOT) from an archive
/// of the test's binary; the directory of the `kubectl-s3c` krew links.
fn installed_by_krew(root: &Path) -> PathBuf {
    let repo = env!("CARGO_MANIFEST_DIR");
    let dist = root.join("dist");
    let packed = Command::new(format!("{repo}/hack/plugin-archive.sh"))
        .args([OPERATOR, "v0.0.0-test"])
        .arg(&dist)
        .output()
        .unwrap();
    assert!(packed.status.success(), "{:?}", text(&packed));
    let archive = dist.join("kubectl-s3c_v0.0.0-test_linux_amd64.tar.gz");
    let krew = Command::new("krew")
        .args(["install", "--manifest"])
        .arg(dist.join("s3c.yaml"))
        .arg("--archive")
        .arg(&archive)
        .env("KREW_ROOT", root)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("krew on PATH (hack/tools.sh krew)");
    assert!(krew.status.success(), "krew install: {:?}", text(&krew));
    root.join("bin")
}

/// `kubectl s3c ARGS` with the plugin directory first on the PATH.
fn kubectl_s3c(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let path = std::env::var("PATH").unwrap_or_default();
    std::process::Command::new("kubectl")
        .arg("s3c")
        .args(args)
        .env("PATH", format!("{}:{path}", dir.display()))
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .expect("kubectl on PATH")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_s3c_why_explains_live_connections_with_their_fix() {
    let env = TestEnv::new(OPERATOR).await;
    let s = env.setup("why", "", &PROVABLE).await;
    let _op = Operator::start(&env, &s.ns, &[]).await;
    let ns = s.ns.as_str();
    env.apply_connection(ns, "works", env.access_key_spec(&s.bucket, "creds"))
        .await;
    env.apply_connection(ns, "nokeys", env.access_key_spec(&s.bucket, "absent"))
        .await;
    env.wait_ready(ns, "works", "True", Some("Validated")).await;
    env.wait_ready(ns, "nokeys", "False", Some("SecretNotFound"))
        .await;
    let root = tempfile::tempdir().unwrap();
    let dir = installed_by_krew(root.path());

    let ready = kubectl_s3c(&env, &dir, &["why", "works", "-n", ns]);
    let (out, err) = text(&ready);
    assert_eq!(ready.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!("S3Connection {ns}/works is ready (Validated).")),
        "{out}"
    );
    assert!(out.contains("s3:PutObject: Allowed"), "{out}");
    assert!(out.contains("Nothing to fix."), "{out}");

    let broken = kubectl_s3c(&env, &dir, &["why", "nokeys", "-n", ns]);
    let (out, err) = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("is not ready (SecretNotFound)"), "{out}");
    let create =
        format!("kubectl create secret generic absent -n {ns} --from-literal=AWS_ACCESS_KEY_ID=");
    assert!(out.contains(&create), "{out}");
    assert!(out.contains("s3connection.dev/requested-at="), "{out}");
    // No credential value of the working connection's Secret is printed.
    assert!(!out.contains(&s.user.secret_access_key), "{out}");

    // The fix it names works: create the Secret, ask for a validation.
    env.secret(
        ns,
        "absent",
        &[
            ("AWS_ACCESS_KEY_ID", &s.user.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &s.user.secret_access_key),
        ],
    )
    .await;
    env.wait_ready(ns, "nokeys", "True", Some("Validated"))
        .await;
    let fixed = kubectl_s3c(&env, &dir, &["why", "nokeys", "-n", ns]);
    assert_eq!(fixed.status.code(), Some(0), "{:?}", text(&fixed));

    // A name that does not exist: one line, exit 2.
    let missing = kubectl_s3c(&env, &dir, &["why", "nothing-here", "-n", ns]);
    let (out, err) = text(&missing);
    assert_eq!(missing.status.code(), Some(2), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("S3Connection {ns}/nothing-here not found")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // check and policy answer through the plugin too: the live object's
    // policy, and a manifest check cannot use, as one line with exit 2.
    let policy = kubectl_s3c(&env, &dir, &["policy", "works", "-n", ns]);
    let (out, err) = text(&policy);
    assert_eq!(policy.status.code(), Some(0), "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("policy prints JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    let not_yaml = dir.join("..").join("not-a-manifest.yaml");
    std::fs::write(&not_yaml, "kind: [unclosed").unwrap();
    let check = kubectl_s3c(&env, &dir, &["check", "-f", not_yaml.to_str().unwrap()]);
    let (out, err) = text(&check);
    assert_eq!(check.status.code(), Some(2), "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // The plugin answers kubectl's own way of asking for help.
    let help = kubectl_s3c(&env, &dir, &["--help"]);
    let (out, _) = text(&help);
    assert!(
        help.status.success() && out.contains("Usage: kubectl s3c"),
        "{out}"
    );
}
