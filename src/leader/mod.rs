//! Leader election on a `coordination.k8s.io` Lease, so that of several
//! replicas exactly one validates connections. Standbys wait for the lease
//! (and report ready: they only wait); the leader renews it, and releases it
//! on a graceful shutdown so a standby takes over at once instead of after
//! the lease expires. [`lead`] is the whole loop.
//!
//! The lease library's standby reads the Lease, then sleeps until it would
//! expire: a release goes unnoticed until then. So a standby also watches
//! its Lease ([`Freed`]) and, when the Lease it saw held is free, starts
//! the library's acquisition over at once. The acquisition itself is the
//! library's, a server-side apply of the holder that the API server refuses
//! (409) when another replica's apply got there first: never two holders.
//! A Lease that a dead leader left held still expires the library's way.
//!
//! The lease library keeps believing it leads while it cannot reach the API
//! server, so the leader also watches its own Lease ([`Confirmation`]): if
//! no renewal by this process is seen for almost a lease duration (the API
//! server or etcd is away, or another process took the Lease), it steps
//! down before a standby could take over, and the process exits so that a
//! fresh one competes again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::reconcile::resume::resilient;
use crate::telemetry::Metrics;

/// Which Lease to compete for, and as whom.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace.
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

/// Whether a standby should try for the Lease now: it saw the Lease held,
/// and now sees it free (released, or deleted). Pure; a watch of the one
/// Lease feeds it.
#[derive(Debug, Default)]
pub struct Freed {
    held: bool,
    /// In a list: whether it has shown the Lease yet.
    listing: Option<bool>,
}

impl Freed {
    /// Take one event of the watch; `true` when the Lease was just freed.
    pub fn observe(&mut self, event: &Event<Lease>) -> bool {
        match event {
            Event::Apply(l) => self.now(holds(l)),
            Event::InitApply(l) => {
                self.listing = Some(true);
                self.now(holds(l))
            }
            Event::Delete(_) => self.now(false),
            Event::Init => {
                self.listing = Some(false);
                false
            }
            // A list without the Lease: deleted while the watch was down.
            Event::InitDone => self.listing.take() == Some(false) && self.now(false),
        }
    }

    /// Whether the Lease was last seen held.
    pub fn held(&self) -> bool {
        self.held
    }

    fn now(&mut self, held: bool) -> bool {
        std::mem::replace(&mut self.held, held) && !held
    }
}

/// Whether `lease` names a holder.
fn holds(lease: &Lease) -> bool {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .is_some_and(|h| !h.is_empty())
}

/// The longest holder name a log line shows (a pod name has at most 253
/// characters).
const HOLDER_SHOWN: usize = 253;

/// A standby's watch of its Lease.
struct Releases {
    events: Pin<Box<dyn Stream<Item = Result<Event<Lease>, watcher::Error>> + Send>>,
    freed: Freed,
}

impl Releases {
    fn new(leases: Api<Lease>, name: &str, metrics: Metrics) -> Self {
        let one = watcher::Config::default().fields(&format!("metadata.name={name}"));
        Self {
            events: Box::pin(resilient("lease", watcher::watcher(leases, one), metrics)),
            freed: Freed::default(),
        }
    }

    /// Wait until the watch's first list is complete (or failed: a standby
    /// that cannot watch its Lease still takes over when it expires), for
    /// at most `bound`; log who holds the Lease.
    async fn listed(&mut self, bound: Duration) {
        let list = async {
            let mut holder = None;
            while let Some(ev) = self.events.next().await {
                match ev {
                    Ok(Event::InitDone) => {
                        self.freed.observe(&Event::InitDone);
                        return holder;
                    }
                    Ok(ev) => {
                        if let Event::InitApply(l) = &ev {
                            holder = l.spec.as_ref().and_then(|s| s.holder_identity.clone());
                        }
                        self.freed.observe(&ev);
                    }
                    Err(_) => return None,
                }
            }
            None
        };
        let holder = tokio::time::timeout(bound, list).await.ok().flatten();
        if self.freed.held() {
            let holder: String = holder
                .unwrap_or_default()
                .chars()
                .take(HOLDER_SHOWN)
                .collect();
            info!(%holder, "standing by: the Lease is held");
        }
    }

    /// Resolves when the Lease is freed; never, if the watch cannot run.
    async fn next(&mut self) {
        while let Some(ev) = self.events.next().await {
            if let Ok(ev) = ev
                && self.freed.observe(&ev)
            {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// How long a standby waits for its Lease watch's first list before it
/// competes without it.
const FIRST_LIST: Duration = Duration::from_secs(5);

/// Wait until this process holds the lease, or `None` when `cancel`
/// resolves first (shutdown while standing by).
pub async fn acquire(
    client: Client,
    cfg: &LeaderConfig,
    metrics: &Metrics,
    cancel: impl Future<Output = ()>,
) -> Result<Option<Leadership>, LeaseManagerError> {
    tokio::pin!(cancel);
    // The watch lists before the library first reads the Lease, so that a
    // release after that read is an event the watch sees.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut releases = Releases::new(leases, &cfg.lease_name, metrics.clone());
    tokio::select! {
        _ = releases.listed(FIRST_LIST) => {}
        _ = &mut cancel => return Ok(None),
    }
    info!(
        lease = %cfg.lease_name,
        namespace = %cfg.namespace,
        identity = %cfg.identity,
        "waiting for leadership"
    );
    let mut again = false;
    loop {
        let manager = match manager(client.clone(), cfg).await {
            Ok(m) => m,
            // The first time, as at any start: the error ends the process.
            Err(e) if !again => return Err(e),
            // After a release: the leader's work is waiting; read again.
            Err(e) => {
                warn!(error = %e, lease = %cfg.lease_name, "could not read the Lease; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = &mut cancel => return Ok(None),
                }
            }
        };
        again = true;
        let (mut state, task) = manager.watch().await;
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
                _ = releases.next() => {
                    // Stop this manager without its release: a release by a
                    // standby could clear another standby's fresh hold. Its
                    // acquisition, had it just succeeded, is found by the
                    // next manager (same identity) as this process's own.
                    task.abort();
                    let _ = task.await;
                    info!(lease = %cfg.lease_name, "the Lease was released; trying for it now");
                    break;
                }
            }
        }
    }
}

/// The lease library's manager for `cfg`.
async fn manager(client: Client, cfg: &LeaderConfig) -> Result<LeaseManager, LeaseManagerError> {
    let grace = (cfg.duration_secs / 3).max(1);
    LeaseManagerBuilder::new(client, &cfg.lease_name)
        .with_namespace(&cfg.namespace)
        .with_identity(&cfg.identity)
        .with_duration(cfg.duration_secs)
        .with_grace(grace)
        .build()
        .await
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

/// Releases the lease once leadership is given up (see
/// [`Leadership::split`]).
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

/// How the leader knows it still leads: its own renewals of the Lease, seen
/// on this process's clock. Pure; `keep_confirming` feeds it.
#[derive(Debug)]
pub struct Confirmation {
    identity: String,
    limit: Duration,
    renewed: Option<String>,
    confirmed_at: Instant,
}

impl Confirmation {
    /// Leadership counts as confirmed `now`; it lapses when no renewal by
    /// `identity` is seen for longer than `limit`.
    pub fn new(identity: &str, limit: Duration, now: Instant) -> Self {
        Self {
            identity: identity.to_string(),
            limit,
            renewed: None,
            confirmed_at: now,
        }
    }

    /// The Lease as read at `now`. `Err` says why leadership is lost.
    pub fn observe(&mut self, lease: Option<&Lease>, now: Instant) -> Result<(), String> {
        let spec = lease.and_then(|l| l.spec.as_ref());
        let holder = spec.and_then(|s| s.holder_identity.as_deref());
        if holder != Some(self.identity.as_str()) {
            return Err(format!(
                "the Lease is held by {}",
                holder.unwrap_or("nobody")
            ));
        }
        let renewed = spec
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0.to_string());
        if renewed.is_some() && renewed != self.renewed {
            self.renewed = renewed;
            self.confirmed_at = now;
        }
        self.check(now)
    }

    /// Whether leadership still counts at `now` (say, when the Lease could
    /// not be read).
    pub fn check(&self, now: Instant) -> Result<(), String> {
        let quiet = now.saturating_duration_since(self.confirmed_at);
        if quiet > self.limit {
            return Err(format!(
                "no renewal of the Lease seen for {}s",
                quiet.as_secs()
            ));
        }
        Ok(())
    }
}

/// Read the Lease every few seconds; resolve when leadership lapsed (see
/// [`Confirmation`]). The margins: renewals come every `duration - grace`
/// seconds, the Lease is read every `grace / 3`, and leadership lapses a
/// read interval before a standby could see the Lease expired.
async fn keep_confirming(leases: Api<Lease>, cfg: LeaderConfig) {
    let duration = Duration::from_secs(cfg.duration_secs);
    let grace = Duration::from_secs((cfg.duration_secs / 3).max(1));
    let every = (grace / 3).max(Duration::from_millis(200));
    let mut confirmation = Confirmation::new(&cfg.identity, duration - every, Instant::now());
    loop {
        tokio::time::sleep(every).await;
        let read = tokio::time::timeout(every, leases.get_opt(&cfg.lease_name)).await;
        let verdict = match read {
            Ok(Ok(lease)) => confirmation.observe(lease.as_ref(), Instant::now()),
            _ => confirmation.check(Instant::now()),
        };
        if let Err(why) = verdict {
            warn!(
                lease = %cfg.lease_name,
                identity = %cfg.identity,
                "stepping down: {why}"
            );
            return;
        }
    }
}

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
    let leases: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let Some(leadership) = acquire(client, cfg, metrics, shutdown()).await? else {
        return Ok(Ended::Shutdown);
    };
    ready.store(false, Ordering::SeqCst);
    metrics.set_leader(true);
    let (lost, release) = leadership.split();
    let lost_flag = Arc::new(AtomicBool::new(false));
    let flag = lost_flag.clone();
    let stop = shutdown();
    let (lapse_tx, lapsed) = tokio::sync::oneshot::channel::<()>();
    let confirming = tokio::spawn({
        let cfg = cfg.clone();
        async move {
            keep_confirming(leases, cfg).await;
            let _ = lapse_tx.send(());
        }
    });
    let until = async move {
        tokio::select! {
            _ = stop => {}
            _ = lost => flag.store(true, Ordering::SeqCst),
            _ = lapsed => flag.store(true, Ordering::SeqCst),
        }
    };
    work(Box::pin(until)).await;
    confirming.abort();
    metrics.set_leader(false);
    release.wait().await;
    Ok(if lost_flag.load(Ordering::SeqCst) {
        Ended::LostLeadership
    } else {
        Ended::Shutdown
    })
}

#[cfg(test)]
mod tests;
