//! `cost`: what validating connections costs with the default settings, as
//! the endpoint counts it. N connections (the five permissions, the default
//! 10-minute interval, one shared Secret) in a namespace of their own: the
//! moto relay counts each validation's requests by operation, and the S3
//! ones go into the classes S3 bills them in (the operator's own mapping,
//! `cost::Class`). Then the unchanged re-validation of all N (round.rs),
//! counted the same way: a validation once the caches are warm, as every
//! later full validation is. Then the light checks: a fresh operator, the
//! connections set to `validationInterval: 1m` (so that a few intervals fit
//! in the run) and its `--daily-request-budget` chosen so that one light
//! check in `k` simulates the policy, `k` as at the default settings;
//! three rounds of light checks, counted the same way. Reported: requests
//! per validation by operation and by class (first, full, light), requests
//! per connection-day at the default settings (one full validation a day,
//! the other 143 light), dollars a month at the default prices for 1,
//! 1,000 and 10,000 connections; beside them what the operator itself says
//! (the sum of `status.requestsPerDay`, /metrics'
//! `s3connection_all_requests_per_day` and
//! `_all_estimated_monthly_cost_dollars`) and the status writes of the
//! full re-validation.

use std::collections::BTreeMap;
use std::time::Duration;

use s3_connection_operator::cost::{Class, DAYS_PER_MONTH, Prices, Service, validations_per_day};
use s3_connection_operator::crd::rules::DEFAULT_FULL_INTERVAL;
use s3_connection_operator::reconcile::proofs::{DAILY_REQUESTS, simulate_every};
use serde::Serialize;
use strum::IntoEnumIterator;
use testkit::Spec;
use testkit::counting::Counts;

use crate::env::{Env, Result, bail};
use crate::params::Params;
use crate::round::revalidate_unchanged;
use crate::running::{
    LABEL, Running, SECRET, Shared, apply_until_ready, clean_connections, conn_api, metrics,
    shared_secret, start_operator, start_operator_with,
};
use crate::stats::{LogStats, round3};
use crate::watch::Tracker;

/// The part's name, its label value and namespace suffix.
const PART: &str = "cost";

/// The connections' interval: the operator's default.
const INTERVAL: Duration = Duration::from_secs(600);

/// The interval of the light-check rounds: the shortest the schema allows.
const LIGHT_INTERVAL: Duration = Duration::from_secs(60);

/// Rounds of light checks counted.
const LIGHT_ROUNDS: u64 = 3;

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

    fn total(&self) -> f64 {
        self.s3 + self.sts_iam
    }
}

/// One connection's requests a day at the default settings: `fulls` full
/// validations and `lights` light checks, each as measured.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub full_validations: f64,
    pub light_checks: f64,
    /// S3 requests by class.
    pub s3_by_class: BTreeMap<&'static str, f64>,
    pub s3: f64,
    /// S3, STS and IAM together.
    pub all: f64,
}

impl Day {
    fn of(full: &PerValidation, light: &PerValidation) -> Day {
        let fulls = validations_per_day(DEFAULT_FULL_INTERVAL);
        let lights = validations_per_day(INTERVAL) - fulls;
        let s3_by_class = Class::iter()
            .map(|c| {
                let of = |v: &PerValidation| v.s3_by_class.get(c.as_str()).copied().unwrap_or(0.0);
                (c.as_str(), round3(of(full) * fulls + of(light) * lights))
            })
            .collect();
        Day {
            full_validations: round3(fulls),
            light_checks: round3(lights),
            s3_by_class,
            s3: round3(full.s3 * fulls + light.s3 * lights),
            all: round3(full.total() * fulls + light.total() * lights),
        }
    }

    /// Dollars a month of one connection at `prices`.
    fn monthly_dollars(&self, prices: &Prices) -> f64 {
        Class::iter()
            .map(|c| {
                self.s3_by_class.get(c.as_str()).copied().unwrap_or(0.0) * prices.per_thousand(c)
                    / 1000.0
            })
            .sum::<f64>()
            * DAYS_PER_MONTH as f64
    }
}

/// The smallest `--daily-request-budget` with which connections validated
/// every [`LIGHT_INTERVAL`] simulate the policy on the same share of light
/// checks as at the default interval and budget.
fn light_budget() -> Result<u32> {
    let k = simulate_every(INTERVAL, DEFAULT_FULL_INTERVAL, DAILY_REQUESTS);
    (DAILY_REQUESTS..100_000)
        .find(|b| simulate_every(LIGHT_INTERVAL, DEFAULT_FULL_INTERVAL, *b) == k)
        .ok_or_else(|| format!("no budget simulates every {k:?} light checks").into())
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
    /// The unchanged re-validation with the Secret touched: a full one,
    /// as once a day (or when something changed).
    pub full_revalidation: PerValidation,
    /// Light checks ([`LIGHT_ROUNDS`] of each connection).
    pub light_check: PerValidation,
    /// The `--daily-request-budget` of the light rounds.
    pub light_budget: u32,
    /// One connection's requests a day at the default settings.
    pub per_connection_day: Day,
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

    let before = run.moto.counts();
    let spec = Spec::access_key(&s.bucket, &endpoint, SECRET);
    apply_until_ready(env, p, &mut run, &tracker, (ns, PART), &names, &spec, 1).await?;
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

    // Light checks: a fresh operator whose budget simulates as often as
    // the defaults do, the connections at the shortest interval.
    let budget = light_budget()?;
    let Running { op, moto, .. } = run;
    op.stop(Duration::from_secs(40)).await?;
    let mut run = start_operator_with(
        env,
        p,
        &format!("{PART}-light"),
        Some(moto),
        &["--daily-request-budget", &budget.to_string()],
    )
    .await?;
    let spec = Spec::access_key(&s.bucket, &endpoint, SECRET).interval("1m");
    apply_until_ready(env, p, &mut run, &tracker, (ns, PART), &names, &spec, 2).await?;
    let base = run.validations().await?;
    let before = run.moto.counts();
    let bound = LIGHT_INTERVAL * (LIGHT_ROUNDS as u32 + 2) + p.timeout_for(p.n);
    run.validated(base, LIGHT_ROUNDS * p.n, bound, "light checks")
        .await?;
    run.quiesce(Duration::from_secs(2), Duration::from_secs(30))
        .await;
    let validations = (run.validations().await? - base) as u64;
    let light = PerValidation::of(&run.moto.counts().since(&before), validations);
    if light.s3 >= steady.s3 {
        bail!(
            "the light checks sent as many S3 requests as full validations: {:?}",
            light.by_operation
        );
    }

    let prices = Prices::default();
    let day = Day::of(&steady, &light);
    let one = day.monthly_dollars(&prices);
    let report = CostReport {
        connections: p.n,
        interval_s: INTERVAL.as_secs(),
        prices_per_thousand: Class::iter()
            .map(|c| (c.as_str(), prices.per_thousand(c)))
            .collect(),
        monthly_dollars: FLEETS
            .into_iter()
            .map(|n| (n, (one * n as f64 * 1e6).round() / 1e6))
            .collect(),
        first_validation: first,
        full_revalidation: steady,
        light_check: light,
        light_budget: budget,
        per_connection_day: day,
        operator_says,
        revalidation_status_writes_per_connection: unchanged.metrics.status_writes_per_connection,
    };
    run.op.stop(Duration::from_secs(40)).await?;
    clean_connections(env, ns).await?;
    Ok(report)
}
