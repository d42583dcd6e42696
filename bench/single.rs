//! `single`: apply-to-Ready of one connection at a time (p50 of 20).

use std::time::{Duration, Instant};

use serde::Serialize;
use testkit::Spec;

use crate::env::{Env, Result};
use crate::params::Params;
use crate::running::{
    LABEL, SECRET, Shared, apply, clean_connections, conn_api, shared_secret, start_operator,
};
use crate::stats::{LogReport, LogStats, Percentiles, ms, round3};
use crate::watch::{Tracker, key};

#[derive(Debug, Clone, Serialize)]
pub struct SingleReport {
    pub runs: u64,
    pub apply_to_ready_ms: Percentiles,
    pub apply_to_ready_ms_each: Vec<f64>,
    pub operator_log: LogReport,
    pub operator_ready_after_start_s: f64,
}

pub async fn single(env: &Env, p: &Params, s: &Shared) -> Result<SingleReport> {
    let ns = "bench-single";
    env.namespace(ns).await?;
    shared_secret(env, ns, s).await?;
    let mut run = start_operator(env, p, "single", None).await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}=single")).await?;
    let api = conn_api(env, ns);
    let endpoint = run.moto.url();
    let mut times = vec![];
    for i in 0..p.single_runs {
        let name = format!("single-{i}");
        let k = key(ns, &name);
        let started = Instant::now();
        let spec = Spec::access_key(&s.bucket, &endpoint, SECRET);
        apply(&api, &name, "single", spec).await?;
        let at = tracker
            .wait_all(
                "single",
                &[k],
                Some(1),
                started,
                Duration::from_secs(60),
                &mut || run.check_alive(),
            )
            .await?;
        times.push(ms(at - started));
        run.check_alive()?;
        // let the event and anything else of this one finish first
        run.quiesce(Duration::from_millis(300), Duration::from_secs(5))
            .await;
    }
    let report = SingleReport {
        runs: p.single_runs,
        apply_to_ready_ms: Percentiles::of(times.clone()),
        apply_to_ready_ms_each: times.iter().map(|t| round3(*t)).collect(),
        operator_log: LogStats::read(&run.op.log_path, |n| n == ns).report(),
        operator_ready_after_start_s: round3(run.ready_after.as_secs_f64()),
    };
    run.op.stop(Duration::from_secs(40)).await?;
    clean_connections(env, ns).await?;
    Ok(report)
}
