//! Running the reconciler: the S3Connection watch (only generation changes
//! trigger a validation, so our own status writes do not), metadata-only
//! watches of Secrets and ServiceAccounts that re-validate the connections
//! naming them, readiness, and a bounded graceful shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Future, FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource};
use tracing::{debug, info, warn};

use super::resume::{NoBackoff, resilient};
use super::{Context, error_policy, reconcile};
use crate::crd::{S3Connection, S3ConnectionSpec};
use crate::status::conditions::{ConditionType, find};

/// The Secret a connection's spec names, if any.
fn secret_of(spec: &S3ConnectionSpec) -> Option<&str> {
    spec.auth
        .access_key
        .as_ref()
        .map(|a| a.secret_name.as_str())
}

/// The ServiceAccount a connection's spec names, if any.
fn service_account_of(spec: &S3ConnectionSpec) -> Option<&str> {
    spec.auth
        .iam_role
        .as_ref()
        .and_then(|r| r.service_account_name.as_deref())
}

/// Connections in `object`'s namespace whose spec names it (via `named`).
fn connections_naming<K: Resource>(
    store: &Store<S3Connection>,
    object: &K,
    named: fn(&S3ConnectionSpec) -> Option<&str>,
) -> Vec<ObjectRef<S3Connection>> {
    let ns = object.meta().namespace.as_deref();
    let name = object.meta().name.as_deref();
    store
        .state()
        .iter()
        .filter(|c| c.metadata.namespace.as_deref() == ns)
        .filter(|c| named(&c.spec).is_some() && named(&c.spec) == name)
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

/// What the S3Connection cache keeps of an object: not its managed fields
/// or a client-side-apply copy of itself (often more than half of it).
fn slim(c: &mut S3Connection) {
    c.metadata.managed_fields = None;
    if let Some(a) = c.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Of a Secret's metadata only what finding it and its version needs (not
/// its annotations: a client-side-applied Secret carries its whole data in
/// one).
fn names_and_versions(m: &mut kube::api::ObjectMeta) {
    *m = kube::api::ObjectMeta {
        name: m.name.take(),
        namespace: m.namespace.take(),
        resource_version: m.resource_version.take(),
        uid: m.uid.take(),
        ..Default::default()
    };
}

/// Count connections by the status of their Ready condition.
pub fn ready_counts<'a>(
    stores: impl Iterator<Item = &'a Store<S3Connection>>,
) -> Vec<(String, i64)> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for c in stores.flat_map(|s| s.state()) {
        let ready = c
            .status
            .as_ref()
            .and_then(|s| find(&s.conditions, ConditionType::Ready))
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".into());
        *counts.entry(ready).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort();
    v
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
    ctx.metrics
        .set_ready_source(move || ready_counts(stores.iter()));
    // Now and then, forget what is kept for objects that are gone.
    let pruning = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(300));
            loop {
                every.tick().await;
                let uids: std::collections::HashSet<String> = live
                    .iter()
                    .flat_map(|s| s.state())
                    .filter_map(|c| c.metadata.uid.clone())
                    .collect();
                ctx.prune(|uid| uids.contains(uid));
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
    let main = watcher(conns, watcher::Config::default().any_semantic());
    let main = resilient("s3connections", main, metrics.clone())
        .modify(slim)
        .reflect(writer)
        .inspect(move |ev| {
            // The initial list is in the cache: ready to serve.
            if matches!(ev, Ok(watcher::Event::InitDone)) {
                on_synced();
            }
        })
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());

    // Secret metadata, kept (names and versions only) so that a Secret
    // whose version did not change is not read again.
    let (secret_versions, secret_writer) = reflector::store();
    ctx.secrets.watch(secret_versions);
    let secret_events = resilient(
        "secrets",
        watcher(secrets, watcher::Config::default()),
        metrics.clone(),
    )
    .modify(|s: &mut PartialObjectMeta<Secret>| names_and_versions(&mut s.metadata))
    .reflect(secret_writer)
    .touched_objects()
    .predicate_filter(predicates::resource_version, Default::default());
    let sa_events = resilient(
        "serviceaccounts",
        watcher(accounts, watcher::Config::default()),
        metrics,
    )
    .touched_objects()
    .predicate_filter(predicates::resource_version, Default::default());

    let secret_store = reader.clone();
    let sa_store = reader.clone();
    let concurrency = ctx.config.concurrency;
    let controller = Controller::for_stream(main, reader.clone())
        .watches_stream(secret_events, move |s| {
            connections_naming(&secret_store, &s, secret_of)
        })
        .watches_stream(sa_events, move |sa| {
            connections_naming(&sa_store, &sa, service_account_of)
        })
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
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(name: &str, ns: &str, auth: serde_json::Value) -> S3Connection {
        let mut c: S3Connection = serde_json::from_value(json!({
            "apiVersion": "s3connection.dev/v1alpha1",
            "kind": "S3Connection",
            "metadata": {"name": name, "namespace": ns, "uid": "u1", "generation": 3},
            "spec": {"bucket": "b", "region": "us-east-1", "auth": auth}
        }))
        .unwrap();
        c.status = None;
        c
    }

    fn meta<K: Resource<DynamicType = ()>>(ns: &str, name: &str) -> PartialObjectMeta<K> {
        PartialObjectMeta {
            types: None,
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            _phantom: Default::default(),
        }
    }

    #[test]
    fn secret_and_service_account_mapping() {
        let (reader, mut writer) = reflector::store::<S3Connection>();
        let a = conn("a", "ns", json!({"accessKey": {"secretName": "s"}}));
        let b = conn("b", "other", json!({"accessKey": {"secretName": "s"}}));
        let irsa = conn(
            "irsa",
            "ns",
            json!({"iamRole": {"serviceAccountName": "sa"}}),
        );
        for obj in [a, b, irsa] {
            writer.apply_watcher_event(&watcher::Event::Apply(obj));
        }
        let secret = |ns, name| meta::<Secret>(ns, name);
        let hits = connections_naming(&reader, &secret("ns", "s"), secret_of);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "a");
        assert!(connections_naming(&reader, &secret("ns", "other"), secret_of).is_empty());
        let sa = meta::<ServiceAccount>("ns", "sa");
        let hits = connections_naming(&reader, &sa, service_account_of);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "irsa");
        assert_eq!(
            ready_counts(std::iter::once(&reader)),
            vec![("Unknown".to_string(), 3)]
        );
    }
}
