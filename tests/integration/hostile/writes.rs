//! What the operator writes to the API server when an endpoint answers one
//! way and then another at its owner's will: at most the budget of events
//! per connection per minute, and nothing at all for a failure that is the
//! same as the last.

use std::time::{Duration, Instant};

use s3_connection_operator::crd::S3Connection;
use s3_connection_operator::status::budget::PER_OBJECT;
use testkit::metrics::Metrics;
use testkit::{Operator, TestEnv, annotate, await_object, metrics, ready_of};

use super::server::{Behaviour, HostileServer};
use super::{namespace_with_keys, spec_at};
use crate::OPERATOR;

const REQUESTED_AT: &str = "s3connection.dev/requested-at";

/// A namespace with a Secret of well-formed keys, and an operator serving
/// it that allows `server` and stops each validation after 2 s.
async fn tenant(env: &TestEnv, server: &HostileServer) -> (String, Operator) {
    let ns = namespace_with_keys(env, "writes").await;
    let op = Operator::start(
        env,
        &ns,
        &[
            "--allowed-endpoint",
            &server.url,
            "--validation-timeout",
            "2s",
        ],
    )
    .await;
    (ns, op)
}

/// Wait until the connection's Ready is `status`, after the request
/// `handled` when one is given.
async fn wait_for(env: &TestEnv, ns: &str, name: &str, status: &str, handled: Option<&str>) {
    let (want, handled) = (status.to_string(), handled.map(str::to_string));
    let what = format!("{ns}/{name}: Ready={status} after {handled:?}");
    await_object(
        &env.connections(ns),
        name,
        &what,
        Duration::from_secs(60),
        move |c: Option<&S3Connection>| {
            let Some(c) = c else { return false };
            let seen = c
                .status
                .as_ref()
                .and_then(|s| s.last_handled_requested_at.clone());
            ready_of(c).is_some_and(|r| r.status == want) && (handled.is_none() || seen == handled)
        },
    )
    .await;
}

#[tokio::test]
async fn a_flapping_connection_has_at_most_its_budget_of_events_per_minute() {
    let env = TestEnv::new(OPERATOR).await;
    let server = HostileServer::start(Behaviour::Flapping).await;
    let (ns, op) = tenant(&env, &server).await;
    let started = Instant::now();
    env.apply_connection(&ns, "flap", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    // Denied (Ready=False), then in turn held until the deadline
    // (Ready=Unknown) and denied again, each time on request.
    wait_for(&env, &ns, "flap", "False", None).await;
    let flips = 8;
    for i in 0..flips {
        let answering = i % 2 == 1;
        server
            .answering
            .store(answering, std::sync::atomic::Ordering::SeqCst);
        let token = format!("flip-{i}");
        annotate(&env, &ns, "flap", REQUESTED_AT, &token);
        let ready = if answering { "False" } else { "Unknown" };
        wait_for(&env, &ns, "flap", ready, Some(&token)).await;
    }
    let windows = started.elapsed().as_secs() / 60 + 1;
    let events: Vec<_> = env
        .events(&ns)
        .await
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("flap"))
        .collect();
    let m = Metrics::parse(&metrics(&op).await);
    let published = m.get("s3connection_events_total{outcome=\"published\"}");
    let suppressed = m.get("s3connection_events_total{outcome=\"suppressed\"}");
    eprintln!(
        "{} changes of Ready in {:?}: {} events, {suppressed} suppressed",
        flips + 1,
        started.elapsed(),
        events.len()
    );
    // Every change of Ready came to an event or was counted as suppressed.
    assert_eq!(published + suppressed, f64::from(flips + 1), "{m:?}");
    assert_eq!(events.len() as f64, published);
    assert!(
        events.len() as u64 <= u64::from(PER_OBJECT) * windows,
        "{} events in {windows} minute(s): {events:#?}",
        events.len()
    );
}

#[tokio::test]
async fn a_failure_like_the_last_writes_no_status_and_no_event() {
    let env = TestEnv::new(OPERATOR).await;
    let server = HostileServer::start(Behaviour::Flapping).await;
    server
        .answering
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (ns, op) = tenant(&env, &server).await;
    env.apply_connection(&ns, "same", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    wait_for(&env, &ns, "same", "Unknown", None).await;
    let version = |c: S3Connection| c.metadata.resource_version;
    let before_version = version(env.connections(&ns).get("same").await.unwrap());
    let before = Metrics::parse(&metrics(&op).await);
    let timed_out = "s3connection_validations_total{result=\"ValidationTimedOut\"}";
    // The operator retries a transient failure with backoff (5 s, 10 s):
    // wait for two more validations that find the same.
    let deadline = Instant::now() + Duration::from_secs(90);
    let after = loop {
        let now = Metrics::parse(&metrics(&op).await);
        if now.get(timed_out) >= before.get(timed_out) + 2.0 {
            break now;
        }
        assert!(Instant::now() < deadline, "no retries: {}", op.tail(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let delta = after.since(&before);
    let written = "s3connection_status_patches_total{outcome=\"written\"}";
    assert_eq!(delta.get(written), 0.0, "{delta:?}");
    assert!(delta.get("s3connection_status_patches_total{outcome=\"unchanged\"}") >= 2.0);
    assert_eq!(delta.sum("s3connection_events_total"), 0.0, "{delta:?}");
    let after_version = version(env.connections(&ns).get("same").await.unwrap());
    assert_eq!(before_version, after_version, "the object was written");
}
