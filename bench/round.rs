//! One throughput round: the operator validates N new connections in a
//! namespace of its own ([`operator_round`]); the Kubernetes floor and the
//! bare client do the same requests (baseline.rs). And the unchanged
//! re-validation of every connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::json;
use testkit::Spec;
use testkit::process::{Memory, memory};

use crate::baseline::{BareRun, FloorRun, bare_round, floor_round};
use crate::cpu::{CpuMeter, CpuReport};
use crate::env::{Env, Result, concurrently};
use crate::params::Params;
use crate::running::{
    LABEL, Running, SECRET, Shared, VALIDATIONS, apply, clean_connections, conn_api, metrics,
    shared_secret, start_operator,
};
use crate::stats::{
    EventsReport, LogReport, LogStats, MetricsReport, Or, Percentiles, RequestCounts, ms, round3,
};
use crate::watch::{Tracker, condition_times, key};

/// What a throughput round is for.
#[derive(Clone, Copy)]
pub enum Pass {
    /// Not reported: the operator, then the bare client.
    WarmUp,
    /// Timed round `r` (from 0): operator, floor (when `p.floor`) and bare
    /// client; with the unchanged re-validation when `revalidate`.
    Timed {
        r: u64,
        bare_first: bool,
        revalidate: bool,
    },
    /// The operator alone (through the counting relay), with the unchanged
    /// re-validation; not in the ratios.
    Counted,
}

impl Pass {
    /// The operator's namespace and log tag.
    fn names(self) -> (String, String) {
        let suffix = match self {
            Pass::Timed { r: 0, .. } => String::new(),
            Pass::Timed { r, .. } => format!("-{}", r + 1),
            Pass::WarmUp => "-warmup".into(),
            Pass::Counted => "-counted".into(),
        };
        (
            format!("bench-throughput{suffix}"),
            format!("throughput{suffix}"),
        )
    }
}

/// The operator's run of a round.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorRun {
    pub connections: u64,
    pub apply_s: f64,
    pub first_apply_to_all_ready_s: f64,
    pub first_apply_to_all_ready_s_by_condition_times: f64,
    pub connections_per_s: f64,
    pub apply_to_ready_ms_per_connection: Percentiles,
    pub operator_log: LogReport,
    pub moto_requests: RequestCounts,
    pub kube_requests_at_relay: Or<RequestCounts>,
    pub metrics: MetricsReport,
    pub events: EventsReport,
    pub rss_at_all_ready: Memory,
    pub rss_after_quiet: Memory,
    pub cpu_s: CpuReport,
    pub operator_ready_after_start_s: f64,
    pub watch_errors: u64,
    pub revalidation_unchanged: Or<Unchanged>,
}

/// The operator's and the bare client's figure side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Sides {
    pub operator: f64,
    pub bare: f64,
}

/// One round of all three.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub operator: OperatorRun,
    pub bare: BareRun,
    pub ratio_operator_over_bare: f64,
    pub floor: Option<FloorRun>,
    pub ratio_floor_over_bare: Option<f64>,
    pub ratio_operator_over_floor: Option<f64>,
    pub requests_per_s: Sides,
    pub requests_per_validation: Sides,
}

/// Every connection validated once more with nothing changed.
#[derive(Debug, Clone, Serialize)]
pub struct Unchanged {
    pub connections: u64,
    pub touch_to_all_revalidated_s: f64,
    pub metrics: MetricsReport,
    pub new_events: u64,
    pub kube_requests_at_relay: Or<RequestCounts>,
}

/// A run and its time in seconds, unrounded (the ratios are of these).
pub struct Timed<T> {
    pub run: T,
    pub seconds: f64,
}

/// One round: the operator, and (around it) the floor and the bare client.
pub async fn throughput_round(
    env: &Env,
    p: &Params,
    s: &Shared,
    pass: Pass,
) -> Result<RoundReport> {
    let bare_first = matches!(
        pass,
        Pass::Timed {
            bare_first: true,
            ..
        }
    );
    let bare_before = match bare_first {
        true => Some(bare_round(env, p, s).await?),
        false => None,
    };
    // The floor between the two, whichever goes first; timed rounds only.
    let floor_r = match pass {
        Pass::Timed { r, .. } if p.floor => Some(r),
        _ => None,
    };
    let floor_before = match (floor_r, bare_first) {
        (Some(r), true) => Some(floor_round(env, p, s, r).await?),
        _ => None,
    };
    let operator = operator_round(env, p, s, pass).await?;
    let floor = match (floor_before, floor_r) {
        (Some(f), _) => Some(f),
        (None, Some(r)) => Some(floor_round(env, p, s, r).await?),
        (None, None) => None,
    };
    let bare = match bare_before {
        Some(b) => b,
        None => bare_round(env, p, s).await?,
    };
    let (total, bare_s) = (operator.seconds, bare.seconds);
    let floor_s = floor.as_ref().map(|f| f.first_apply_to_all_ready_s);
    let validations = operator.run.operator_log.validations.max(1) as f64;
    let moto = operator.run.moto_requests.requests as f64;
    let bare_requests = bare.run.moto_requests.requests as f64;
    Ok(RoundReport {
        operator: operator.run,
        bare: bare.run,
        ratio_operator_over_bare: round3(total / bare_s),
        floor,
        ratio_floor_over_bare: floor_s.map(|f| round3(f / bare_s)),
        ratio_operator_over_floor: floor_s.map(|f| round3(total / f)),
        requests_per_s: Sides {
            operator: round3(moto / total),
            bare: round3(bare_requests / bare_s),
        },
        requests_per_validation: Sides {
            operator: round3(moto / validations),
            bare: round3(bare_requests / p.n as f64),
        },
    })
}

/// The operator validates N new connections in a namespace of its own.
pub async fn operator_round(
    env: &Env,
    p: &Params,
    s: &Shared,
    pass: Pass,
) -> Result<Timed<OperatorRun>> {
    let (ns, tag) = pass.names();
    let ns = ns.as_str();
    let revalidate = match pass {
        Pass::WarmUp => false,
        Pass::Timed { revalidate, .. } => revalidate,
        Pass::Counted => true,
    };
    env.namespace(ns).await?;
    shared_secret(env, ns, s).await?;
    let mut run = start_operator(env, p, &tag, None).await?;
    let tracker = Tracker::start(env.kube.clone(), &format!("{LABEL}=throughput")).await?;
    let api = conn_api(env, ns);
    let endpoint = run.moto.url();
    let names: Vec<String> = (0..p.n).map(|i| format!("conn-{i:05}")).collect();
    let keys: Vec<String> = names.iter().map(|n| key(ns, n)).collect();

    let metrics_before = metrics(&run.op).await?;
    let moto_before = run.moto.counts();
    let kube_before = run.kube_counts();
    let cpu = CpuMeter::start(env, Some(run.op.pid()));
    let applied_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let t0 = Instant::now();
    concurrently(names.clone(), p.apply_concurrency as usize, |name| {
        let (api, applied_at, spec) = (
            api.clone(),
            applied_at.clone(),
            Spec::access_key(&s.bucket, &endpoint, SECRET),
        );
        async move {
            let started = Instant::now();
            apply(&api, &name, "throughput", spec).await?;
            applied_at.lock().unwrap().insert(name, started);
            Ok(())
        }
    })
    .await?;
    let apply_s = t0.elapsed().as_secs_f64();
    eprintln!("[bench] applied {} connections in {apply_s:.2}s", p.n);
    let last = tracker
        .wait_all(
            "throughput",
            &keys,
            Some(1),
            t0,
            p.timeout_for(p.n),
            &mut || run.check_alive(),
        )
        .await?;
    let total = (last - t0).as_secs_f64();
    let cpu_s = cpu.read();
    eprintln!(
        "[bench] all {} Ready {total:.3}s after the first apply",
        p.n
    );
    run.check_alive()?;
    let rss_at_all_ready = memory(run.op.pid()).unwrap_or_default();

    // per connection: its own apply → Ready
    let per_conn: Vec<f64> = {
        let applied = applied_at.lock().unwrap();
        names
            .iter()
            .filter_map(|n| {
                let a = applied.get(n)?;
                let r = tracker.ready_at(&key(ns, n), 1)?;
                Some(ms(r.saturating_duration_since(*a)))
            })
            .collect()
    };

    run.quiesce(Duration::from_secs(2), Duration::from_secs(30))
        .await;
    let m = metrics(&run.op).await?.since(&metrics_before);
    let moto = run.moto.counts().since(&moto_before);
    let kube = run.kube_counts().since(&kube_before);
    let log = LogStats::read(&run.op.log_path, |n| n == ns);
    let validations = log.validations().max(1) as f64;

    // the objects' own times (second resolution)
    let objs = api
        .list(&ListParams::default().labels(&format!("{LABEL}=throughput")))
        .await?;
    let (mut first_created, mut last_transition) = (i64::MAX, i64::MIN);
    for o in &objs.items {
        let (c, l) = condition_times(o);
        if let Some(c) = c {
            first_created = first_created.min(c);
        }
        if let Some(l) = l {
            last_transition = last_transition.max(l);
        }
    }
    let by_conditions = (last_transition - first_created) as f64;
    let events = EventsReport::of(env, ns, p.n).await?;
    let rss_after_quiet = memory(run.op.pid()).unwrap_or_default();
    let revalidation_unchanged = match revalidate {
        true => Or::Measured(revalidate_unchanged(env, &mut run, ns, p).await?),
        false => Or::Note("not in this round".into()),
    };
    let operator = OperatorRun {
        connections: p.n,
        apply_s: round3(apply_s),
        first_apply_to_all_ready_s: round3(total),
        first_apply_to_all_ready_s_by_condition_times: by_conditions,
        connections_per_s: round3(p.n as f64 / total),
        apply_to_ready_ms_per_connection: Percentiles::of(per_conn),
        operator_log: log.report(),
        moto_requests: RequestCounts::of(&moto, Some(("validation", validations)), Some(total)),
        kube_requests_at_relay: match p.kube_relay {
            true => Or::Measured(RequestCounts::of(
                &kube,
                Some(("connection", p.n as f64)),
                Some(total),
            )),
            false => Or::Note("relay off (BENCH_KUBE_RELAY=0)".into()),
        },
        metrics: MetricsReport::of(&m, p.n as f64),
        events,
        rss_at_all_ready,
        rss_after_quiet,
        cpu_s,
        operator_ready_after_start_s: round3(run.ready_after.as_secs_f64()),
        watch_errors: tracker.watch_errors(),
        revalidation_unchanged,
    };
    let Running {
        op,
        moto: moto_relay,
        kube: kube_relay,
        ..
    } = run;
    op.stop(Duration::from_secs(40)).await?;
    drop((moto_relay, kube_relay));
    clean_connections(env, ns).await?;
    Ok(Timed {
        run: operator,
        seconds: total,
    })
}

/// Every connection validated once more with nothing changed: the shared
/// Secret is touched (an annotation: a new resourceVersion, the same data),
/// which re-validates each connection naming it, as a periodic
/// re-validation would, only all at once. Waits until the operator's own
/// validation count has grown by `n`; what it wrote meanwhile is the answer.
pub async fn revalidate_unchanged(
    env: &Env,
    run: &mut Running,
    ns: &str,
    p: &Params,
) -> Result<Unchanged> {
    let before = metrics(&run.op).await?;
    let kube_before = run.kube_counts();
    let events_before = EventsReport::of(env, ns, p.n).await?.objects as u64;
    let touch = json!({"metadata": {"annotations": {"bench.s3connection.dev/touched": p.run_id}}});
    Api::<Secret>::namespaced(env.kube.clone(), ns)
        .patch(SECRET, &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .map_err(|e| format!("touch secret {ns}/{SECRET}: {e}"))?;
    let t0 = Instant::now();
    run.validated(
        before.sum(VALIDATIONS),
        p.n,
        p.timeout_for(p.n),
        "unchanged re-validation",
    )
    .await?;
    let took = t0.elapsed().as_secs_f64();
    run.quiesce(Duration::from_secs(2), Duration::from_secs(30))
        .await;
    let m = metrics(&run.op).await?.since(&before);
    let kube = run.kube_counts().since(&kube_before);
    let events_after = EventsReport::of(env, ns, p.n).await?.objects as u64;
    eprintln!("[bench] {} unchanged re-validations in {took:.2}s", p.n);
    Ok(Unchanged {
        connections: p.n,
        touch_to_all_revalidated_s: round3(took),
        metrics: MetricsReport::of(&m, p.n as f64),
        new_events: events_after.saturating_sub(events_before),
        kube_requests_at_relay: match p.kube_relay {
            true => Or::Measured(RequestCounts::of(
                &kube,
                Some(("connection", p.n as f64)),
                None,
            )),
            false => Or::Note("relay off".into()),
        },
    })
}
