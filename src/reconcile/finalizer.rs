//! The finalizer that removes a deleted connection's leftover probe object.
//!
//! It is on a connection only while its status records a leftover probe
//! object ([`wanted`]): added by the reconcile that records one, removed by
//! the one that finds it gone ([`sync`]). When such a connection is
//! deleted, the operator that owns it (it is in its cache: its namespaces,
//! its shard) tries once, within [`CLEANUP_DEADLINE`], to remove the object
//! with the same own-object rules as a validation, publishes an event that
//! says what became of it, and removes the finalizer whatever happened
//! ([`on_delete`]): a missing Secret, an endpoint that is down or a denied
//! delete never holds the deletion for more than that.
//!
//! With no operator running nothing would remove the finalizer: the
//! `release-finalizers` command ([`release_all`]) strips it from every
//! connection in scope (the chart runs it before `helm uninstall` removes
//! the operator).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::{Context, again, conflict_retry, deferred, slots};
use crate::crd::{ConnectionId, S3Connection, S3ConnectionStatus};
use crate::credentials::ResolveError;
use crate::error::{Error, Result, within};
use crate::messages;
use crate::outcome::Leftover;
use crate::probe::{Cleanup, Previous};
use crate::status::write::{self, MANAGER};
use crate::validation;

/// The finalizer's name.
pub const FINALIZER: &str = "s3connection.dev/probe-cleanup";

/// How long the one attempt to remove a deleted connection's leftover probe
/// object may take, credentials included.
pub const CLEANUP_DEADLINE: Duration = Duration::from_secs(10);

/// Whether the connection carries the finalizer.
pub fn has(conn: &S3Connection) -> bool {
    conn.finalizers().iter().any(|f| f == FINALIZER)
}

/// Whether a connection with `status` should carry the finalizer: while it
/// records a leftover probe object.
pub fn wanted(status: &S3ConnectionStatus) -> bool {
    status.leftover_probe_object.is_some()
}

/// What became of a change to the finalizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Done, or nothing to do; the object's resourceVersion after it.
    Done(Option<String>),
    /// The object changed since `version`: nothing was written.
    Conflict,
    /// The object is gone.
    Gone,
}

/// Give the connection the finalizer when `status` records a leftover,
/// take it away when not; `version` is the object's current
/// resourceVersion (the change applies only to it).
pub async fn sync(
    ctx: &Context,
    conn: &S3Connection,
    status: &S3ConnectionStatus,
    version: Option<&str>,
) -> Result<Changed> {
    let want = wanted(status);
    if want == has(conn) {
        return Ok(Changed::Done(version.map(str::to_string)));
    }
    set(&ctx.client, conn, want, version, ctx.config.status_timeout).await
}

/// Add (`want`) or remove the finalizer, on condition that the object is
/// still at `version`.
async fn set(
    client: &Client,
    conn: &S3Connection,
    want: bool,
    version: Option<&str>,
    timeout: Duration,
) -> Result<Changed> {
    if want {
        add(client, conn, version, timeout).await
    } else {
        remove(client, conn, version, timeout).await
    }
}

/// Add the finalizer by server-side apply of this field manager's
/// finalizers (a set: other finalizers are untouched).
async fn add(
    client: &Client,
    conn: &S3Connection,
    version: Option<&str>,
    timeout: Duration,
) -> Result<Changed> {
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
    let patch = json!({
        "apiVersion": S3Connection::api_version(&()),
        "kind": S3Connection::kind(&()),
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": version,
            "finalizers": [FINALIZER],
        },
    });
    let what = || format!("add the finalizer of S3Connection {ns}/{name}");
    let params = PatchParams::apply(MANAGER).force();
    changed(
        within(
            timeout,
            what,
            api.patch(&name, &params, &Patch::Apply(&patch)),
        )
        .await?,
        what,
    )
}

/// Remove the finalizer, whoever added it: the object is read whole (the
/// cache keeps only whether it has ours) and written with the other
/// finalizers, on condition that it is still at `version` (when given) and
/// at the version read.
async fn remove(
    client: &Client,
    conn: &S3Connection,
    version: Option<&str>,
    timeout: Duration,
) -> Result<Changed> {
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
    let what = || format!("get S3Connection {ns}/{name}");
    let Some(full) = within(timeout, what, api.get_opt(&name))
        .await?
        .map_err(|e| Error::kube(what(), e))?
        .filter(|f| f.uid() == conn.uid())
    else {
        return Ok(Changed::Gone);
    };
    if version.is_some_and(|v| full.resource_version().as_deref() != Some(v)) {
        return Ok(Changed::Conflict);
    }
    release(client, &full, timeout).await
}

/// Remove the finalizer from `conn` (the whole object, as read) if it has
/// it: its other finalizers written back, on condition that the object is
/// still the one read.
async fn release(client: &Client, conn: &S3Connection, timeout: Duration) -> Result<Changed> {
    if !has(conn) {
        return Ok(Changed::Done(conn.resource_version()));
    }
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
    let others: Vec<&String> = conn
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let patch = json!({ "metadata": {
        "resourceVersion": conn.resource_version(),
        "finalizers": others,
    }});
    let what = || format!("remove the finalizer of S3Connection {ns}/{name}");
    let params = PatchParams::default();
    changed(
        within(
            timeout,
            what,
            api.patch(&name, &params, &Patch::Merge(&patch)),
        )
        .await?,
        what,
    )
}

/// What a patch of the finalizers came to.
fn changed(res: kube::Result<S3Connection>, what: impl FnOnce() -> String) -> Result<Changed> {
    match res {
        Ok(o) => Ok(Changed::Done(o.metadata.resource_version)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Changed::Gone),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Changed::Conflict),
        Err(e) => Err(Error::kube(what(), e)),
    }
}

/// A connection being deleted: when it carries the finalizer, try once to
/// remove the leftover probe object its status records, say what became of
/// it in an event, and remove the finalizer.
pub async fn on_delete(conn: Arc<S3Connection>, ctx: &Arc<Context>) -> Result<Action> {
    if !has(&conn) {
        return Ok(Action::await_change());
    }
    let uid = conn.uid().unwrap_or_default();
    let previous = Previous::of(conn.status.as_ref(), &uid);
    if let Some(leftover) = previous.leftover.clone() {
        // Removing it sends requests to the endpoint: a probe slot, like a
        // validation, so that deletions cannot crowd out other tenants.
        let endpoint = slots::endpoint_key(conn.spec.endpoint.as_deref(), &conn.spec.region);
        let ns = conn.namespace().unwrap_or_default();
        let place = match ctx.slots.place(&ns, &endpoint, &uid) {
            Ok(place) => place,
            Err(retry) => return deferred(ctx, &conn, retry),
        };
        let slot = ctx.slots.slot(place).await;
        let cleanup = clean_up_isolated(conn.clone(), ctx.clone(), previous, leftover).await;
        drop(slot);
        report(ctx, &conn, &cleanup).await;
    }
    let version = conn.resource_version();
    match set(
        &ctx.client,
        &conn,
        false,
        version.as_deref(),
        ctx.config.status_timeout,
    )
    .await?
    {
        Changed::Conflict => Ok(again(ctx, &conn, conflict_retry(&uid))),
        Changed::Done(_) | Changed::Gone => Ok(Action::await_change()),
    }
}

/// [`validation::clean_up`] in a task of its own, within
/// [`CLEANUP_DEADLINE`]: whatever happens, an answer.
async fn clean_up_isolated(
    conn: Arc<S3Connection>,
    ctx: Arc<Context>,
    previous: Previous,
    leftover: Leftover,
) -> Cleanup {
    let task = tokio::spawn({
        let (conn, ctx, leftover) = (conn.clone(), ctx.clone(), leftover.clone());
        async move {
            let spec = match validation::valid_spec(&conn.spec, ctx.config.default_interval) {
                Ok(s) => s,
                Err(p) => return Cleanup::Left(leftover, p.message),
            };
            let id = ConnectionId::of(&conn);
            let engine = ctx.engine();
            let resolver = ctx.resolver();
            match validation::clean_up(&engine, &resolver, &spec, &id, previous, Timestamp::now())
                .await
            {
                Ok(Some(c)) => c,
                Ok(None) => Cleanup::NotOurs(leftover),
                Err(ResolveError::Problem(p)) => Cleanup::Left(leftover, p.message),
                Err(ResolveError::Operator(e)) => Cleanup::Left(leftover, e.to_string()),
            }
        }
    });
    let abort = task.abort_handle();
    match tokio::time::timeout(CLEANUP_DEADLINE, task).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => {
            ctx.metrics.validation_panicked();
            Cleanup::Left(leftover, messages::internal_error().message)
        }
        Err(_) => {
            abort.abort();
            let why = messages::cleanup_timed_out(CLEANUP_DEADLINE.as_secs());
            Cleanup::Left(leftover, why)
        }
    }
}

/// Log and publish what became of the leftover.
async fn report(ctx: &Context, conn: &S3Connection, cleanup: &Cleanup) {
    let l = cleanup.leftover();
    let (ns, name) = (conn.namespace().unwrap_or_default(), conn.name_any());
    match cleanup {
        Cleanup::Left(_, why) => warn!(
            namespace = ns,
            name,
            bucket = l.bucket,
            key = l.key,
            "deleted connection's probe object left: {}",
            messages::printable(why)
        ),
        _ => info!(
            namespace = ns,
            name,
            bucket = l.bucket,
            key = l.key,
            removed = matches!(cleanup, Cleanup::Removed(_)),
            "deleted connection's probe object handled"
        ),
    }
    write::publish_cleanup(&ctx.events, conn, cleanup).await;
}

/// Remove the finalizer from every connection in `namespaces` (all when
/// empty) that `selector` selects (all when `None`), whatever their
/// status: for when no operator will run to do it. Each removal applies
/// only to the object as it was listed (its resourceVersion). How many were
/// released.
pub async fn release_all(
    client: &Client,
    namespaces: &[String],
    selector: Option<&str>,
    timeout: Duration,
) -> Result<usize> {
    let scopes: Vec<Api<S3Connection>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let mut released = 0;
    for api in scopes {
        let mut params = ListParams::default().limit(500);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        loop {
            let what = || "list S3Connections".to_string();
            let page = within(timeout, what, api.list(&params))
                .await?
                .map_err(|e| Error::kube(what(), e))?;
            for conn in page.items.iter().filter(|c| has(c)) {
                // Gone, or changed since it was listed: run the command again.
                if let Changed::Done(_) = release(client, conn, timeout).await? {
                    released += 1;
                }
            }
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => params = params.continue_token(&c),
                _ => break,
            }
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_while_a_leftover_is_recorded() {
        let mut s = S3ConnectionStatus::default();
        assert!(!wanted(&s));
        s.leftover_probe_object = Some("p/.s3connection-probe/u".into());
        assert!(wanted(&s));
    }
}
