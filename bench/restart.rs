//! `restart`: the validation rate after a restart, against the steady
//! rate. N connections (one shared Secret, `validationInterval: 1m`, so
//! that an interval fits in the run) are validated by one operator until
//! they have been re-validated twice (the second re-validation is the
//! steady window: every connection once, one interval). Then that operator
//! stops (SIGTERM) and a fresh one starts, as after an upgrade or a leader
//! change; its validations are counted per 10-second window over one and a
//! half intervals, from the `validated:` lines of its log. Reported: the
//! steady rate (N per interval, and as measured), the peak window after the
//! restart and its ratio to the steady rate per window.

use std::time::Duration;

use serde::Serialize;
use testkit::Spec;

use crate::env::{Env, Result};
use crate::params::Params;
use crate::running::{
    LABEL, Running, SECRET, Shared, apply_until_ready, clean_connections, shared_secret,
    start_operator,
};
use crate::stats::{LogStats, round3};
use crate::watch::Tracker;

/// The part's name, its label value and namespace suffix.
const PART: &str = "restart";

/// The connections' interval: the shortest the schema allows.
const INTERVAL: Duration = Duration::from_secs(60);

/// The width of one counting window.
const WINDOW: f64 = 10.0;

/// How long the new operator is watched, in intervals.
const AFTER_INTERVALS: f64 = 1.5;

#[derive(Debug, Clone, Serialize)]
pub struct RestartReport {
    pub connections: u64,
    pub interval_s: u64,
    pub window_s: f64,
    /// N / interval, per window: the rate the fleet needs.
    pub steady_expected_per_window: f64,
    /// The second re-validation of all N by the first operator, per
    /// window: its count over its duration.
    pub steady_measured_per_window: f64,
    /// The first operator's busiest window in that re-validation: a fleet
    /// created at once re-validates at once, until a restart spreads it.
    pub steady_max_window: u64,
    /// The new operator: its validations per window from its start.
    pub after_windows: Vec<u64>,
    pub after_max_window: u64,
    /// `after_max_window` / `steady_expected_per_window`.
    pub peak_to_steady: f64,
    /// From the new operator's start until it had validated every
    /// connection once.
    pub after_all_validated_once_s: f64,
    pub after_validations: u64,
}

/// Unix seconds now.
fn unix_now() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// Counts of `times` per window from `from` until `until`.
fn windows(times: &[f64], from: f64, until: f64) -> Vec<u64> {
    let n = ((until - from) / WINDOW).ceil().max(1.0) as usize;
    let mut w = vec![0; n];
    for t in times {
        if *t >= from && *t < until {
            w[((t - from) / WINDOW) as usize] += 1;
        }
    }
    w
}

pub async fn restart(env: &Env, p: &Params, s: &Shared) -> Result<RestartReport> {
    let ns = &format!("bench-{PART}");
    env.namespace(ns).await?;
    shared_secret(env, ns, s).await?;
    let mut first = start_operator(env, p, &format!("{PART}-a"), None).await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}={PART}")).await?;
    let endpoint = first.moto.url();
    let n = p.n;
    let names: Vec<String> = (0..n).map(|i| format!("{PART}-{i:05}")).collect();
    let spec = Spec::access_key(&s.bucket, &endpoint, SECRET).interval("1m");
    apply_until_ready(env, p, &mut first, &tracker, (ns, PART), &names, &spec, 1).await?;
    // Two re-validations of all N: the first ends the start-up, the second
    // is the steady window.
    let bound = INTERVAL * 3 + p.timeout_for(n);
    let base = first.validations().await?;
    eprintln!("[bench] restart: {n} Ready; waiting for two re-validations of each");
    first
        .validated(base, n, bound, "first re-validation")
        .await?;
    let steady_from = unix_now();
    first
        .validated(base, 2 * n, bound, "second re-validation")
        .await?;
    let steady_until = unix_now();
    let log = LogStats::read(&first.op.log_path, |x| x == ns);
    let steady = windows(log.times(), steady_from, steady_until);
    let steady_count: u64 = steady.iter().sum();
    let steady_measured = steady_count as f64 / (steady_until - steady_from) * WINDOW;

    // The restart: the same relay (the connections name it), a new process.
    let Running { op, moto, .. } = first;
    op.stop(Duration::from_secs(40)).await?;
    let started = unix_now();
    let mut second = start_operator(env, p, &format!("{PART}-b"), Some(moto)).await?;
    second
        .validated(0.0, n, INTERVAL * 3, "validations after the restart")
        .await?;
    let all_once = unix_now() - started;
    let watch = Duration::from_secs_f64(INTERVAL.as_secs_f64() * AFTER_INTERVALS);
    let left = watch.saturating_sub(Duration::from_secs_f64(unix_now() - started));
    // A measurement over time (the windows), not a wait for a condition.
    tokio::time::sleep(left).await;
    second.check_alive()?;
    let log = LogStats::read(&second.op.log_path, |x| x == ns);
    let after = windows(log.times(), started, started + watch.as_secs_f64());
    let expected = n as f64 / INTERVAL.as_secs_f64() * WINDOW;
    let after_max = after.iter().copied().max().unwrap_or(0);
    let report = RestartReport {
        connections: n,
        interval_s: INTERVAL.as_secs(),
        window_s: WINDOW,
        steady_expected_per_window: round3(expected),
        steady_measured_per_window: round3(steady_measured),
        steady_max_window: steady.iter().copied().max().unwrap_or(0),
        after_validations: after.iter().sum(),
        after_max_window: after_max,
        peak_to_steady: round3(after_max as f64 / expected),
        after_windows: after,
        after_all_validated_once_s: round3(all_once),
    };
    second.op.stop(Duration::from_secs(40)).await?;
    clean_connections(env, ns).await?;
    Ok(report)
}
