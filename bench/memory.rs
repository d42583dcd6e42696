//! `memory`: 10,000 connections naming missing Secrets plus 10,000
//! unrelated Secrets and 1,000 IRSA ServiceAccounts (a tenth of the
//! connections); time to settle and RSS.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{DynamicObject, PostParams};
use kube::{Api, ResourceExt};
use serde::Serialize;
use serde_json::json;
use testkit::Spec;
use testkit::process::{Memory, memory as rss};

use crate::cpu::{CpuMeter, CpuReport};
use crate::env::{Env, Result, concurrently, delete_all};
use crate::params::Params;
use crate::running::{LABEL, clean_connections, conn_api, metrics, start_operator};
use crate::stats::{LogReport, LogStats, MetricsReport, RequestCounts, round3};
use crate::watch::{Tracker, connection_resource, key};

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub connections: u64,
    pub secrets_unrelated: u64,
    pub service_accounts: u64,
    pub secret_data_bytes_each: usize,
    pub namespaces: u64,
    pub create_concurrency: u64,
    pub create_secrets_s: f64,
    pub create_service_accounts_s: f64,
    pub create_connections_s: f64,
    pub create_total_s: f64,
    pub creates_per_s: f64,
    pub operator_start_to_ready_s: f64,
    pub operator_start_to_all_settled_s: f64,
    pub rss_at_ready: Memory,
    pub rss_at_settled: Memory,
    pub rss_10s_later: Memory,
    pub metrics_at_settled: MetricsReport,
    pub metrics_10s_later: MetricsReport,
    pub moto_requests: RequestCounts,
    pub kube_requests_at_relay: RequestCounts,
    pub operator_log: LogReport,
    pub cpu_s_until_settled: CpuReport,
}

pub async fn memory(env: &Env, p: &Params) -> Result<MemoryReport> {
    let nss: Vec<String> = (0..p.memory_namespaces)
        .map(|i| format!("bench-memory-{i}"))
        .collect();
    for ns in &nss {
        env.namespace(ns).await?;
    }
    let n = p.memory_n;
    let ns_of = |i: u64| nss[(i % p.memory_namespaces) as usize].clone();
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}=memory")).await?;
    // A relay that is never used for S3 here (the Secrets do not exist), but
    // the endpoint must be allowed for the validation to get to the Secret.
    let moto = env.moto_relay().await?;
    let endpoint = moto.url();

    eprintln!(
        "[bench] creating {n} Secrets and {n} connections, {} in flight",
        p.create_concurrency
    );
    let blob = "x".repeat(1024);
    let t0 = Instant::now();
    concurrently((0..n).collect(), p.create_concurrency as usize, |i| {
        let (ns, blob) = (ns_of(i), blob.clone());
        async move {
            env.secret(&ns, &format!("unrelated-{i:05}"), &[("blob", &blob)])
                .await
        }
    })
    .await?;
    let secrets_s = t0.elapsed().as_secs_f64();
    // ServiceAccounts with an IRSA role, as a cluster with IRSA has them:
    // the operator keeps what IRSA needs of each (their metadata watch).
    let sas = p.memory_service_accounts;
    let t_sa = Instant::now();
    concurrently((0..sas).collect(), p.create_concurrency as usize, |i| {
        let ns = ns_of(i);
        async move {
            let role = format!("arn:aws:iam::123456789012:role/bench-memory-{i:05}");
            env.service_account(&ns, &format!("irsa-{i:05}"), &role)
                .await
        }
    })
    .await?;
    let sas_s = t_sa.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let ar = connection_resource();
    concurrently((0..n).collect(), p.create_concurrency as usize, |i| {
        let ns = ns_of(i);
        let spec = Spec::access_key("s3c-bench-memory", &endpoint, &format!("missing-{i:05}"));
        let mut obj = DynamicObject::new(&format!("memory-{i:05}"), &ar)
            .within(&ns)
            .data(json!({ "spec": spec }));
        obj.labels_mut()
            .insert(LABEL.to_string(), "memory".to_string());
        let api = conn_api(env, &ns);
        async move {
            api.create(&PostParams::default(), &obj)
                .await
                .map_err(|e| format!("create S3Connection {}: {e}", obj.name_any()))?;
            Ok(())
        }
    })
    .await?;
    let conns_s = t1.elapsed().as_secs_f64();
    eprintln!(
        "[bench] created {n} Secrets in {secrets_s:.1}s, {sas} ServiceAccounts in {sas_s:.1}s and {n} connections in {conns_s:.1}s"
    );

    let mut run = start_operator(env, p, "memory", Some(moto)).await?;
    let started = run.op.started;
    let rss_at_ready = rss(run.op.pid()).unwrap_or_default();
    let keys: Vec<String> = (0..n)
        .map(|i| key(&ns_of(i), &format!("memory-{i:05}")))
        .collect();
    let cpu = CpuMeter::start(env, Some(run.op.pid()));
    let last = tracker
        .wait_all(
            "memory",
            &keys,
            None,
            started,
            p.timeout_for(n),
            &mut || run.check_alive(),
        )
        .await?;
    let settle_s = (last - started).as_secs_f64();
    let cpu_s_until_settled = cpu.read();
    run.check_alive()?;
    let rss_at_settled = rss(run.op.pid()).unwrap_or_default();
    let metrics_settled = metrics(&run.op).await?;
    // BENCH_MEMORY_HOLD (s, default 10): how long the operator is left alone
    // before the second reading (a measurement over time, not a wait for
    // anything; longer to attach a profiler or a debugger to the operator).
    let hold = std::env::var("BENCH_MEMORY_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let rss_10s_later = rss(run.op.pid()).unwrap_or_default();
    let m = metrics(&run.op).await?;
    let ns_set: HashSet<&str> = nss.iter().map(|s| s.as_str()).collect();
    let log = LogStats::read(&run.op.log_path, |x| ns_set.contains(x));
    let report = MemoryReport {
        connections: n,
        secrets_unrelated: n,
        service_accounts: sas,
        secret_data_bytes_each: blob.len(),
        namespaces: p.memory_namespaces,
        create_concurrency: p.create_concurrency,
        create_secrets_s: round3(secrets_s),
        create_service_accounts_s: round3(sas_s),
        create_connections_s: round3(conns_s),
        create_total_s: round3(secrets_s + sas_s + conns_s),
        creates_per_s: round3((2 * n + sas) as f64 / (secrets_s + sas_s + conns_s)),
        operator_start_to_ready_s: round3(run.ready_after.as_secs_f64()),
        operator_start_to_all_settled_s: round3(settle_s),
        rss_at_ready,
        rss_at_settled,
        rss_10s_later,
        metrics_at_settled: MetricsReport::of(&metrics_settled, n as f64),
        metrics_10s_later: MetricsReport::of(&m, n as f64),
        moto_requests: RequestCounts::of(&run.moto.counts(), None, None),
        kube_requests_at_relay: RequestCounts::of(
            &run.kube_counts(),
            Some(("connection", n as f64)),
            None,
        ),
        operator_log: log.report(),
        cpu_s_until_settled,
    };
    run.op.stop(Duration::from_secs(40)).await?;
    // What was measured stands even if the clean-up fails (deleting
    // 100,000 objects can outlast the API server's request timeout).
    for ns in &nss {
        let cleaned = async {
            clean_connections(env, ns).await?;
            delete_all(&Api::<Secret>::namespaced(env.kube.clone(), ns)).await?;
            delete_all(&Api::<ServiceAccount>::namespaced(env.kube.clone(), ns)).await
        };
        if let Err(e) = cleaned.await {
            eprintln!("[bench] memory: cleaning {ns} failed: {e}");
        }
    }
    Ok(report)
}
