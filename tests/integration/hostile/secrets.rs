//! Secret values and the endpoints they may go to.

use std::sync::atomic::Ordering;

use testkit::{ALL, Operator, Setup, TestEnv, condition};

use super::server::{Behaviour, HostileServer};
use super::{AK, SK, everything_told, spec_at};
use crate::OPERATOR;

#[tokio::test]
async fn secret_values_never_reach_an_endpoint_that_is_not_allowed() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("exfil").await;
    let password = "p4ssw0rd-of-the-app-database";
    env.secret(&ns, "app-db", &[("password", password)]).await;
    let thief = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(&env, &ns, &[]).await;

    let spec = spec_at(&thief.url, "some-bucket", "app-db")
        .access_key_id_key("password")
        .secret_access_key_key("password");
    env.apply_connection(&ns, "steal", spec).await;
    let c = env
        .wait_ready(&ns, "steal", "False", Some("EndpointNotAllowed"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(msg.contains(&thief.url), "names the endpoint: {msg}");
    assert!(msg.contains("--allowed-endpoint"), "says how: {msg}");
    assert_eq!(condition(&c, "Failed").status, "True");
    assert_eq!(
        thief.connections.load(Ordering::SeqCst),
        0,
        "not a single connection to the endpoint"
    );
    let everything = everything_told(&env, &ns, &op).await;
    assert!(!everything.contains(password), "the value leaked");
}

#[tokio::test]
async fn an_allowed_endpoint_is_used_and_the_operator_survives_what_it_answers() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("recorded").await;
    env.secret(
        &ns,
        "creds",
        &[
            (AK, "AKIARECORDEDKEY00000"),
            (SK, "recorded-secret-key-value"),
        ],
    )
    .await;
    let server = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "c", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "c", "False", Some("AccessDenied"))
        .await;
    assert!(
        !server.requests().is_empty(),
        "the allowed endpoint was used"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.contains("recorded-secret-key-value")),
        "the secret key is never sent, only signatures made with it"
    );
    assert!(
        !serde_json::to_string(&c)
            .unwrap()
            .contains("recorded-secret-key-value")
    );
    assert!(!op.log().contains("recorded-secret-key-value"));
}

#[tokio::test]
async fn a_newline_in_a_secret_value_is_reported_and_the_operator_keeps_running() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("newline", "", &ALL).await;
    env.secret(
        &ns,
        "bad",
        &[(AK, "AKIAFIRSTLINE\nX-Injected: 1"), (SK, "secret-key")],
    )
    .await;
    let mut op = Operator::start(&env, &ns, &[]).await;
    let pid = op.pid();
    env.apply_connection(&ns, "bad", spec_at(&env.endpoint, &bucket, "bad"))
        .await;
    let c = env
        .wait_ready(&ns, "bad", "False", Some("SecretValueInvalid"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(
        msg.contains("\"bad\"") && msg.contains(AK),
        "names Secret and key: {msg}"
    );
    assert!(
        !msg.contains("FIRSTLINE") && !msg.contains("Injected"),
        "{msg}"
    );

    // Still running, still validating everything else.
    env.apply_connection(&ns, "good", spec_at(&env.endpoint, &bucket, "creds"))
        .await;
    env.wait_ready(&ns, "good", "True", Some("Validated")).await;
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
    assert_eq!(op.pid(), pid);
    assert!(!op.log().contains("FIRSTLINE"));
}
