//! `throughput`: N connections sharing one Secret and one bucket in one
//! namespace, applied at once; the Kubernetes floor and the bare client
//! doing the same S3/STS/IAM requests (round.rs), in several rounds.

use serde::Serialize;

use crate::env::{Env, Result};
use crate::params::Params;
use crate::round::{Pass, RoundReport, operator_round, throughput_round};
use crate::running::Shared;
use crate::stats::round3;

/// One timed round, in brief.
#[derive(Debug, Clone, Serialize)]
pub struct RoundSummary {
    pub round: u64,
    /// Who went first: `operator` or `bare`.
    pub first: &'static str,
    pub operator_s: f64,
    pub bare_s: f64,
    pub floor_s: Option<f64>,
    pub ratio: f64,
    pub ratio_floor_over_bare: Option<f64>,
    pub ratio_operator_over_floor: Option<f64>,
}

/// The operator pass through the counting relay, in brief.
#[derive(Debug, Clone, Serialize)]
pub struct CountedPass {
    pub connections: u64,
    pub first_apply_to_all_ready_s: f64,
    pub status_writes_per_connection: f64,
    pub events_per_connection: f64,
}

/// The first round's details, every round's times and the median ratios.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputReport {
    #[serde(flatten)]
    pub first: RoundReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_pass: Option<CountedPass>,
    pub ratio_median: Option<f64>,
    pub ratio_floor_over_bare_median: Option<f64>,
    pub ratio_operator_over_floor_median: Option<f64>,
    pub rounds: Vec<RoundSummary>,
}

/// The median of the values there are.
fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some(round3((v[n / 2 - 1] + v[n / 2]) / 2.0)),
    }
}

/// `p.rounds` rounds of the operator and the bare client, the first
/// operator-first, the next bare-first, and so on: on this machine the bare
/// client alone varies by up to 30% between runs, and whatever drifts over a
/// run (moto's state, the page cache) should not always favour one side.
pub async fn throughput(env: &Env, p: &Params, s: &Shared) -> Result<ThroughputReport> {
    // The first round after the environment starts was the slowest one for
    // the operator in every multi-round run (c16: 11.8 s, then 9.6-11.0 s),
    // whichever it was measured against: the API server and moto warm up on
    // the first connections (server-side apply's type converter for the CRD,
    // caches, heap growth). Pay that in a round that is not reported.
    //
    // The timed rounds never go through the counting relay: it runs in the
    // driver beside the moto relay that all three contenders use, and only
    // the operator's API traffic would pay for it (concurrency 16, 5
    // rounds: operator/floor 1.105-1.188 with it, 1.03 without). With
    // BENCH_KUBE_RELAY=1 the requests are counted in a separate operator
    // pass after the rounds, which also runs the unchanged re-validation.
    let counted = p.kube_relay;
    let timed = Params {
        kube_relay: false,
        ..p.clone()
    };
    if p.warmup > 0 {
        eprintln!(
            "[bench] warm-up: {} connections, operator then bare client (not reported)",
            p.warmup
        );
        let w = Params {
            n: p.warmup,
            floor: false,
            ..timed.clone()
        };
        throughput_round(env, &w, s, Pass::WarmUp).await?;
    }
    let mut first = None;
    let mut rounds = vec![];
    for r in 0..p.rounds {
        let bare_first = r % 2 == 1;
        let pass = Pass::Timed {
            r,
            bare_first,
            revalidate: r == 0 && !counted,
        };
        let v = throughput_round(env, &timed, s, pass).await?;
        eprintln!(
            "[bench] round {}: ratio {}",
            r + 1,
            v.ratio_operator_over_bare
        );
        rounds.push(RoundSummary {
            round: r + 1,
            first: if bare_first { "bare" } else { "operator" },
            operator_s: v.operator.first_apply_to_all_ready_s,
            bare_s: v.bare.total_s,
            floor_s: v.floor.as_ref().map(|f| f.first_apply_to_all_ready_s),
            ratio: v.ratio_operator_over_bare,
            ratio_floor_over_bare: v.ratio_floor_over_bare,
            ratio_operator_over_floor: v.ratio_operator_over_floor,
        });
        if r == 0 {
            first = Some(v);
        }
    }
    let mut first = first.expect("at least one round");
    let mut counted_pass = None;
    if counted {
        eprintln!(
            "[bench] counted pass: {} connections, the operator through the counting relay (not in the ratios)",
            p.n
        );
        let c = operator_round(env, p, s, Pass::Counted).await?.run;
        first.operator.kube_requests_at_relay = c.kube_requests_at_relay.clone();
        first.operator.revalidation_unchanged = c.revalidation_unchanged.clone();
        counted_pass = Some(CountedPass {
            connections: p.n,
            first_apply_to_all_ready_s: c.first_apply_to_all_ready_s,
            status_writes_per_connection: c.metrics.status_writes_per_connection,
            events_per_connection: c.events.per_connection,
        });
    }
    Ok(ThroughputReport {
        first,
        counted_pass,
        ratio_median: median(rounds.iter().map(|x| Some(x.ratio))),
        ratio_floor_over_bare_median: median(rounds.iter().map(|x| x.ratio_floor_over_bare)),
        ratio_operator_over_floor_median: median(
            rounds.iter().map(|x| x.ratio_operator_over_floor),
        ),
        rounds,
    })
}
