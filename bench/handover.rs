//! `handover`: how long after a leader's SIGTERM a standby leads. Two
//! replicas with leader election on one Lease (lease duration
//! [`LEASE_S`]); once the standby has seen the Lease held, the leader gets
//! SIGTERM, releases the Lease and exits; a watch of the Lease in the driver
//! records when the release and the new holder appeared. Then a fresh
//! standby joins the new leader, and so on (`HANDOVER_RUNS` times). Also
//! reported: how much of the lease was left at the release, which is how
//! long a standby that only waits for the Lease to expire would have waited
//! (at most).

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde::Serialize;
use tokio::sync::watch;

use crate::env::{Env, Result, bail};
use crate::params::Params;
use crate::running::{Running, start_operator_with};
use crate::stats::{Percentiles, ms, round3};

/// The namespace of the replicas and their Lease.
const NS: &str = "bench-handover";
/// The Lease's name (the operator's default).
const LEASE: &str = "s3-connection-operator";
/// The replicas' `--lease-duration`.
pub const LEASE_S: u64 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct HandoverReport {
    pub runs: u64,
    pub lease_duration_s: u64,
    /// From SIGTERM to the Lease naming the standby.
    pub sigterm_to_new_leader_ms: Percentiles,
    /// From the release seen (holder cleared) to the Lease naming the standby.
    pub release_to_new_leader_ms: Percentiles,
    /// What was left of the lease at the release: the most a standby that
    /// waits for the expiry would have waited.
    pub lease_left_at_release_s: Percentiles,
    pub sigterm_to_new_leader_ms_each: Vec<f64>,
}

/// The Lease as the driver's watch last saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    holder: Option<String>,
    renewed: Option<jiff::Timestamp>,
    duration_s: Option<i32>,
    /// When the holder was last seen cleared, and what was left of the
    /// lease before that (from the last renewal seen).
    released: Option<(Instant, f64)>,
}

fn holder(l: &Lease) -> Option<String> {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty())
}

/// Watch the Lease; publish what is seen.
fn watch_lease(env: &Env) -> watch::Receiver<Seen> {
    let (tx, rx) = watch::channel(Seen::default());
    let api: Api<Lease> = Api::namespaced(env.kube.clone(), NS);
    let one = watcher::Config::default().fields(&format!("metadata.name={LEASE}"));
    tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher::watcher(api, one));
        while let Some(ev) = events.next().await {
            let lease = match ev {
                Ok(Event::Apply(l) | Event::InitApply(l)) => l,
                _ => continue,
            };
            let now = holder(&lease);
            tx.send_modify(|s| {
                if s.holder.is_some() && now.is_none() {
                    let left = match (s.renewed, s.duration_s) {
                        (Some(r), Some(d)) => {
                            let expiry = r + jiff::SignedDuration::from_secs(d.into());
                            jiff::Timestamp::now().duration_until(expiry).as_secs_f64()
                        }
                        _ => f64::NAN,
                    };
                    s.released = Some((Instant::now(), left));
                }
                let spec = lease.spec.as_ref();
                s.holder = now;
                s.renewed = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
                s.duration_s = spec.and_then(|s| s.lease_duration_seconds);
            });
        }
    });
    rx
}

async fn wait_seen(
    rx: &mut watch::Receiver<Seen>,
    what: &str,
    within: Duration,
    cond: impl FnMut(&Seen) -> bool,
) -> Result<Seen> {
    match tokio::time::timeout(within, rx.wait_for(cond)).await {
        Ok(Ok(s)) => Ok(s.clone()),
        Ok(Err(_)) => bail!("the Lease watch ended while waiting for {what}"),
        Err(_) => bail!("{what}: not within {within:?}"),
    }
}

/// A replica, standing by or leading.
async fn replica(env: &Env, p: &Params, tag: &str) -> Result<Running> {
    let lease_s = LEASE_S.to_string();
    let args = [
        "--namespace",
        NS,
        "--leader-election",
        "--lease-namespace",
        NS,
        "--lease-duration",
        &lease_s,
    ];
    start_operator_with(env, p, tag, None, &args).await
}

/// Wait until `r`'s log says it has seen the Lease held.
async fn standing_by(r: &mut Running, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    while !r.op.log().contains("standing by") {
        r.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "the standby did not report the Lease held within {within:?}; log {}:\n{}",
                r.op.log_path.display(),
                r.op.tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn handover(env: &Env, p: &Params) -> Result<HandoverReport> {
    env.namespace(NS).await?;
    let mut lease = watch_lease(env);
    let patience = Duration::from_secs(LEASE_S + 30);
    let mut leader = replica(env, p, "handover-0").await?;
    wait_seen(&mut lease, "a first leader", patience, |s| {
        s.holder.is_some()
    })
    .await?;
    let (mut sigterm, mut release, mut left) = (vec![], vec![], vec![]);
    for i in 1..=p.handover_runs {
        let mut standby = replica(env, p, &format!("handover-{i}")).await?;
        standing_by(&mut standby, Duration::from_secs(30)).await?;
        let old = lease.borrow().holder.clone();
        let stopped = Instant::now();
        leader.op.signal_term();
        let seen = wait_seen(&mut lease, "the standby leading", patience, |s| {
            s.holder.is_some() && s.holder != old
        })
        .await?;
        let led = Instant::now();
        let took = led - stopped;
        sigterm.push(ms(took));
        if let Some((released, was_left)) = seen.released.filter(|(at, _)| *at >= stopped) {
            release.push(ms(led - released));
            left.push(was_left);
        }
        eprintln!("[bench] hand-over {i}: {:.1} ms after SIGTERM", ms(took));
        let status = leader.op.wait_exit(Duration::from_secs(40)).await;
        if !status.success() {
            bail!(
                "the old leader exited with {status}:\n{}",
                leader.op.tail(30)
            );
        }
        leader = standby;
    }
    leader.op.stop(Duration::from_secs(40)).await?;
    Ok(HandoverReport {
        runs: p.handover_runs,
        lease_duration_s: LEASE_S,
        sigterm_to_new_leader_ms: Percentiles::of(sigterm.clone()),
        release_to_new_leader_ms: Percentiles::of(release),
        lease_left_at_release_s: Percentiles::of(left),
        sigterm_to_new_leader_ms_each: sigterm.iter().map(|t| round3(*t)).collect(),
    })
}
