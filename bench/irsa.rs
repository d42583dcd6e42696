//! `irsa`: M connections through 10 IRSA ServiceAccounts; STS
//! AssumeRoleWithWebIdentity calls per ServiceAccount/role, after a first
//! validation and after a spec change re-validates all of them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use testkit::Spec;
use testkit::metrics::Metrics;
use testkit::process::{Memory, memory};

use crate::env::{Env, Result, concurrently};
use crate::params::Params;
use crate::running::{
    LABEL, Running, Shared, apply, clean_connections, conn_api, metrics, start_operator,
};
use crate::stats::{
    EventsReport, LogReport, LogStats, MetricsReport, Ordered, RequestCounts, round3,
};
use crate::watch::{Tracker, key};
use testkit::counting::Counts;

/// One ServiceAccount and its role.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub connections: usize,
    pub assume_role_with_web_identity: u64,
    pub token_requests: u64,
}

/// One round: every connection applied, all Ready, the operator quiet.
#[derive(Debug, Clone, Serialize)]
pub struct IrsaRound {
    pub seconds: f64,
    pub assume_role_with_web_identity: u64,
    pub assume_role_with_web_identity_per_connection: f64,
    pub assume_role_with_web_identity_per_service_account: f64,
    pub token_requests: u64,
    /// `<sa> -> <role>` → what that pair cost.
    pub by_service_account_role: Ordered<Pair>,
    pub moto_requests: RequestCounts,
    pub kube_requests_at_relay: RequestCounts,
    pub metrics: MetricsReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct IrsaReport {
    pub connections: u64,
    pub service_accounts: u64,
    pub round1_first_validation: IrsaRound,
    pub round2_after_spec_change: IrsaRound,
    pub events: EventsReport,
    pub operator_log: LogReport,
    pub rss: Memory,
}

fn sa_index(sa: &str) -> u64 {
    sa.trim_start_matches("sa-").parse().unwrap_or(u64::MAX)
}

pub async fn irsa(env: &Env, p: &Params, s: &Shared) -> Result<IrsaReport> {
    let ns = "bench-irsa";
    let m = p.irsa_m.max(1);
    let sas = p.irsa_service_accounts.min(m);
    env.namespace(ns).await?;
    let mut role_of_sa = BTreeMap::new();
    for k in 0..sas {
        let sa = format!("sa-{k}");
        let role = env
            .irsa_role(
                &format!("s3c-bench-{}-irsa-{k}", p.run_id),
                ns,
                &sa,
                &s.bucket,
            )
            .await?;
        env.service_account(ns, &sa, &role).await?;
        role_of_sa.insert(sa, role);
    }
    let mut run = start_operator(env, p, "irsa", None).await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}=irsa")).await?;
    let api = conn_api(env, ns);
    let endpoint = run.moto.url();
    let names: Vec<String> = (0..m).map(|i| format!("irsa-{i:04}")).collect();
    let keys: Vec<String> = names.iter().map(|n| key(ns, n)).collect();
    let spec = |i: usize, interval: Option<&str>| {
        let sa = format!("sa-{}", i as u64 % sas);
        let spec = Spec::iam_role(&s.bucket, &endpoint, None, Some(&sa));
        match interval {
            Some(iv) => spec.interval(iv),
            None => spec,
        }
    };

    // Apply every spec (with `interval`), wait until all are Ready for
    // `generation`, let the operator go quiet: how long it took.
    let round_trip =
        async |run: &mut Running, interval: Option<&str>, generation: i64| -> Result<f64> {
            let t0 = Instant::now();
            concurrently(
                names.iter().cloned().enumerate().collect(),
                p.create_concurrency as usize,
                |(i, name)| {
                    let (api, spec) = (api.clone(), spec(i, interval));
                    async move { apply(&api, &name, "irsa", spec).await }
                },
            )
            .await?;
            let last = tracker
                .wait_all(
                    &format!("irsa round {generation}"),
                    &keys,
                    Some(generation),
                    t0,
                    p.timeout_for(m),
                    &mut || run.check_alive(),
                )
                .await?;
            run.quiesce(Duration::from_secs(2), Duration::from_secs(30))
                .await;
            Ok((last - t0).as_secs_f64())
        };
    let moto0 = run.moto.counts();
    let kube0 = run.kube_counts();
    let metrics0 = metrics(&run.op).await?;
    let round1_s = round_trip(&mut run, None, 1).await?;
    let moto1 = run.moto.counts();
    let kube1 = run.kube_counts();
    let metrics1 = metrics(&run.op).await?;
    // Round 2: a spec change (validationInterval) re-validates every one.
    let round2_s = round_trip(&mut run, Some("11m"), 2).await?;
    let moto2 = run.moto.counts();
    let kube2 = run.kube_counts();
    let metrics2 = metrics(&run.op).await?;
    run.check_alive()?;
    let log = LogStats::read(&run.op.log_path, |n| n == ns);

    let round = |moto: Counts, kube: Counts, metrics: Metrics, secs: f64| {
        let mut pairs = vec![];
        for (sa, role) in &role_of_sa {
            let count = |c: &Counts, tag: String| c.tags.get(&tag).copied().unwrap_or(0);
            let pair = Pair {
                connections: (0..m).filter(|i| i % sas == sa_index(sa)).count(),
                assume_role_with_web_identity: count(
                    &moto,
                    format!("AssumeRoleWithWebIdentity {role}"),
                ),
                token_requests: count(&kube, format!("token {ns}/{sa}")),
            };
            pairs.push((format!("{sa} -> {role}"), pair));
        }
        let sts_total = moto.op("AssumeRoleWithWebIdentity");
        IrsaRound {
            seconds: round3(secs),
            assume_role_with_web_identity: sts_total,
            assume_role_with_web_identity_per_connection: round3(sts_total as f64 / m as f64),
            assume_role_with_web_identity_per_service_account: round3(
                sts_total as f64 / sas as f64,
            ),
            token_requests: kube.op("CREATE serviceaccounts/token"),
            by_service_account_role: Ordered(pairs),
            moto_requests: RequestCounts::of(&moto, Some(("connection", m as f64)), Some(secs)),
            kube_requests_at_relay: RequestCounts::of(
                &kube,
                Some(("connection", m as f64)),
                Some(secs),
            ),
            metrics: MetricsReport::of(&metrics, m as f64),
        }
    };
    let report = IrsaReport {
        connections: m,
        service_accounts: sas,
        round1_first_validation: round(
            moto1.since(&moto0),
            kube1.since(&kube0),
            metrics1.since(&metrics0),
            round1_s,
        ),
        round2_after_spec_change: round(
            moto2.since(&moto1),
            kube2.since(&kube1),
            metrics2.since(&metrics1),
            round2_s,
        ),
        events: EventsReport::of(env, ns, m).await?,
        operator_log: log.report(),
        rss: memory(run.op.pid()).unwrap_or_default(),
    };
    run.op.stop(Duration::from_secs(40)).await?;
    clean_connections(env, ns).await?;
    Ok(report)
}
