//! Endpoints that answer forever, never, or with garbage: the operator's
//! memory stays bounded, other namespaces are served, a validation stops at
//! its deadline, and what the endpoint said reaches status and log tamed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use testkit::process::memory;
use testkit::{ALL, Operator, Setup, TestEnv, condition};

use super::server::{Behaviour, HostileServer};
use super::spec_at;
use crate::OPERATOR;

#[tokio::test]
async fn an_endless_body_does_not_grow_the_operators_memory() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, .. } = env.setup("endless", "", &ALL).await;
    let server = HostileServer::start(Behaviour::Endless).await;
    let mut op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "flood", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    // It concludes (not just "validating"), and not with Ready=True.
    let api = env.connections(&ns);
    let concluded = kube::runtime::wait::await_condition(api, "flood", |c: Option<&_>| {
        c.and_then(testkit::ready_of)
            .is_some_and(|r| r.reason != "Progressing")
    });
    let c = tokio::time::timeout(Duration::from_secs(120), concluded)
        .await
        .expect("a status within 120s")
        .unwrap()
        .unwrap();
    assert_ne!(condition(&c, "Ready").status, "True");
    assert!(server.connections.load(Ordering::SeqCst) > 0);
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
    let peak = memory(op.pid())
        .expect("the operator's /proc status")
        .vm_hwm_kib as f64
        / 1024.0;
    eprintln!(
        "endless body: {} after {} connections, peak RSS {peak:.1} MiB",
        condition(&c, "Ready").reason,
        server.connections.load(Ordering::SeqCst)
    );
    assert!(peak < 100.0, "peak RSS {peak:.1} MiB");
}

#[tokio::test]
async fn a_silent_endpoint_does_not_starve_other_namespaces() {
    let env = TestEnv::new(OPERATOR).await;
    let noisy = env.setup("silent", "", &ALL).await.ns;
    let Setup {
        ns: quiet, bucket, ..
    } = env.setup("healthy", "", &ALL).await;
    let hole = HostileServer::start(Behaviour::Silent).await;
    let op = Operator::start_with(
        &env,
        None,
        &[
            "--namespace",
            &format!("{noisy},{quiet}"),
            "--allowed-endpoint",
            &hole.url,
        ],
        &[("KUBECONFIG", env.kubeconfig.as_str())],
    )
    .await;
    for i in 0..10 {
        env.apply_connection(
            &noisy,
            &format!("hole-{i}"),
            spec_at(&hole.url, "some-bucket", "creds"),
        )
        .await;
    }
    // The validations of the ten are running (their connections arrived).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hole.connections.load(Ordering::SeqCst) < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no validation started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Setup {
        ns: elsewhere,
        bucket: other_bucket,
        ..
    } = env.setup("unwatched", "", &ALL).await;
    env.apply_connection(
        &elsewhere,
        "x",
        spec_at(&env.endpoint, &other_bucket, "creds"),
    )
    .await;
    let took = super::healthy_ready_within(&env, &quiet, &bucket, Duration::from_secs(30)).await;
    eprintln!(
        "healthy connection Ready {:?} after it was created, beside 10 silent ones",
        took
    );
    // Only the two namespaces are watched: the third tenant's connection,
    // created before the healthy one, is not in the cache.
    let (_, metrics) = op.get("/metrics").await.unwrap();
    let cached: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("s3connection_connections{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert_eq!(cached, 11.0, "{metrics}");
}

#[tokio::test]
async fn a_validation_that_hangs_is_stopped_at_the_deadline() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, .. } = env.setup("deadline", "", &ALL).await;
    let hole = HostileServer::start(Behaviour::Silent).await;
    let _op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &hole.url,
            "--validation-timeout",
            "5s",
        ],
    )
    .await;
    env.apply_connection(&ns, "hang", spec_at(&hole.url, "some-bucket", "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "hang", "Unknown", Some("ValidationTimedOut"))
        .await;
    assert!(condition(&c, "Ready").message.contains("5s"));
}

#[tokio::test]
async fn strings_from_a_hostile_endpoint_are_tamed() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, .. } = env.setup("garbage", "", &ALL).await;
    let server = HostileServer::start(Behaviour::Garbage).await;
    let op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "g", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    let c = env.wait_ready(&ns, "g", "False", Some("WrongRegion")).await;
    let status = serde_json::to_string(&c.status).unwrap();
    for raw in ["<script>", "\u{7}", "\u{1b}", "<b>"] {
        assert!(
            !status.contains(raw),
            "{raw:?} reached the status: {status}"
        );
        assert!(!op.log().contains(raw), "{raw:?} reached the log");
    }
    assert!(
        condition(&c, "Ready").message.contains("eu-west-1"),
        "{status}"
    );
}
