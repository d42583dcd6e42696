//! Running the reconciler: the S3Connection watch (of this process's shard
//! only, see [`super::shard`]; only generation changes trigger a
//! validation, so our own status writes do not), metadata-only
//! watches of Secrets and ServiceAccounts that re-validate the connections
//! naming them when they change (not for their first list: see
//! [`super::related`]), readiness, and a bounded graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Future, FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use tracing::{debug, info, warn};

use super::related::changes;
use super::resume::{NoBackoff, resilient};
use super::triggers::Sight;
use super::{Context, Freshness, error_policy, reconcile};
use crate::crd::rules::requested_at;
use crate::crd::{S3Connection, S3ConnectionSpec};
use crate::credentials::secret::credentials_selector;
use crate::status::conditions::{CondStatus, ConditionType, find};
use crate::telemetry::ConnectionView;

/// Whether a connection's spec names Secret `name`: its access key's, or
/// its CA bundle's.
fn names_secret(spec: &S3ConnectionSpec, name: &str) -> bool {
    let key = spec
        .auth
        .access_key
        .as_ref()
        .map(|a| a.secret_name.as_str());
    let ca = spec.ca_secret_ref.as_ref().map(|r| r.name.as_str());
    key == Some(name) || ca == Some(name)
}

/// Whether a connection's spec names ServiceAccount `name`.
fn names_service_account(spec: &S3ConnectionSpec, name: &str) -> bool {
    spec.auth
        .iam_role
        .as_ref()
        .and_then(|r| r.service_account_name.as_deref())
        == Some(name)
}

/// Connections in `object`'s namespace whose spec names it (via `names`).
fn connections_naming<K: Resource>(
    store: &Store<S3Connection>,
    object: &K,
    names: fn(&S3ConnectionSpec, &str) -> bool,
) -> Vec<ObjectRef<S3Connection>> {
    let ns = object.meta().namespace.as_deref();
    let Some(name) = object.meta().name.as_deref() else {
        return vec![];
    };
    store
        .state()
        .iter()
        .filter(|c| c.metadata.namespace.as_deref() == ns)
        .filter(|c| names(&c.spec, name))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

fn api_for<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Whether the watch's news of `c` goes to kube's scheduler: a change
/// does; a connection seen for the first time goes to the paced wakeups
/// ([`super::wakeups`]) instead, at once or, when it is Ready from before
/// this process, at its point of the interval ([`super::proofs`]).
fn worth_a_reconcile(ctx: &Context, c: &S3Connection) -> bool {
    match ctx.triggers.sight(c) {
        Sight::Changed => true,
        Sight::Same => false,
        Sight::First => {
            let wait = ctx.proofs.first_wait(c, jiff::Timestamp::now());
            ctx.wakeups.after(c, wait.unwrap_or_default());
            false
        }
    }
}

/// What the S3Connection cache keeps of an object's metadata: what finding
/// it, writing its status and events, and the requested-at annotations
/// need (a value that is not an acceptable token is kept as one character:
/// a tenant cannot grow the cache with annotations), and whether it carries
/// the operator's finalizer. Not its managed fields, labels (the API server
/// applies the shard's selector), other annotations (a client-side apply
/// copy of the whole object, Helm's and Argo CD's tracking), owner
/// references or other finalizers: with 10,000 connections these were most
/// of the cache.
fn slim(c: &mut S3Connection) {
    let m = &mut c.metadata;
    let annotations = m.annotations.take().and_then(|a| {
        let kept: std::collections::BTreeMap<String, String> = a
            .into_iter()
            .filter(|(k, _)| super::REQUESTED_AT.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = requested_at::kept(&v).to_string();
                (k, v)
            })
            .collect();
        (!kept.is_empty()).then_some(kept)
    });
    let finalizers = m
        .finalizers
        .take()
        .filter(|f| f.iter().any(|f| f == super::finalizer::FINALIZER))
        .map(|_| vec![super::finalizer::FINALIZER.to_string()]);
    *m = kube::api::ObjectMeta {
        finalizers,
        name: m.name.take(),
        namespace: m.namespace.take(),
        uid: m.uid.take(),
        resource_version: m.resource_version.take(),
        generation: m.generation,
        deletion_timestamp: m.deletion_timestamp.take(),
        annotations,
        ..Default::default()
    };
}

/// The Secret watch: with labelled credentials required, only labelled
/// Secrets, so that the operator never learns of any other Secret from its
/// watch (an unlabelled one a connection names is refused from its
/// metadata when it validates).
fn secret_watch(require_label: bool) -> watcher::Config {
    let all = watcher::Config::default();
    if require_label {
        all.labels(&credentials_selector())
    } else {
        all
    }
}

/// Call `each` with what the metrics show of each cached connection.
pub fn connection_views<'a>(
    stores: impl Iterator<Item = &'a Store<S3Connection>>,
    default_interval: Duration,
    freshness: &Freshness,
    each: &mut dyn FnMut(&ConnectionView<'_>),
) {
    for c in stores.flat_map(|s| s.state()) {
        let status = c.status.as_ref();
        let ready = status.and_then(|s| find(&s.conditions, ConditionType::Ready));
        let interval = crate::spec::interval_of(&c.spec, default_interval);
        each(&ConnectionView {
            namespace: c.metadata.namespace.as_deref().unwrap_or_default(),
            name: c.metadata.name.as_deref().unwrap_or_default(),
            ready: ready
                .and_then(|r| r.status.parse().ok())
                .unwrap_or(CondStatus::Unknown),
            reason: ready.map(|r| r.reason.as_str()).unwrap_or_default(),
            last_success: c
                .metadata
                .uid
                .as_deref()
                .and_then(|uid| freshness.last_success(uid))
                .map(|t| t as f64),
            interval_seconds: interval.as_secs_f64(),
            suspended: c.spec.suspend == Some(true),
            requests: c
                .metadata
                .uid
                .as_deref()
                .and_then(|uid| freshness.requests(uid)),
        });
    }
}

/// Run the controller until `shutdown` resolves (then finish in-flight
/// reconciles, for at most `Config::shutdown_grace`) or the watch streams
/// end. With `Config::namespaces` one controller per namespace runs (its
/// watches and RBAC stay in that namespace), else one for all namespaces.
/// `ready` turns true once every S3Connection cache is synced.
pub async fn run(
    ctx: Arc<Context>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.boxed().shared();
    let grace = ctx.config.shutdown_grace;
    let scopes: Vec<Option<String>> = if ctx.config.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.config.namespaces.iter().cloned().map(Some).collect()
    };
    let synced: Arc<Vec<AtomicBool>> =
        Arc::new(scopes.iter().map(|_| AtomicBool::new(false)).collect());
    let mut stores = vec![];
    let mut controllers = vec![];
    for (i, scope) in scopes.into_iter().enumerate() {
        let (synced, ready) = (synced.clone(), ready.clone());
        let on_synced = move || {
            synced[i].store(true, Ordering::SeqCst);
            if synced.iter().all(|s| s.load(Ordering::SeqCst))
                && !ready.swap(true, Ordering::SeqCst)
            {
                info!("S3Connection cache synced; ready");
            }
        };
        let (store, controller) = controller(ctx.clone(), scope, on_synced, shutdown.clone());
        stores.push(store);
        controllers.push(controller);
    }
    let live = stores.clone();
    let default_interval = ctx.config.default_interval;
    let views = ctx.clone();
    ctx.metrics.set_ready_source(move |each| {
        connection_views(stores.iter(), default_interval, &views.freshness, each)
    });
    // Now and then, forget what is kept for objects that are gone.
    let pruning = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(300));
            loop {
                every.tick().await;
                let conns: Vec<_> = live.iter().flat_map(|s| s.state()).collect();
                ctx.prune(conns.iter().filter_map(|c| c.metadata.uid.as_deref()));
            }
        })
    };

    let synced_before_stop = ready.clone();
    // The controller waits for its cache before it stops; a cache that never
    // syncs (say, RBAC forbids listing) must not keep the process alive.
    let deadline = async move {
        shutdown.await;
        if synced_before_stop.load(Ordering::SeqCst) {
            tokio::time::sleep(grace).await;
            warn!(
                grace_s = grace.as_secs(),
                "in-flight validations did not finish in time; stopping anyway"
            );
        } else {
            info!("stopping before the cache synced; nothing was in flight");
        }
    };
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = deadline => {}
    }
    pruning.abort();
    info!("controller stopped");
}

/// The controller for one namespace (or all): its store, and the future
/// that runs it.
fn controller(
    ctx: Arc<Context>,
    scope: Option<String>,
    on_synced: impl Fn() + Send + Sync + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) -> (Store<S3Connection>, impl Future<Output = ()>) {
    let client = ctx.client.clone();
    let conns: Api<S3Connection> = api_for(&client, &scope);
    // Metadata only: the operator never caches Secret data, and reads the one
    // Secret a connection names when it validates.
    let secrets: Api<PartialObjectMeta<Secret>> = api_for(&client, &scope);
    let accounts: Api<PartialObjectMeta<ServiceAccount>> = api_for(&client, &scope);

    let metrics = ctx.metrics.clone();
    let (reader, writer) = reflector::store();
    // Only this shard's connections: the API server filters them.
    let main = watcher(
        conns,
        ctx.config
            .shard
            .watch(watcher::Config::default().any_semantic()),
    );
    let main = resilient("s3connections", main, metrics.clone())
        .modify(slim)
        .reflect(writer)
        .inspect({
            let ctx = ctx.clone();
            move |ev| match ev {
                // A first list: the connections the fleet had when this
                // process started (or relisted) are spread over their
                // intervals, not validated all at once.
                Ok(watcher::Event::InitApply(c)) => {
                    let interval = crate::spec::interval_of(&c.spec, ctx.config.default_interval);
                    ctx.proofs.listed(c, jiff::Timestamp::now(), interval);
                }
                // The initial list is in the cache: ready to serve.
                Ok(watcher::Event::InitDone) => on_synced(),
                // Gone (deleted, or relabelled out of this shard): its
                // next look would find nothing.
                Ok(watcher::Event::Delete(c)) => {
                    if let Some(uid) = c.metadata.uid.as_deref() {
                        ctx.wakeups.forget(uid);
                    }
                }
                _ => {}
            }
        })
        .applied_objects()
        .try_filter({
            let ctx = ctx.clone();
            move |c| futures::future::ready(worth_a_reconcile(&ctx, c))
        });

    // Secret metadata: only each Secret's version is kept, so that a Secret
    // whose version did not change is not read again.
    // Neither watch's first list triggers a validation (see `related`).
    ctx.related.expect(2);
    let listed = || {
        let ctx = ctx.clone();
        move || ctx.related.listed()
    };
    let secret_watch = secret_watch(ctx.config.require_credentials_label);
    let mut versions = ctx.secrets.watch();
    let secret_events = resilient("secrets", watcher(secrets, secret_watch), metrics.clone())
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                versions.apply(ev);
            }
        });
    let secret_events = changes("secrets", secret_events, listed());
    // ServiceAccount metadata: IRSA's uid, role and audience of each.
    let mut known = ctx.accounts.watch();
    let sa_events = resilient(
        "serviceaccounts",
        watcher(accounts, watcher::Config::default()),
        metrics,
    )
    .inspect(move |ev| {
        if let Ok(ev) = ev {
            known.apply(ev);
        }
    });
    let sa_events = changes("serviceaccounts", sa_events, listed());

    let secret_store = reader.clone();
    let sa_store = reader.clone();
    let concurrency = ctx.slots.controller_concurrency();
    let controller = Controller::for_stream(main, reader.clone())
        .watches_stream(secret_events, move |s| {
            connections_naming(&secret_store, &s, names_secret)
        })
        .watches_stream(sa_events, move |sa| {
            connections_naming(&sa_store, &sa, names_service_account)
        })
        // Each connection's next look, from reconcile ([`super::wakeups`]).
        .reconcile_on(
            ctx.wakeups
                .open(scope.clone(), 2 * usize::from(concurrency)),
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        // Each watch backs off on its own; one watch's trouble must not
        // pause the others.
        .trigger_backoff(NoBackoff)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(object = %obj, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                // Due for another look, but deleted (or moved to another
                // shard) since.
                Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                    debug!(object = %obj, "due again, but no longer in the cache")
                }
                // Already logged, with the watch's name, by `resilient`.
                Err(kube::runtime::controller::Error::QueueError(e)) => {
                    debug!(error = %e, "watch error reached the controller")
                }
                Err(e) => warn!(error = %e, "controller stream error"),
            }
        });
    (reader, controller)
}

#[cfg(test)]
mod tests;
