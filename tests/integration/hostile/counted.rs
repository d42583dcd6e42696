//! Requests that fail are requests: a store that refuses everything, and
//! one that never answers S3 (the validation is stopped at its deadline
//! with a request in flight), each get `status.requestsPerDay` from the S3
//! requests the store itself received.

use testkit::{Operator, TestEnv, ready_of};

use super::server::{Behaviour, HostileServer};
use super::{namespace_with_keys, spec_at};
use crate::OPERATOR;

/// The S3 requests `server` received: not the STS calls (a form with an
/// `Action`).
fn s3_requests(server: &HostileServer) -> i64 {
    let n = server
        .requests()
        .iter()
        .filter(|r| !r.contains("Action="))
        .count();
    i64::try_from(n).unwrap()
}

/// Wait until connection `name` has a Ready reason other than
/// `Progressing`; its status' `requestsPerDay` and Ready reason.
async fn concluded(env: &TestEnv, ns: &str, name: &str, reason: &str) -> i64 {
    let want = reason.to_string();
    let c = testkit::await_object(
        &env.connections(ns),
        name,
        &format!("{name} concluded with {reason}"),
        testkit::TIMEOUT,
        move |c| c.and_then(ready_of).is_some_and(|r| r.reason == want),
    )
    .await
    .unwrap();
    c.status
        .and_then(|s| s.requests_per_day)
        .unwrap_or_else(|| panic!("{name}: no requestsPerDay"))
}

#[tokio::test]
async fn failed_and_unanswered_requests_are_counted() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = namespace_with_keys(&env, "counted").await;
    let refusing = HostileServer::start(Behaviour::Record).await;
    let stalling = HostileServer::start(Behaviour::StallingS3).await;
    let _op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &refusing.url,
            "--allowed-endpoint",
            &stalling.url,
            // Within one attempt's timeout (10 s) of the second attempt.
            "--validation-timeout=15s",
        ],
    )
    .await;
    for (name, server) in [("refused", &refusing), ("stalled", &stalling)] {
        env.apply_connection(&ns, name, spec_at(&server.url, "some-bucket", "creds"))
            .await;
    }

    // Every request answered 403: each one counted (a minute apart, the
    // next validation has not begun).
    let per_day = concluded(&env, &ns, "refused", "AccessDenied").await;
    let received = s3_requests(&refusing);
    assert!(received > 0);
    assert_eq!(per_day, received * 1440, "{:?}", refusing.requests());

    // HeadBucket never answered: the attempts the store received, the one
    // in flight when the deadline stopped the validation included (the
    // retry after a timeout comes seconds later).
    let per_day = concluded(&env, &ns, "stalled", "ValidationTimedOut").await;
    let received = s3_requests(&stalling);
    assert!(received >= 2, "a timed-out attempt and its retry");
    assert_eq!(per_day, received * 1440, "{:?}", stalling.requests());
}
