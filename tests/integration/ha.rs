//! Two replicas: only the Lease holder validates; when it dies the standby
//! takes over, and a leader stopped with SIGTERM releases the Lease at once,
//! a standby takes it within moments (not when it would have expired), and
//! no probe object is left behind.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::wait::await_condition;
use testkit::{ALL, Operator, Setup, TestEnv};

use crate::OPERATOR;

/// A dead leader's Lease runs out after this many seconds.
const SHORT: &str = "6";
/// Long enough that a hand-over on release is told from one on expiry.
const LONG: u64 = 30;

async fn holder(env: &TestEnv, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(env.kube.clone(), ns)
        .get_opt("s3-connection-operator")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// When the Lease was last renewed.
async fn renewed(env: &TestEnv, ns: &str) -> jiff::Timestamp {
    Api::<Lease>::namespaced(env.kube.clone(), ns)
        .get("s3-connection-operator")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.renew_time)
        .expect("a held Lease has a renewTime")
        .0
}

/// Wait for a renewal after `last` (the holder renews every two thirds of
/// the lease duration); when it was.
async fn next_renewal(env: &TestEnv, ns: &str, last: jiff::Timestamp) -> jiff::Timestamp {
    let api: Api<Lease> = Api::namespaced(env.kube.clone(), ns);
    let cond = move |l: Option<&Lease>| {
        l.and_then(|l| l.spec.as_ref())
            .and_then(|s| s.renew_time.as_ref())
            .is_some_and(|t| t.0 > last)
    };
    let within = Duration::from_secs(LONG);
    tokio::time::timeout(within, await_condition(api, "s3-connection-operator", cond))
        .await
        .unwrap_or_else(|_| panic!("the Lease was not renewed within {within:?}"))
        .unwrap();
    renewed(env, ns).await
}

async fn wait_holder(env: &TestEnv, ns: &str, want: &str, within: Duration) {
    let api: Api<Lease> = Api::namespaced(env.kube.clone(), ns);
    let want = want.to_string();
    let cond = move |l: Option<&Lease>| {
        l.and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref())
            == Some(want.as_str())
    };
    tokio::time::timeout(within, await_condition(api, "s3-connection-operator", cond))
        .await
        .unwrap_or_else(|_| panic!("lease not held by the expected replica within {within:?}"))
        .unwrap();
}

/// Sum of `s3connection_validations_total` over all results.
async fn validations(op: &Operator) -> f64 {
    let (_, body) = op.get("/metrics").await.unwrap();
    body.lines()
        .filter(|l| l.starts_with("s3connection_validations_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

async fn leader_gauge(op: &Operator) -> String {
    let (_, body) = op.get("/metrics").await.unwrap();
    body.lines()
        .find(|l| l.starts_with("s3connection_leader "))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .unwrap_or_default()
}

async fn replica(env: &TestEnv, ns: &str, name: &str, lease_duration: &str) -> Operator {
    Operator::start_with(
        env,
        Some(ns),
        &[
            "--leader-election",
            "--lease-namespace",
            ns,
            "--lease-duration",
            lease_duration,
        ],
        &[("KUBECONFIG", env.kubeconfig.as_str()), ("POD_NAME", name)],
    )
    .await
}

#[tokio::test]
async fn one_leader_validates_and_a_standby_takes_over() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("ha", "", &ALL).await;

    let mut a = replica(&env, &ns, "replica-a", SHORT).await;
    wait_holder(&env, &ns, "replica-a", Duration::from_secs(30)).await;
    // Once it leads, replica-b writes a long lease duration into the Lease.
    let mut b = replica(&env, &ns, "replica-b", &LONG.to_string()).await;

    let spec = |interval: &str| env.access_key_spec(&bucket, "creds").interval(interval);
    env.apply_connection(&ns, "shared", spec("1m")).await;
    env.wait_ready(&ns, "shared", "True", Some("Validated"))
        .await;
    assert!(validations(&a).await >= 1.0);
    assert_eq!(validations(&b).await, 0.0, "the standby must not validate");
    assert_eq!(leader_gauge(&a).await, "1");
    assert_eq!(leader_gauge(&b).await, "0");
    assert_eq!(holder(&env, &ns).await.as_deref(), Some("replica-a"));

    // The leader dies without releasing the Lease: the standby takes over
    // once it expires, and validates the next change.
    a.kill();
    wait_holder(&env, &ns, "replica-b", Duration::from_secs(40)).await;
    env.apply_connection(&ns, "shared", spec("2m")).await;
    env.wait_ready(&ns, "shared", "True", Some("Validated"))
        .await;
    assert!(validations(&b).await >= 1.0);
    assert_eq!(leader_gauge(&b).await, "1");

    // SIGTERM: the leader finishes in-flight work, releases the Lease (its
    // holder is cleared at once, not left to expire) and exits cleanly, and
    // the standby takes the Lease before it would have expired. A standby
    // that only waited for the expiry could not take it before the renewal
    // it read at its start plus the lease duration. Renewals come every two
    // thirds of the lease: if the last is more than a third back, wait for
    // the next, so that two thirds are left for the stop and the hand-over.
    let mut last = renewed(&env, &ns).await;
    let old = jiff::Timestamp::now().duration_since(last);
    if old > jiff::SignedDuration::from_secs(LONG as i64 / 3) {
        last = next_renewal(&env, &ns, last).await;
    }
    let expiry = last + jiff::SignedDuration::from_secs(LONG as i64);
    let c = replica(&env, &ns, "replica-c", &LONG.to_string()).await;
    // It has seen the Lease held (a standby reports ready before that).
    c.wait_for_log("standing by", Duration::from_secs(10)).await;
    let stopped = Instant::now();
    let status = b.terminate();
    assert!(status.success(), "graceful exit: {status:?}\n{}", b.log());
    assert!(b.log().contains("lease released"), "{}", b.log());
    assert_ne!(
        holder(&env, &ns).await.as_deref(),
        Some("replica-b"),
        "lease released on exit"
    );
    let left = jiff::Timestamp::now().duration_until(expiry);
    let left = Duration::try_from(left).unwrap_or_default();
    wait_holder(&env, &ns, "replica-c", left).await;
    eprintln!(
        "hand-over {:?} after SIGTERM; the Lease would have expired {:?} later",
        stopped.elapsed(),
        Duration::try_from(jiff::Timestamp::now().duration_until(expiry)).unwrap_or_default()
    );
    env.apply_connection(&ns, "shared", spec("3m")).await;
    env.wait_ready(&ns, "shared", "True", Some("Validated"))
        .await;
    assert!(validations(&c).await >= 1.0);
    assert!(
        env.keys(&bucket).await.is_empty(),
        "no probe object left behind"
    );
}
