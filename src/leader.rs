//! Leader election on a `coordination.k8s.io` Lease, so that of several
//! replicas exactly one validates connections. Standbys wait for the lease
//! (and report ready: they only wait); the leader renews it, and releases it
//! on a graceful shutdown so a standby takes over at once instead of after
//! the lease expires. [`lead`] is the whole loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::telemetry::Metrics;

#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub namespace: String,
    /// Unique per process: the pod name, or host and PID.
    pub identity: String,
    /// Seconds a lease is valid after its last renewal; renewed a third of
    /// that before it runs out.
    pub duration_secs: u64,
}

/// Holding the lease.
pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

/// Wait until this process holds the lease, or `None` when `cancel`
/// resolves first (shutdown while standing by).
pub async fn acquire(
    client: Client,
    cfg: &LeaderConfig,
    cancel: impl Future<Output = ()>,
) -> Result<Option<Leadership>, LeaseManagerError> {
    let grace = (cfg.duration_secs / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, &cfg.lease_name)
        .with_namespace(&cfg.namespace)
        .with_identity(&cfg.identity)
        .with_duration(cfg.duration_secs)
        .with_grace(grace)
        .build()
        .await?;
    let (mut state, task) = manager.watch().await;
    info!(
        lease = %cfg.lease_name,
        namespace = %cfg.namespace,
        identity = %cfg.identity,
        "waiting for leadership"
    );
    tokio::pin!(cancel);
    loop {
        if *state.borrow_and_update() {
            info!(lease = %cfg.lease_name, identity = %cfg.identity, "acquired leadership");
            return Ok(Some(Leadership { state, task }));
        }
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    // The lease task ended: report its error.
                    return match task.await {
                        Ok(Err(e)) => Err(e),
                        _ => Ok(None),
                    };
                }
            }
            _ = &mut cancel => {
                drop(state);
                let _ = task.await;
                return Ok(None);
            }
        }
    }
}

impl Leadership {
    /// A future that resolves when leadership is lost, and the handle that
    /// releases the lease once that future (and so the last receiver) is
    /// dropped.
    pub fn split(self) -> (impl Future<Output = ()> + Send + Sync + 'static, Release) {
        let mut state = self.state;
        let lost = async move {
            loop {
                if !*state.borrow_and_update() {
                    return;
                }
                if state.changed().await.is_err() {
                    return;
                }
            }
        };
        (lost, Release(self.task))
    }
}

pub struct Release(JoinHandle<Result<LeaseManager, LeaseManagerError>>);

impl Release {
    /// Wait until the lease is released (the watch channel is closed by then).
    pub async fn wait(self) {
        match self.0.await {
            Ok(Ok(_)) => info!("lease released"),
            Ok(Err(e)) => warn!(error = %e, "releasing the lease failed; it expires on its own"),
            Err(e) => warn!(error = %e, "lease task failed"),
        }
    }
}

/// A future that resolves when something should stop.
pub type Signal = Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>>;

/// Why [`lead`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested (while leading or standing by).
    Shutdown,
    /// Another replica took the lease: this process should exit so that a
    /// fresh one competes again.
    LostLeadership,
}

/// Stand by until this process holds the lease, then run `work` until
/// `shutdown` resolves or the lease is lost (`work` gets a future that
/// resolves then), and release the lease when `work` has finished. `ready`
/// is true while standing by; `work` sets it once its caches are synced.
pub async fn lead<W, F>(
    client: Client,
    cfg: &LeaderConfig,
    ready: Arc<AtomicBool>,
    metrics: &Metrics,
    shutdown: impl Fn() -> Signal,
    work: W,
) -> Result<Ended, LeaseManagerError>
where
    W: FnOnce(Signal) -> F,
    F: Future<Output = ()>,
{
    ready.store(true, Ordering::SeqCst);
    let Some(leadership) = acquire(client, cfg, shutdown()).await? else {
        return Ok(Ended::Shutdown);
    };
    ready.store(false, Ordering::SeqCst);
    metrics.set_leader(true);
    let (lost, release) = leadership.split();
    let lost_flag = Arc::new(AtomicBool::new(false));
    let flag = lost_flag.clone();
    let stop = shutdown();
    let until = async move {
        tokio::select! {
            _ = stop => {}
            _ = lost => flag.store(true, Ordering::SeqCst),
        }
    };
    work(Box::pin(until)).await;
    metrics.set_leader(false);
    release.wait().await;
    Ok(if lost_flag.load(Ordering::SeqCst) {
        Ended::LostLeadership
    } else {
        Ended::Shutdown
    })
}
