//! `cost`: what validating connections costs with the default settings, as
//! the endpoint counts it. N connections (the five permissions, the default
//! 10-minute interval, one shared Secret) in a namespace of their own: the
//! moto relay counts each validation's requests by operation, and the S3
//! ones go into the classes S3 bills them in (the operator's own mapping,
//! `cost::Class`). Then the unchanged re-validation of all N (round.rs),
//! counted the same way: a validation once the caches are warm, as every
//! later one is. Reported: requests per validation by operation and by
//! class, S3 requests per connection-day at the default interval, dollars a
//! month at the default prices for 1, 1,000 and 10,000 connections; beside
//! them what the operator itself says (the sum of `status.requestsPerDay`,
//! /metrics' `s3connection_all_requests_per_day` and
//! `_all_estimated_monthly_cost_dollars`) and the status writes of the
//! re-validation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use s3_connection_operator::cost::{Class, DAYS_PER_MONTH, Prices, Service};
use serde::Serialize;
use strum::IntoEnumIterator;
use testkit::Spec;
use testkit::counting::Counts;

use crate::env::{Env, Result, bail, concurrently};
use crate::params::Params;
use crate::round::revalidate_unchanged;
use crate::running::{
    LABEL, SECRET, Shared, apply, clean_connections, conn_api, metrics, shared_secret,
    start_operator,
};
use crate::stats::{LogStats, round3};
use crate::watch::{Tracker, key};

/// The part's name, its label value and namespace suffix.
const PART: &str = "cost";

/// The connections' interval: the operator's default.
const INTERVAL: Duration = Duration::from_secs(600);

/// The fleet sizes the monthly cost is given for.
const FLEETS: [u64; 3] = [1, 1_000, 10_000];

/// What one validation sent, on average, as the relay counted it.
#[derive(Debug, Clone, Serialize)]
pub struct PerValidation {
    pub validations: u64,
    /// Requests by operation (S3 operations, STS and IAM actions).
    pub by_operation: BTreeMap<String, f64>,
    /// S3 requests by class: `tier1`, `tier2`, `free`.
    pub s3_by_class: BTreeMap<&'static str, f64>,
    pub s3: f64,
    /// STS and IAM calls (free).
    pub sts_iam: f64,
}

impl PerValidation {
    fn of(c: &Counts, validations: u64) -> PerValidation {
        let per = |n: u64| round3(n as f64 / validations.max(1) as f64);
        let mut s3_by_class: BTreeMap<&'static str, u64> =
            Class::iter().map(|c| (c.as_str(), 0)).collect();
        for (op, n) in c.s3_ops() {
            *s3_by_class
                .entry(Class::of(Service::S3, op).as_str())
                .or_default() += n;
        }
        let s3 = c.s3_requests();
        let sts_iam: u64 = c.actions.iter().map(|a| c.op(a)).sum();
        PerValidation {
            validations,
            by_operation: c
                .ops
                .iter()
                .filter(|(op, _)| op.as_str() != "moto-api")
                .map(|(op, o)| (op.clone(), per(o.count)))
                .collect(),
            s3_by_class: s3_by_class.into_iter().map(|(k, n)| (k, per(n))).collect(),
            s3: per(s3),
            sts_iam: per(sts_iam),
        }
    }

    /// Dollars a month of one connection's validations at `prices`.
    fn monthly_dollars(&self, prices: &Prices) -> f64 {
        let per_day = Duration::from_secs(86_400).as_secs_f64() / INTERVAL.as_secs_f64();
        Class::iter()
            .map(|c| {
                self.s3_by_class.get(c.as_str()).copied().unwrap_or(0.0)
                    * per_day
                    * prices.per_thousand(c)
                    / 1000.0
            })
            .sum::<f64>()
            * DAYS_PER_MONTH as f64
    }
}

/// What the operator itself reports for the N connections.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorSays {
    /// The sum of `status.requestsPerDay`, per connection.
    pub status_requests_per_day_per_connection: f64,
    /// `s3connection_all_requests_per_day{class}`.
    pub all_requests_per_day: BTreeMap<String, f64>,
    /// `s3connection_all_estimated_monthly_cost_dollars`.
    pub all_estimated_monthly_cost_dollars: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub connections: u64,
    pub interval_s: u64,
    /// The default prices, dollars per 1,000 requests by class.
    pub prices_per_thousand: BTreeMap<&'static str, f64>,
    /// The first validation of each connection.
    pub first_validation: PerValidation,
    /// The unchanged re-validation: every later validation.
    pub steady_validation: PerValidation,
    /// Steady S3 requests per connection and day at the interval.
    pub s3_requests_per_connection_day: f64,
    /// Dollars a month at the default prices, by number of connections.
    pub monthly_dollars: BTreeMap<u64, f64>,
    /// After the first validations.
    pub operator_says: OperatorSays,
    /// Status writes per connection in the unchanged re-validation.
    pub revalidation_status_writes_per_connection: f64,
}

pub async fn cost(env: &Env, p: &Params, s: &Shared) -> Result<CostReport> {
    let ns = &format!("bench-{PART}");
    env.namespace(ns).await?;
    shared_secret(env, ns, s).await?;
    let mut run = start_operator(env, p, PART, None).await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}={PART}")).await?;
    let api = conn_api(env, ns);
    let endpoint = run.moto.url();
    let names: Vec<String> = (0..p.n).map(|i| format!("cost-{i:05}")).collect();
    let keys: Vec<String> = names.iter().map(|n| key(ns, n)).collect();

    let before = run.moto.counts();
    let t0 = Instant::now();
    concurrently(names.clone(), p.create_concurrency as usize, |name| {
        let (api, spec) = (api.clone(), Spec::access_key(&s.bucket, &endpoint, SECRET));
        async move { apply(&api, &name, PART, spec).await }
    })
    .await?;
    tracker
        .wait_all(PART, &keys, Some(1), t0, p.timeout_for(p.n), &mut || {
            run.check_alive()
        })
        .await?;
    run.quiesce(Duration::from_secs(2), Duration::from_secs(30))
        .await;
    let first = run.moto.counts().since(&before);
    let log = LogStats::read(&run.op.log_path, |n| n == ns);
    let first = PerValidation::of(&first, log.validations());

    // What the operator says of them.
    let objs = api.list(&Default::default()).await?;
    let status_sum: f64 = objs
        .items
        .iter()
        .filter_map(|o| o.data["status"]["requestsPerDay"].as_f64())
        .sum();
    let m = metrics(&run.op).await?;
    let operator_says = OperatorSays {
        status_requests_per_day_per_connection: round3(status_sum / p.n as f64),
        all_requests_per_day: m
            .family("s3connection_all_requests_per_day")
            .into_iter()
            .collect(),
        all_estimated_monthly_cost_dollars: m
            .get("s3connection_all_estimated_monthly_cost_dollars"),
    };

    let before = run.moto.counts();
    let unchanged = revalidate_unchanged(env, &mut run, ns, p).await?;
    let steady = run.moto.counts().since(&before);
    let steady = PerValidation::of(&steady, unchanged.connections);
    if steady.s3 == 0.0 {
        bail!(
            "the re-validation sent no S3 request: {:?}",
            steady.by_operation
        );
    }

    let prices = Prices::default();
    let one = steady.monthly_dollars(&prices);
    let report = CostReport {
        connections: p.n,
        interval_s: INTERVAL.as_secs(),
        prices_per_thousand: Class::iter()
            .map(|c| (c.as_str(), prices.per_thousand(c)))
            .collect(),
        s3_requests_per_connection_day: round3(steady.s3 * 86_400.0 / INTERVAL.as_secs_f64()),
        monthly_dollars: FLEETS
            .into_iter()
            .map(|n| (n, (one * n as f64 * 1e6).round() / 1e6))
            .collect(),
        first_validation: first,
        steady_validation: steady,
        operator_says,
        revalidation_status_writes_per_connection: unchanged.metrics.status_writes_per_connection,
    };
    run.op.stop(Duration::from_secs(40)).await?;
    clean_connections(env, ns).await?;
    Ok(report)
}
