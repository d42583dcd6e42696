//! The two baselines a throughput round measures the operator against: the
//! bare client ([`bare_round`]: the same S3/STS/IAM requests, nothing
//! Kubernetes) and the Kubernetes floor ([`floor_round`]: those requests
//! plus one status write per connection, no operator).

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use testkit::Spec;

use crate::cpu::{CpuMeter, CpuReport};
use crate::env::{Env, Result, bail, concurrently};
use crate::params::Params;
use crate::round::Timed;
use crate::running::{LABEL, SECRET, Shared, apply, clean_connections, conn_api};
use crate::stats::{Percentiles, RequestCounts, ms, round3};
use crate::watch::{Tracker, key};
use crate::{bare, floor};

/// The bare client's run of a round.
#[derive(Debug, Clone, Serialize)]
pub struct BareRun {
    pub connections: u64,
    pub concurrency: u64,
    pub total_s: f64,
    pub connections_per_s: f64,
    pub per_connection_ms: Percentiles,
    pub moto_requests: RequestCounts,
    pub simulate_principal_policy_errors: u64,
    pub simulate_principal_policy_error_example: Option<String>,
    pub cpu_s: CpuReport,
}

/// The Kubernetes floor's run of a round.
#[derive(Debug, Clone, Serialize)]
pub struct FloorRun {
    pub connections: u64,
    pub first_apply_to_all_ready_s: f64,
    pub validations: u64,
    pub status_writes: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub moto_requests: RequestCounts,
    pub cpu_s: CpuReport,
}

/// The bare client's run: the same requests at the same concurrency.
pub async fn bare_round(env: &Env, p: &Params, s: &Shared) -> Result<Timed<BareRun>> {
    eprintln!(
        "[bench] bare client: {} validations at concurrency {}",
        p.n, p.concurrency
    );
    let relay = env.moto_relay().await?;
    let cpu = CpuMeter::start(env, None);
    let b = bare::run(
        &relay.url(),
        s.credentials(),
        &s.bucket,
        &p.run_id,
        p.n,
        p.concurrency,
    )
    .await;
    let cpu_s = cpu.read();
    let counts = relay.counts();
    if !b.errors.is_empty() {
        bail!(
            "bare client: {} of {} validations failed; first: {}",
            b.errors.len(),
            p.n,
            b.errors[0]
        );
    }
    let bare_s = b.total.as_secs_f64();
    let run = BareRun {
        connections: p.n,
        concurrency: p.concurrency,
        total_s: round3(bare_s),
        connections_per_s: round3(p.n as f64 / bare_s),
        per_connection_ms: Percentiles::of(b.per_connection.iter().map(|d| ms(*d)).collect()),
        moto_requests: RequestCounts::of(&counts, Some(("validation", p.n as f64)), Some(bare_s)),
        simulate_principal_policy_errors: b.simulate_errors,
        simulate_principal_policy_error_example: b.simulate_example,
        cpu_s,
    };
    Ok(Timed {
        run,
        seconds: bare_s,
    })
}

/// The Kubernetes floor's run (floor.rs): N new connections in a namespace
/// of its own, created as in the operator's run; the floor validates each
/// (the bare client's requests) and writes one status. Apply → all Ready.
pub async fn floor_round(env: &Env, p: &Params, s: &Shared, r: u64) -> Result<FloorRun> {
    let ns = format!("bench-floor-{}", r + 1);
    eprintln!(
        "[bench] floor: {} connections at concurrency {} in {ns}",
        p.n, p.concurrency
    );
    env.namespace(&ns).await?;
    let relay = env.moto_relay().await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}=floor")).await?;
    let floor = floor::Floor::start(
        env.kube.clone(),
        &ns,
        bare::Clients::new(&relay.url(), s.credentials()),
        &s.bucket,
        &format!("floor-{}-{}", p.run_id, r + 1),
        p.concurrency,
    );
    let api = conn_api(env, &ns);
    let endpoint = relay.url();
    let names: Vec<String> = (0..p.n).map(|i| format!("conn-{i:05}")).collect();
    let keys: Vec<String> = names.iter().map(|n| key(&ns, n)).collect();
    let cpu = CpuMeter::start(env, None);
    let t0 = Instant::now();
    concurrently(names, p.apply_concurrency as usize, |name| {
        let (api, spec) = (api.clone(), Spec::access_key(&s.bucket, &endpoint, SECRET));
        async move { apply(&api, &name, "floor", spec).await }
    })
    .await?;
    let last = tracker
        .wait_all("floor", &keys, Some(1), t0, p.timeout_for(p.n), &mut || {
            floor.check()
        })
        .await?;
    let total = (last - t0).as_secs_f64();
    let cpu_s = cpu.read();
    let counts = relay.counts();
    let c = &floor.counts;
    let (validations, status_writes, errors) = (
        c.validations.load(Ordering::Relaxed),
        c.status_writes.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed),
    );
    let first_error = c.first_error.lock().unwrap().clone();
    drop(floor);
    clean_connections(env, &ns).await?;
    eprintln!(
        "[bench] floor: all {} Ready {total:.3}s after the first apply",
        p.n
    );
    Ok(FloorRun {
        connections: p.n,
        first_apply_to_all_ready_s: round3(total),
        validations,
        status_writes,
        errors,
        first_error,
        moto_requests: RequestCounts::of(
            &counts,
            Some(("validation", validations.max(1) as f64)),
            Some(total),
        ),
        cpu_s,
    })
}
