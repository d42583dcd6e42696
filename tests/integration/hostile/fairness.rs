//! Tenants that blind each other by holding validation slots: four
//! namespaces whose connections point at endpoints that accept and never
//! answer (each validation holds its slot until the deadline) do not keep a
//! healthy connection to another endpoint in a fifth namespace waiting for
//! that deadline. And the per-namespace line that is gone: its flag is
//! still accepted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use testkit::{ALL, Operator, Setup, TestEnv};

use super::server::{Behaviour, HostileServer};
use super::{namespace_with_keys, spec_at};
use crate::OPERATOR;

/// Tarpit namespaces, and connections in each.
const TARPIT_NAMESPACES: usize = 4;
const TARPITS_PER_NAMESPACE: usize = 10;

#[tokio::test]
async fn tarpits_in_four_namespaces_do_not_hold_a_fifth_until_their_deadline() {
    let env = TestEnv::new(OPERATOR).await;
    let mut namespaces = vec![];
    let mut holes = vec![];
    for _ in 0..TARPIT_NAMESPACES {
        namespaces.push(namespace_with_keys(&env, "tarpit").await);
        holes.push(HostileServer::start(Behaviour::Silent).await);
    }
    let Setup {
        ns: quiet, bucket, ..
    } = env.setup("healthy", "", &ALL).await;
    let watched = namespaces
        .iter()
        .chain(std::iter::once(&quiet))
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec!["--namespace".to_string(), watched];
    for hole in &holes {
        args.extend(["--allowed-endpoint".to_string(), hole.url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The defaults: 16 slots, a 60 s deadline per validation.
    let op = Operator::start_with(
        &env,
        None,
        &args,
        &[("KUBECONFIG", env.kubeconfig.as_str())],
    )
    .await;
    for (ns, hole) in namespaces.iter().zip(&holes) {
        for i in 0..TARPITS_PER_NAMESPACE {
            env.apply_connection(
                ns,
                &format!("tarpit-{i}"),
                spec_at(&hole.url, "some-bucket", "creds"),
            )
            .await;
        }
    }
    // Every slot is held by a tarpit (16 validations hang).
    let held = || {
        holes
            .iter()
            .map(|h| h.connections.load(Ordering::SeqCst))
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while held() < 16 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} tarpit validations started; log:\n{}",
            held(),
            op.tail(50)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Far within the tarpits' 60 s deadline.
    let took = super::healthy_ready_within(&env, &quiet, &bucket, Duration::from_secs(20)).await;
    eprintln!(
        "healthy connection Ready {:?} after it was created, beside {} tarpits holding {} connections",
        took,
        TARPIT_NAMESPACES * TARPITS_PER_NAMESPACE,
        held()
    );
}

/// An operator started with the removed `--namespace-concurrency` (as an
/// older Deployment does) says so in its log and validates as usual.
#[tokio::test]
async fn the_removed_namespace_concurrency_flag_is_ignored_with_a_warning() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("oldflag", "", &ALL).await;
    let op = Operator::start(&env, &ns, &["--namespace-concurrency=4"]).await;
    let warning = "--namespace-concurrency (NAMESPACE_CONCURRENCY) was removed and is ignored";
    assert!(op.log().contains(warning), "{}", op.tail(20));
    super::healthy_ready_within(&env, &ns, &bucket, Duration::from_secs(60)).await;
}
