//! An allowed endpoint that runs a hostile STS: credentials for 200
//! distinct roles, each claiming to expire in year 9999, a quarter of them
//! with 512 KiB session tokens. The oversized ones are refused with a clear
//! reason, the cache stays within its bound (and says so on /metrics), and
//! the operator's memory stays near its baseline.

use std::time::Duration;

use kube::api::ListParams;
use testkit::metrics::{Metrics, metrics};
use testkit::process::memory;
use testkit::{Operator, Spec, TestEnv, condition, ready_of};

use super::server::{Behaviour, HostileServer};
use super::sts::{BIG, BIG_TOKEN, FIT_TOKEN};
use crate::OPERATOR;

const ROLES: usize = 200;
/// The first this many connections use the operator's own identity
/// (AssumeRole); the rest IRSA (AssumeRoleWithWebIdentity at the endpoint).
const OPERATOR_ROLES: usize = 150;
const CACHE_MIB: usize = 1;

fn role_name(i: usize) -> String {
    if i.is_multiple_of(4) {
        format!("{BIG}{i}")
    } else {
        format!("fit-{i}")
    }
}

#[tokio::test]
async fn a_hostile_sts_cannot_grow_the_credential_cache() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("hostile-sts").await;
    let sts = HostileServer::start(Behaviour::Sts).await;
    // IRSA to a store: a token audience of its own (never one AWS accepts)
    // for this endpoint, so the web identity exchange happens at the store.
    env.service_account(
        &ns,
        "tenant",
        &[("s3connection.dev/audience", "hostile-sts.example")],
    )
    .await;
    let mib = CACHE_MIB.to_string();
    let mut op = Operator::start_with(
        &env,
        Some(&ns),
        &[
            "--allowed-endpoint",
            &sts.url,
            "--allow-operator-identity",
            "--cluster-name",
            "hostile-test",
            "--credential-cache-mib",
            &mib,
        ],
        &[
            ("KUBECONFIG", env.kubeconfig.as_str()),
            ("AWS_ENDPOINT_URL_STS", sts.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "AKIAOPERATORIDENTITY"),
            ("AWS_SECRET_ACCESS_KEY", "operator-identity-secret"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .await;
    let baseline = memory(op.pid()).expect("the operator's /proc status");

    for i in 0..ROLES {
        let arn = format!("arn:aws:iam::123456789012:role/{}", role_name(i));
        let sa = (i >= OPERATOR_ROLES).then_some("tenant");
        let spec = Spec::iam_role("some-bucket", &sts.url, Some(&arn), sa).interval("1h");
        env.apply_connection(&ns, &format!("c{i}"), spec).await;
    }

    // Every connection concludes (not just "validating").
    let api = env.connections(&ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let conns = loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let concluded = list
            .iter()
            .filter(|c| ready_of(c).is_some_and(|r| r.reason != "Progressing"))
            .count();
        if concluded == ROLES {
            break list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{concluded} of {ROLES} concluded; log:\n{}",
            op.tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());

    let token = "T".repeat(64);
    for c in &conns {
        let name = c.metadata.name.clone().unwrap_or_default();
        let i: usize = name[1..].parse().unwrap();
        let ready = condition(c, "Ready");
        assert_ne!(ready.status, "True", "{name}");
        assert!(!ready.message.contains(&token), "the token leaked: {name}");
        if role_name(i).starts_with(BIG) {
            assert_eq!(
                ready.reason, "AssumeRoleFailed",
                "{name}: {}",
                ready.message
            );
            assert!(
                ready.message.contains("session token") && ready.message.contains("8192"),
                "{name}: {}",
                ready.message
            );
            assert!(!ready.message.contains(&BIG_TOKEN.to_string()));
        } else {
            assert_ne!(
                ready.reason, "AssumeRoleFailed",
                "{name}: {}",
                ready.message
            );
        }
    }
    let requests = sts.requests();
    let asked = |action: &str| {
        let action = format!("Action={action}&");
        requests.iter().filter(|r| r.contains(&action)).count()
    };
    let (own, web) = (asked("AssumeRole"), asked("AssumeRoleWithWebIdentity"));
    assert!(own >= OPERATOR_ROLES, "each role was assumed: {own}");
    assert!(
        web >= ROLES - OPERATOR_ROLES,
        "each web identity exchanged: {web}"
    );

    // The cache holds what fits its bound, the least recently used gone.
    let m = Metrics::parse(&metrics(&op).await);
    let entries = m.get("s3connection_credential_cache_entries");
    let bytes = m.get("s3connection_credential_cache_bytes");
    let bound = (CACHE_MIB << 20) as f64;
    let fit = (0..ROLES)
        .filter(|i| !role_name(*i).starts_with(BIG))
        .count();
    eprintln!(
        "credential cache: {entries} sessions, {bytes} bytes (bound {bound}) of {fit} issued"
    );
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert!(
        bytes > bound - 2.0 * FIT_TOKEN as f64,
        "the bound is reached: {bytes}"
    );
    assert!(entries > 0.0 && entries < fit as f64, "{entries} of {fit}");

    let after = memory(op.pid()).expect("the operator's /proc status");
    let grew = (after.vm_hwm_kib.saturating_sub(baseline.vm_rss_kib)) as f64 / 1024.0;
    eprintln!(
        "RSS baseline {:.1} MiB, peak {:.1} MiB, now {:.1} MiB",
        baseline.vm_rss_kib as f64 / 1024.0,
        after.vm_hwm_kib as f64 / 1024.0,
        after.vm_rss_kib as f64 / 1024.0
    );
    // 50 answers of 512 KiB were read and refused; 150 sessions of 8 KB
    // were issued, of which the cache kept what fits in its MiB.
    assert!(grew < 64.0, "peak RSS grew {grew:.1} MiB over the baseline");
}
