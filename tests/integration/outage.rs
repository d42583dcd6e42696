//! The S3 endpoint goes away and comes back: Ready turns Unknown, and back to
//! True without restarting the operator.
//!
//! The operator reaches S3 through a TCP relay owned by the test; stopping
//! the relay makes the endpoint unreachable exactly as a stopped server
//! would (connection refused), while the S3 server keeps its buckets and
//! users for the return.

use testkit::{ALL, Operator, Relay, Setup, TestEnv};

use crate::OPERATOR;

#[tokio::test]
async fn endpoint_outage_is_unknown_then_recovers_without_restart() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("outage", "", &ALL).await;

    let target = env
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut relay = Relay::start(&target).await;
    let addr = relay.addr;

    let relay_url = format!("http://{addr}");
    let mut op = Operator::start(&env, &ns, &["--allowed-endpoint", &relay_url]).await;
    let pid = op.pid();
    // S3 through the relay; STS and IAM directly (AWS_ENDPOINT_URL).
    let spec = |interval: &str| {
        env.access_key_spec(&bucket, "creds")
            .at(&relay_url)
            .interval(interval)
    };
    env.apply_connection(&ns, "flaky", spec("1m")).await;
    env.wait_ready(&ns, "flaky", "True", Some("Validated"))
        .await;

    // Stop the endpoint; make the operator look again by touching the spec.
    relay.stop().await;
    env.apply_connection(&ns, "flaky", spec("2m")).await;
    let c = env
        .wait_ready(&ns, "flaky", "Unknown", Some("EndpointUnreachable"))
        .await;
    let failed = testkit::condition(&c, "Failed");
    assert_eq!(failed.status, "Unknown");
    // What was proved before stays visible.
    assert!(!c.status.unwrap().permissions.is_empty());

    // Bring it back on the same address: the operator's backoff retries
    // find it without a restart.
    relay.resume().await;
    env.wait_ready_within(
        &ns,
        "flaky",
        "True",
        Some("Validated"),
        std::time::Duration::from_secs(90),
    )
    .await;
    assert!(op.try_wait().is_none(), "operator still running");
    assert_eq!(op.pid(), pid);
}
