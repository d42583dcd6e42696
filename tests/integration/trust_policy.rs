//! `s3-connection-operator policy --trust` proved, not only printed: a role
//! whose trust policy is exactly the printed one lets the connection's
//! ServiceAccount in and refuses another ServiceAccount of the same
//! namespace (moto's launcher enforces web-identity trust policies: the
//! OIDC provider principal and the `sub` / `aud` conditions). The issuer
//! comes from the test API server's OpenID discovery, the cluster name of
//! the ExternalId from its kube-system namespace, as the operator takes
//! them. Also: the live form (`policy NAME -n NS`) prints what `-f` prints
//! for the same manifest, and bad input is one line with exit code 2.

use std::process::{Command, Output};

use serde_json::{Value, json};
use testkit::{Operator, PROVABLE, Spec, TestEnv, condition, objects};

use crate::OPERATOR;
use crate::policy::policy_command;

/// `policy ARGS` on a live object, through the test's kubeconfig.
fn live(env: &TestEnv, args: &[&str]) -> Output {
    Command::new(OPERATOR)
        .arg("policy")
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("AWS_ENDPOINT_URL", &env.endpoint)
        .output()
        .unwrap()
}

/// The document a successful `policy` printed, parsed.
fn document(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "policy failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("policy prints JSON")
}

/// Make `trust` the trust policy of role `role` (an ARN).
async fn install_trust(env: &TestEnv, role: &str, trust: &Value) {
    env.iam
        .update_assume_role_policy()
        .role_name(role.rsplit('/').next().unwrap())
        .policy_document(trust.to_string())
        .send()
        .await
        .expect("install the printed trust policy");
}

/// A one-document manifest of connection `name` in `ns`, after other
/// documents (`before`).
fn manifest(before: &[Value], ns: &str, name: &str, spec: &Spec) -> String {
    let mut conn = objects::connection(name, &[], spec);
    conn["metadata"]["namespace"] = json!(ns);
    let mut docs: Vec<String> = before.iter().map(Value::to_string).collect();
    docs.push(conn.to_string());
    docs.join("\n---\n")
}

#[tokio::test]
async fn the_printed_trust_policy_lets_exactly_its_service_account_in() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("trust").await;
    let bucket = env.bucket("trust").await;
    let spec =
        |sa: &str| Spec::iam_role(&bucket, &env.endpoint, None, Some(sa)).permissions(&PROVABLE);

    // The identity policy first: it does not depend on the role.
    let identity = document(&policy_command(
        &manifest(&[], &ns, "a", &spec("sa-a")),
        &[],
    ));
    // A role that trusts nobody yet; its ARN goes into both annotations.
    let nobody = env.irsa_trust(&ns, "nobody");
    let role = env
        .role("trust", nobody, identity["Statement"].clone())
        .await;
    let annotation = [("eks.amazonaws.com/role-arn", role.as_str())];
    for sa in ["sa-a", "sa-b"] {
        env.service_account(&ns, sa, &annotation).await;
    }
    env.apply_connection(&ns, "a", spec("sa-a")).await;
    env.apply_connection(&ns, "b", spec("sa-b")).await;

    // The live object: role from sa-a's annotation, issuer from discovery.
    let trust = document(&live(&env, &["a", "-n", &ns, "--trust"]));
    let provider = &env.oidc_provider;
    assert_eq!(
        trust["Statement"][0]["Principal"]["Federated"],
        format!("arn:aws:iam::{}:oidc-provider/{provider}", env.account),
        "the issuer read from the cluster's discovery document: {trust}"
    );
    // The manifest with its ServiceAccount and the issuer given: the same.
    let sa_a = serde_json::to_value(objects::service_account("sa-a", &annotation)).unwrap();
    let issuer = testkit::var("S3C_OIDC_ISSUER");
    let offline = policy_command(
        &manifest(&[sa_a], &ns, "a", &spec("sa-a")),
        &["--trust", "--oidc-issuer", &issuer],
    );
    assert_eq!(document(&offline), trust);
    // And the live identity policy is the manifest's.
    assert_eq!(document(&live(&env, &["a", "-n", &ns])), identity);

    let role_name = role.rsplit('/').next().unwrap();
    install_trust(&env, &role, &trust).await;

    let _op = Operator::start(&env, &ns, &[]).await;
    let a = env.wait_ready(&ns, "a", "True", Some("Validated")).await;
    let identity = a.status.and_then(|s| s.identity).unwrap_or_default();
    assert!(
        identity.contains(&format!("assumed-role/{role_name}/")),
        "{identity}"
    );
    let b = env
        .wait_ready(&ns, "b", "False", Some("AssumeRoleFailed"))
        .await;
    let message = condition(&b, "Ready").message;
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(
        message.contains(&format!("system:serviceaccount:{ns}:sa-b")),
        "{message}"
    );
    assert!(
        message.contains("s3-connection-operator policy --trust -f <file>"),
        "the refusal names the command that prints the trust policy: {message}"
    );
}

#[tokio::test]
async fn the_printed_external_id_is_the_one_the_operator_sends() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("trustop").await;
    let bucket = env.bucket("trustop").await;
    let nobody = env.irsa_trust(&ns, "nobody");
    let spec = |role: &str| {
        Spec::iam_role(&bucket, &env.endpoint, Some(role), None).permissions(&PROVABLE)
    };
    let identity = document(&policy_command(
        &manifest(&[], &ns, "own", &spec("arn:aws:iam::123456789012:role/x")),
        &[],
    ));
    let role = env
        .role("trustop", nobody, identity["Statement"].clone())
        .await;
    env.apply_connection(&ns, "own", spec(&role)).await;
    // No --cluster-name: the kube-system namespace's UID, as the operator.
    let principal = env.admin_principal();
    let trust = document(&live(
        &env,
        &[
            "own",
            "-n",
            &ns,
            "--trust",
            "--operator-principal",
            &principal,
        ],
    ));
    assert_eq!(
        trust["Statement"][0]["Principal"],
        json!({"AWS": principal})
    );
    let external_id = trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"].clone();
    install_trust(&env, &role, &trust).await;

    let _op = Operator::start_as_admin(&env, &ns).await;
    let c = env.wait_ready(&ns, "own", "True", Some("Validated")).await;
    // moto does not check the ExternalId condition: the operator's status
    // says what it sent.
    assert_eq!(
        json!(c.status.and_then(|s| s.external_id)),
        external_id,
        "the ExternalId the operator sent"
    );
}

#[tokio::test]
async fn bad_input_for_the_trust_flags_is_one_line_with_exit_2() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("trustbad").await;
    let irsa = Spec::iam_role("bucket", &env.endpoint, None, Some("sa")).permissions(&PROVABLE);
    env.apply_connection(&ns, "c", irsa.clone()).await;
    let file = manifest(&[], &ns, "c", &irsa);
    // A kubeconfig whose API server does not answer.
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::net::free_port().unwrap();
    let nowhere = env.kubeconfig_via(([127, 0, 0, 1], port).into(), dir.path());
    let outputs = [
        policy_command(&file, &["--trust", "--oidc-issuer", "http://insecure"]),
        policy_command(&file, &["--trust", "--oidc-issuer", "https://x/?q=\u{1}"]),
        policy_command(&file, &["--trust", "--audience", "a;b"]),
        policy_command(&file, &["--trust", "--bucket-policy"]),
        policy_command(&file, &["--bucket-policy", "--principal", "me"]),
        policy_command(
            &file,
            &["--trust", "--operator-principal", "arn:aws:s3:::b"],
        ),
        policy_command(&file, &["--trust", "--cluster-name", "a b", "-n", "other"]),
        // No roleArn, and the file has no ServiceAccount.
        policy_command(&file, &["--trust", "--oidc-issuer", "https://x"]),
        live(&env, &["missing", "-n", &ns]),
        live(&env, &["c", "-n", &ns, "--trust"]),
        live(&env, &["Not_A_Name", "-n", &ns]),
        live(&env, &[]),
        Command::new(OPERATOR)
            .args(["policy", "c", "-n", &ns])
            .env("KUBECONFIG", &nowhere)
            .output()
            .unwrap(),
    ];
    for out in outputs {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty(), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && !err.contains("panicked"),
            "{err}"
        );
    }
}
