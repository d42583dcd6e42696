//! The reconciler: for one `S3Connection`, run the data path
//! `S3Connection` → [`ValidSpec`](crate::spec::ValidSpec) →
//! [`Resolved`](crate::credentials::Resolved) → [`Outcome`] →
//! `S3ConnectionStatus`, write the status when it changed, and say when to
//! look again ([`requeue`]). [`watches`] runs it for every connection.

pub mod context;
mod data_path;
pub mod finalizer;
pub mod freshness;
pub mod latest;
pub mod per_uid;
pub mod proofs;
pub mod related;
pub mod requeue;
pub mod resume;
pub mod shard;
pub mod slots;
#[cfg(test)]
mod tests;
pub mod triggers;
pub mod wakeups;
pub mod watches;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::{debug, error, info};

use crate::cost::Service;
use crate::crd::{S3Connection, S3ConnectionStatus};
use crate::error::{Error, Result};
use crate::outcome::{Depth, Outcome, Severity};
use crate::status;
use crate::status::write::{self, Applied};
use requeue::{jittered, spread_backoff};

pub use context::{Config, Context};
use data_path::{Verdict, data_path_isolated};
pub use freshness::Freshness;
pub use latest::Latest;
pub use shard::Shard;

pub use watches::run;

/// Annotations that ask for a validation now: ours, and Flux's.
pub const REQUESTED_AT: [&str; 2] = [
    "s3connection.dev/requested-at",
    "reconcile.fluxcd.io/requestedAt",
];

/// A request for a validation now: the first requested-at annotation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Requested<'a> {
    /// Which annotation.
    pub annotation: &'static str,
    /// Its value, as the cache keeps it
    /// ([`rules::requested_at::kept`](crate::crd::rules::requested_at::kept)).
    pub value: &'a str,
}

impl<'a> Requested<'a> {
    /// The value, if it is a token the operator accepts
    /// ([`rules::requested_at`](crate::crd::rules::requested_at)).
    pub fn token(&self) -> Option<&'a str> {
        crate::crd::rules::requested_at::holds(self.value).then_some(self.value)
    }
}

/// The first requested-at annotation set, if any.
pub fn requested_at(conn: &S3Connection) -> Option<Requested<'_>> {
    let annotations = conn.metadata.annotations.as_ref()?;
    REQUESTED_AT.iter().find_map(|a| {
        annotations.get(*a).map(|v| Requested {
            annotation: a,
            value: v,
        })
    })
}

/// Look at `conn` again `after` from now ([`wakeups`]), and at once if
/// it changes.
fn again(ctx: &Context, conn: &S3Connection, after: Duration) -> Action {
    ctx.wakeups.after(conn, after);
    Action::await_change()
}

/// Put back a reconcile that found no place in line, or lost it, for as
/// long as [`slots`] says.
fn deferred(ctx: &Context, conn: &S3Connection, retry: Duration) -> Result<Action> {
    ctx.metrics.deferred();
    Ok(again(ctx, conn, retry))
}

/// The longest a validation waits for the Secret and ServiceAccount
/// watches' first lists (see [`related`]).
const RELATED_LIST_WAIT: Duration = Duration::from_secs(30);

/// Validate one connection and write its status; when to look again.
pub async fn reconcile(conn: Arc<S3Connection>, ctx: Arc<Context>) -> Result<Action> {
    let uid = conn.uid().unwrap_or_default();
    let _turn = ctx.wakeups.turn(&uid);
    ctx.related.wait(RELATED_LIST_WAIT).await;
    let Some(conn) = current(conn, &ctx).await? else {
        return Ok(Action::await_change());
    };
    if conn.metadata.deletion_timestamp.is_some() {
        return finalizer::on_delete(conn, &ctx).await;
    }
    let generation = conn.metadata.generation;
    let first = conn.status.clone().unwrap_or_default();
    // The version every status below is computed from.
    let mut version = conn.resource_version();
    if conn.spec.suspend == Some(true) {
        debug!(
            namespace = conn.namespace().unwrap_or_default(),
            name = conn.name_any(),
            "suspended: not validated"
        );
        let now = Time(Timestamp::now());
        let new = status::suspended_status(generation, &first, &now);
        let wrote = write_if_changed(&conn, &ctx, &first, &new, version.as_deref(), None).await?;
        return Ok(match finish(&conn, &ctx, &new, wrote, version).await? {
            Finished::Again => again(&ctx, &conn, conflict_retry(&uid)),
            Finished::Done => Action::await_change(),
        });
    }
    // A Ready connection this process has not validated yet (it just
    // started, or became leader): at its point of the interval, not now.
    if let Some(wait) = ctx.proofs.first_wait(&conn, Timestamp::now()) {
        debug!(
            namespace = conn.namespace().unwrap_or_default(),
            name = conn.name_any(),
            wait_s = wait.as_secs(),
            "ready as its status says: first validation by this process later in its interval"
        );
        return Ok(again(&ctx, &conn, wait));
    }
    let endpoint = slots::endpoint_key(conn.spec.endpoint.as_deref(), &conn.spec.region);
    let place = match ctx
        .slots
        .place(&conn.namespace().unwrap_or_default(), &endpoint, &uid)
    {
        Ok(place) => place,
        Err(retry) => return deferred(&ctx, &conn, retry),
    };
    // A spec edit of a connection that has a result: say first that the
    // new generation is being validated (kstatus, `kubectl wait`), so the
    // previous generation's Ready does not answer for it. At once, with the
    // time it is said: the validation may wait for a probe slot.
    let mut old = first.clone();
    if let Some(g) = generation
        && status::announce_progress(&old, generation)
    {
        let progressing = status::progressing_status(g, &old, &Time(Timestamp::now()));
        match write::apply(
            &ctx.client,
            &conn,
            &progressing,
            &status::stale_fields(&old, &progressing),
            version.as_deref(),
            ctx.config.status_timeout,
            &ctx.metrics,
        )
        .await?
        {
            Applied::Written(v) => {
                if let Some(v) = &v {
                    ctx.latest.note(&uid, v);
                }
                version = v;
            }
            Applied::Conflict => return Ok(again(&ctx, &conn, conflict_retry(&uid))),
            Applied::Gone => return Ok(Action::await_change()),
        }
        old = progressing;
    }
    let slot = match ctx.slots.slot(place).await {
        Ok(slot) => slot,
        Err(retry) => return deferred(&ctx, &conn, retry),
    };
    let started = Instant::now();
    // One timestamp per validation: every time field written below uses it.
    let now = Timestamp::now();
    let verdict = data_path_isolated(conn.clone(), ctx.clone(), now).await;
    // The probes are done: the next validation may start while this one's
    // status is written.
    drop(slot);
    let Verdict {
        outcome,
        interval,
        full_interval,
        ..
    } = verdict?;
    let outcome = outcome.printable();
    ctx.metrics.validated(outcome.reason, started.elapsed());
    ctx.freshness
        .note(&uid, now, outcome.reason.severity() == Severity::Ok);
    let requests = outcome.usage.map(|u| u.requests).unwrap_or_default();
    // A light check changes nothing of the connection's daily estimate.
    if let Some(u) = outcome.usage
        && outcome.depth == Depth::Full
    {
        ctx.freshness.note_requests(&uid, u.daily());
    }
    info!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        reason = outcome.reason.as_str(),
        took_ms = started.elapsed().as_millis() as u64,
        depth = outcome.depth.as_str(),
        s3_requests = requests.to(Service::S3),
        sts_requests = requests.to(Service::Sts),
        iam_requests = requests.to(Service::Iam),
        "validated: {}",
        outcome.message
    );

    let now = Time(now);
    // How long a permission's `lastProved` stands while its result stays
    // the same: never less than a day, so that connections validated fully
    // every time (failing ones, or `fullValidationInterval` equal to the
    // interval) are not rewritten at each validation.
    let refresh = full_interval.max(crate::crd::rules::DEFAULT_FULL_INTERVAL);
    let new = status::build_status(generation, &old, &outcome, &now, refresh);
    // An event compares with what the status said before this validation
    // began, not with the "validating" in between.
    let event = Some((&first, &outcome));
    let wrote = write_if_changed(&conn, &ctx, &old, &new, version.as_deref(), event).await?;
    if finish(&conn, &ctx, &new, wrote, version).await? == Finished::Again {
        // Changed while it was validated: validate what it is now.
        return Ok(again(&ctx, &conn, conflict_retry(&uid)));
    }

    Ok(match outcome.reason.severity() {
        Severity::Transient => {
            let n = ctx.failures.note(&uid);
            again(
                &ctx,
                &conn,
                spread_backoff(ctx.config.retry_base, n, interval, &uid),
            )
        }
        _ => {
            ctx.failures.clear(&uid);
            again(&ctx, &conn, jittered(interval, &uid))
        }
    })
}

/// The connection as it is now: the cached copy when it is the newest
/// version this process knows of, else (the cache has not yet seen this
/// process's own last write, or the object changed since) the object read
/// from the API server. `None` when it was deleted, or its labels no longer
/// match this process's shard ([`Shard`]).
async fn current(conn: Arc<S3Connection>, ctx: &Context) -> Result<Option<Arc<S3Connection>>> {
    let uid = conn.uid().unwrap_or_default();
    if ctx
        .latest
        .is_current(&uid, conn.metadata.resource_version.as_deref())
    {
        return Ok(Some(conn));
    }
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api: kube::Api<S3Connection> = kube::Api::namespaced(ctx.client.clone(), &ns);
    let read = tokio::time::timeout(ctx.config.status_timeout, api.get_opt(&name)).await;
    let fresh = match read {
        Ok(Ok(fresh)) => fresh,
        Ok(Err(e)) => return Err(Error::kube(format!("get S3Connection {ns}/{name}"), e)),
        Err(_) => {
            return Err(Error::KubeTimeout {
                context: format!("get S3Connection {ns}/{name}"),
                timeout: ctx.config.status_timeout,
            });
        }
    };
    // Deleted, or deleted and created again under the same name: the
    // cache will bring the new object.
    let Some(fresh) = fresh.filter(|f| f.uid().as_deref() == Some(uid.as_str())) else {
        return Ok(None);
    };
    // Relabelled to another shard since it was cached: that shard's now
    // (this one's cache drops it as the watch says so).
    if !ctx.config.shard.holds(fresh.metadata.labels.as_ref()) {
        debug!(
            namespace = ns,
            name, "now in another shard (--watch-label-selector): not validated here"
        );
        return Ok(None);
    }
    if let Some(v) = &fresh.metadata.resource_version {
        ctx.latest.note(&uid, v);
    }
    Ok(Some(Arc::new(fresh)))
}

/// How soon a reconcile whose status write found the object changed tries
/// again: at once, give or take, since the object is already newer.
fn conflict_retry(uid: &str) -> Duration {
    jittered(Duration::from_millis(200), uid)
}

/// Write `new` if it differs from `old` (see [`status::needs_write`]),
/// computed from the object at `version`; publish an event when Ready
/// changed from `since`'s. `None` when nothing needed writing.
async fn write_if_changed(
    conn: &S3Connection,
    ctx: &Context,
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    version: Option<&str>,
    event: Option<(&S3ConnectionStatus, &Outcome)>,
) -> Result<Option<Applied>> {
    if !status::needs_write(old, new) {
        ctx.metrics
            .status_patch(crate::telemetry::PatchOutcome::Unchanged, None);
        return Ok(None);
    }
    let applied = write::apply(
        &ctx.client,
        conn,
        new,
        &status::stale_fields(old, new),
        version,
        ctx.config.status_timeout,
        &ctx.metrics,
    )
    .await?;
    if let Applied::Written(v) = &applied {
        if let Some(v) = v {
            ctx.latest.note(&conn.uid().unwrap_or_default(), v);
        }
        if let Some((since, outcome)) = event {
            write::publish_transition(&ctx.events, conn, since, new, outcome).await;
        }
    }
    Ok(Some(applied))
}

/// After a status write: done, or validate again at once (the object
/// changed since it was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    Done,
    Again,
}

/// After `wrote` (what became of writing `new`; `None`: nothing to write)
/// for the object at `version`: give or take the finalizer as `new` says
/// ([`finalizer::sync`]).
async fn finish(
    conn: &S3Connection,
    ctx: &Context,
    new: &S3ConnectionStatus,
    wrote: Option<Applied>,
    version: Option<String>,
) -> Result<Finished> {
    let version = match wrote {
        None => version,
        Some(Applied::Written(v)) => v,
        Some(Applied::Conflict) => return Ok(Finished::Again),
        Some(Applied::Gone) => return Ok(Finished::Done),
    };
    match finalizer::sync(ctx, conn, new, version.as_deref()).await? {
        finalizer::Changed::Done(Some(v)) => {
            ctx.latest.note(&conn.uid().unwrap_or_default(), &v);
            Ok(Finished::Done)
        }
        finalizer::Changed::Done(None) | finalizer::Changed::Gone => Ok(Finished::Done),
        finalizer::Changed::Conflict => Ok(Finished::Again),
    }
}

/// After a reconcile failed (an error of the operator, not of the connection): retry with backoff.
pub fn error_policy(conn: Arc<S3Connection>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(err.metric_label());
    let n = ctx.failures.note(&conn.uid().unwrap_or_default());
    let uid = conn.uid().unwrap_or_default();
    let retry = spread_backoff(ctx.config.retry_base, n, Duration::from_secs(300), &uid);
    error!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        error = %err,
        hint = err.hint().unwrap_or(""),
        retry_in_s = retry.as_secs(),
        "reconcile failed"
    );
    again(&ctx, &conn, retry)
}
