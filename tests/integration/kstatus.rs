//! How the tools platform teams run read a connection's status, on live
//! objects of the real API server: kstatus (`sigs.k8s.io/cli-utils`, what
//! Flux `wait`, kpt and cli-utils' poller use, built as the `kstatus` tool),
//! Argo CD's health check (deploy/argocd/health.lua in the `argocd-health`
//! tool), and `kubectl wait --for=condition=Ready`. A [`Gate`] in front of the
//! S3 endpoint holds a validation in flight so the states in between can be
//! looked at without racing the operator.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use testkit::net::free_addr;
use testkit::{ALL, Cond, Gate, Operator, Setup, Spec, TestEnv, condition, has_condition};

use crate::OPERATOR;

const ARGOCD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/health.lua");

/// The object as `kubectl get -o json` prints it.
fn live(env: &TestEnv, ns: &str, name: &str) -> Vec<u8> {
    let out = env.kubectl(&["get", "s3connection", name, "-n", ns, "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Feed `input` to a tool and parse the JSON it prints.
fn run_tool(tool: &str, args: &[&str], input: &[u8]) -> Value {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} on PATH (make test builds it): {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{tool} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// What kstatus and Argo CD say about the object now: (kstatus status,
/// Argo CD health status).
fn tools_say(env: &TestEnv, ns: &str, name: &str) -> (String, String) {
    let obj = live(env, ns, name);
    let k = run_tool("kstatus", &[], &obj);
    let a = run_tool("argocd-health", &[ARGOCD_SCRIPT], &obj);
    (
        k["status"].as_str().unwrap().to_string(),
        a["status"].as_str().unwrap().to_string(),
    )
}

fn assert_tools(env: &TestEnv, ns: &str, name: &str, kstatus: &str, argocd: &str, when: &str) {
    let said = tools_say(env, ns, name);
    assert_eq!(
        (said.0.as_str(), said.1.as_str()),
        (kstatus, argocd),
        "{when}: (kstatus, Argo CD) for\n{}",
        String::from_utf8_lossy(&live(env, ns, name))
    );
}

/// `kubectl wait --for=condition=Ready` once (`--timeout=0s` checks once).
fn ready_now(env: &TestEnv, ns: &str, name: &str) -> bool {
    env.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=0s",
        "-n",
        ns,
        &format!("s3connection/{name}"),
    ])
    .status
    .success()
}

/// `bucket` at `endpoint` with the key in Secret `creds`.
fn spec_at(endpoint: &str, bucket: &str, interval: &str) -> Spec {
    Spec::access_key(bucket, endpoint, "creds").interval(interval)
}

/// The Ready and Reconciling conditions announcing `generation`.
fn assert_announced(c: &s3_connection_operator::crd::S3Connection, generation: i64) {
    let ready = condition(c, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("Unknown", "Progressing"),
        "{ready:?}"
    );
    assert_eq!(ready.observed_generation, Some(generation));
    let Cond { status, reason, .. } = condition(c, "Reconciling");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Progressing"));
    assert_eq!(
        c.status.as_ref().unwrap().observed_generation,
        Some(generation)
    );
}

#[tokio::test]
async fn kstatus_argocd_and_kubectl_wait_follow_a_connection_from_new_to_ready_and_through_an_edit()
{
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("kstatus", "", &ALL).await;
    // Generation 1 goes through one gate, generation 2 through another: a
    // re-validation of generation 1 (the Secret's first listing may ask for
    // one) cannot be mistaken for generation 2's.
    let gate = Gate::closed(&env.endpoint).await;
    let gate2 = Gate::closed(&env.endpoint).await;

    // New: nothing validated it yet. The CRD's default status says so.
    env.apply_connection(&ns, "data", spec_at(&gate.url, &bucket, "1m"))
        .await;
    let c = env.connections(&ns).get("data").await.unwrap();
    assert_eq!(c.status.unwrap().observed_generation, Some(-1));
    assert_tools(&env, &ns, "data", "InProgress", "Progressing", "new");
    assert!(!ready_now(&env, &ns, "data"));

    // Validating its first generation: nothing written yet (a first
    // validation writes status once, at the end); the default still says
    // it was never validated.
    let mut op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &gate.url,
            "--allowed-endpoint",
            &gate2.url,
        ],
    )
    .await;
    gate.wait_accepted_more_than(0).await;
    let c = env.connections(&ns).get("data").await.unwrap();
    let status = c.status.unwrap();
    assert_eq!(status.observed_generation, Some(-1));
    assert!(status.conditions.is_empty());
    assert_tools(&env, &ns, "data", "InProgress", "Progressing", "validating");
    assert!(!ready_now(&env, &ns, "data"));

    // Ready.
    gate.open();
    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    assert!(
        !has_condition(&c, "Reconciling") && !has_condition(&c, "Stalled"),
        "{:?}",
        c.status
    );
    assert_tools(&env, &ns, "data", "Current", "Healthy", "ready");
    assert!(ready_now(&env, &ns, "data"));

    // Spec edited: before the operator has seen the edit (it is stopped),
    // generation 1's Ready=True answers for nobody.
    let pid = op.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    env.apply_connection(&ns, "data", spec_at(&gate2.url, &bucket, "1m"))
        .await;
    let stale_seen = (tools_say(&env, &ns, "data"), ready_now(&env, &ns, "data"));
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        stale_seen,
        (("InProgress".into(), "Progressing".into()), false),
        "edited, not yet seen by the operator"
    );

    // ... and while generation 2 is being validated.
    gate2.wait_accepted_more_than(0).await;
    let c = env.connections(&ns).get("data").await.unwrap();
    assert_announced(&c, 2);
    assert_tools(
        &env,
        &ns,
        "data",
        "InProgress",
        "Progressing",
        "validating the edit",
    );
    assert!(!ready_now(&env, &ns, "data"));
    // `kubectl wait` started now returns only once generation 2 is Ready.
    let wait = tokio::process::Command::new("kubectl")
        .args(["wait", "--for=condition=Ready", "--timeout=60s", "-n", &ns])
        .arg("s3connection/data")
        .env("KUBECONFIG", &env.kubeconfig)
        .output();
    gate2.open();
    let out = wait.await.unwrap();
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = env.connections(&ns).get("data").await.unwrap();
    let ready = condition(&c, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.observed_generation),
        ("True", Some(2))
    );
    assert_tools(&env, &ns, "data", "Current", "Healthy", "edit validated");
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
}

#[tokio::test]
async fn kstatus_and_argocd_tell_definite_from_transient_failures() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, .. } = env.setup("kfail", "", &ALL).await;
    // Nothing listens here: every connection attempt is refused.
    let closed = { format!("http://{}", free_addr().unwrap()) };
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &closed]).await;

    // Definite: the Secret does not exist. Stalled, with Ready's reason.
    let spec = Spec::access_key("some-bucket", &env.endpoint, "absent").interval("1m");
    env.apply_connection(&ns, "missing", spec).await;
    let c = env
        .wait_ready(&ns, "missing", "False", Some("SecretNotFound"))
        .await;
    let (ready, stalled) = (condition(&c, "Ready"), condition(&c, "Stalled"));
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "SecretNotFound")
    );
    assert_eq!(stalled.message, ready.message);
    assert_eq!(condition(&c, "Failed").status, "True");
    assert_tools(
        &env,
        &ns,
        "missing",
        "Failed",
        "Degraded",
        "definite failure",
    );

    // Transient: the endpoint refuses connections. Retried, so in progress.
    env.apply_connection(&ns, "down", spec_at(&closed, "some-bucket", "1m"))
        .await;
    let c = env
        .wait_ready(&ns, "down", "Unknown", Some("EndpointUnreachable"))
        .await;
    let reconciling = condition(&c, "Reconciling");
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "EndpointUnreachable")
    );
    assert!(!has_condition(&c, "Stalled"));
    assert_tools(
        &env,
        &ns,
        "down",
        "InProgress",
        "Progressing",
        "transient failure",
    );
}
