//! Secrets that are not meant for credentials: a typed Secret (a registry
//! login, a TLS key) named as an access key is refused before any of its
//! values is used, and with `--require-credentials-label` so is an
//! unlabelled one; a recording endpoint never sees their values. Only labelled Secrets
//! are watched then, and labelling one brings its connection to life.

use std::sync::atomic::Ordering;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use testkit::{ALL, Operator, Setup, TestEnv, condition};

use super::server::{Behaviour, HostileServer};
use super::{AK, SK, everything_told, spec_at};
use crate::OPERATOR;

const LABEL: &str = "s3connection.dev/credentials";

/// Secret `name` of type `type_` with `data`.
async fn typed_secret(env: &TestEnv, ns: &str, name: &str, type_: &str, data: &[(&str, &str)]) {
    let secret = Secret {
        type_: Some(type_.into()),
        ..testkit::objects::secret(name, data)
    };
    Api::<Secret>::namespaced(env.kube.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create typed secret");
}

#[tokio::test]
async fn a_typed_secret_is_never_used_as_credentials() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("typed").await;
    // Printable, without spaces: usable as an access key ID if it were read.
    let login = r#"{"auths":{"registry.example":{"auth":"cmVnaXN0cnk6aHVudGVyMg=="}}}"#;
    let tls_key = "PRIVATEKEYMATERIALOFTHEINGRESS";
    typed_secret(
        &env,
        &ns,
        "registry",
        "kubernetes.io/dockerconfigjson",
        &[(".dockerconfigjson", login)],
    )
    .await;
    typed_secret(
        &env,
        &ns,
        "ingress-tls",
        "kubernetes.io/tls",
        &[("tls.crt", "CERTIFICATEOFTHEINGRESS"), ("tls.key", tls_key)],
    )
    .await;
    let server = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;

    let cases = [
        (
            "registry",
            ".dockerconfigjson",
            ".dockerconfigjson",
            "kubernetes.io/dockerconfigjson",
        ),
        ("ingress-tls", "tls.crt", "tls.key", "kubernetes.io/tls"),
    ];
    for (secret, id_key, secret_key, type_) in cases {
        let spec = spec_at(&server.url, "some-bucket", secret)
            .access_key_id_key(id_key)
            .secret_access_key_key(secret_key);
        env.apply_connection(&ns, secret, spec).await;
        let c = env
            .wait_ready(&ns, secret, "False", Some("SecretTypeNotAllowed"))
            .await;
        let msg = condition(&c, "Ready").message;
        assert!(msg.contains(type_) && msg.contains("Opaque"), "{msg}");
        assert!(
            msg.contains(&format!("{secret:?}")),
            "names the Secret: {msg}"
        );
        assert_eq!(condition(&c, "Failed").status, "True");
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        0,
        "not a single request to the endpoint"
    );
    let everything = everything_told(&env, &ns, &op).await;
    for value in ["cmVnaXN0cnk6aHVudGVyMg", tls_key] {
        assert!(!everything.contains(value), "a value leaked");
    }
}

#[tokio::test]
async fn with_the_label_required_only_labelled_secrets_are_watched_and_used() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("labelled", "", &ALL).await;
    let unlabelled_key = "AKIAUNLABELLEDSECRET0";
    env.secret(
        &ns,
        "unlabelled",
        &[(AK, unlabelled_key), (SK, "unlabelled-secret-key")],
    )
    .await;
    let server = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &server.url,
            "--require-credentials-label",
        ],
    )
    .await;

    // Unlabelled: refused, nothing sent.
    env.apply_connection(
        &ns,
        "rec",
        spec_at(&server.url, "some-bucket", "unlabelled"),
    )
    .await;
    let c = env
        .wait_ready(&ns, "rec", "False", Some("SecretLabelMissing"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(
        msg.contains("\"unlabelled\"") && msg.contains(&format!("{LABEL}=true")),
        "names the Secret and the fix: {msg}"
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);

    // A Secret labelled after its connection was refused: the labelled
    // watch sees it and the connection is validated again (its interval
    // is an hour: only the watch can have triggered it).
    let spec = spec_at(&env.endpoint, &bucket, "creds").interval("1h");
    env.apply_connection(&ns, "data", spec).await;
    env.wait_ready(&ns, "data", "False", Some("SecretLabelMissing"))
        .await;
    env.label_secret(&ns, "creds", LABEL, Some("true")).await;
    env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    // The label removed: the Secret leaves the watch, and is refused again.
    env.label_secret(&ns, "creds", LABEL, None).await;
    env.wait_ready(&ns, "data", "False", Some("SecretLabelMissing"))
        .await;

    // And a labelled Secret's values do reach the allowed endpoint (as
    // signatures): the label is what decides.
    env.label_secret(&ns, "unlabelled", LABEL, Some("true"))
        .await;
    env.wait_ready(&ns, "rec", "False", Some("AccessDenied"))
        .await;
    assert!(
        server.requests().iter().any(|r| r.contains(unlabelled_key)),
        "the labelled Secret's key ID was used"
    );
    assert!(!op.log().contains("unlabelled-secret-key"));
}
