//! The controller: watches S3Connections (and the Secrets and ServiceAccounts
//! they name), validates each one, and writes the result to its status.
//!
//! Status is written with server-side apply on the status subresource, only
//! when something other than timestamps changed (the validation time is
//! refreshed at most every half interval), so our own writes never cause
//! write storms. The main watch passes only generation changes, so status
//! writes do not re-trigger reconciles; Secret and ServiceAccount changes
//! re-validate the connections that name them within seconds.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Future, FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, error, info, warn};

use crate::api::{S3Connection, S3ConnectionStatus};
use crate::aws::{AwsFactory, S3Target};
use crate::conditions::{self, READY};
use crate::credentials::{AuthKind, CredentialCache, Resolver};
use crate::error::{Error, Result};
use crate::outcome::{Leftover, Outcome, Problem, Reason, Severity};
use crate::probe::{self, Clients, Plan};
use crate::telemetry::Metrics;
use crate::validation::validate_spec;

pub const MANAGER: &str = "s3-connection-operator";

/// Settings of a running controller.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_interval: Duration,
    pub allow_operator_identity: bool,
    pub concurrency: u16,
    /// Watch only this namespace; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Upper bound for one status patch.
    pub status_timeout: Duration,
    /// First retry delay after a transient problem; doubles up to the interval.
    pub retry_base: Duration,
    /// How long in-flight validations may run after a shutdown request.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_interval: crate::validation::DEFAULT_INTERVAL,
            allow_operator_identity: false,
            concurrency: 4,
            namespace: None,
            status_timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything reconcile needs, shared by all reconciles.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub aws: Arc<dyn AwsFactory>,
    pub credentials: CredentialCache,
    pub config: Config,
    /// Consecutive failures per object UID, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, aws: Arc<dyn AwsFactory>, config: Config) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            aws,
            credentials: CredentialCache::default(),
            config,
            failures: Mutex::default(),
        }
    }

    fn note_failure(&self, uid: &str) -> u32 {
        let mut f = self.failures.lock().unwrap();
        let n = f.entry(uid.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    fn clear_failures(&self, uid: &str) {
        self.failures.lock().unwrap().remove(uid);
    }
}

/// `base * 2^(n-1)`, capped.
pub fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

/// Spread re-validations of many connections over up to a tenth of the
/// interval, deterministically per object.
fn jittered(interval: Duration, uid: &str) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut h);
    let spread = interval.as_millis() as u64 / 10;
    if spread == 0 {
        return interval;
    }
    interval + Duration::from_millis(h.finish() % spread)
}

pub async fn reconcile(conn: Arc<S3Connection>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    // One timestamp per validation: every time field written below uses it.
    let now = Time(Timestamp::now());
    let uid = conn.uid().unwrap_or_default();
    let (outcome, interval) = validate(&conn, &ctx).await?;
    ctx.metrics.validated(outcome.reason, started.elapsed());
    info!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        reason = outcome.reason.as_str(),
        took_ms = started.elapsed().as_millis() as u64,
        "validated: {}",
        outcome.message
    );

    let old = conn.status.clone().unwrap_or_default();
    let new = build_status(&conn, &old, &outcome, &now);
    if needs_write(&old, &new, &now, interval) {
        write_status(&conn, &ctx, &new).await?;
        publish_transition(&conn, &ctx, &old, &new, &outcome).await;
    } else {
        ctx.metrics.status_patch("unchanged", None);
    }

    Ok(match outcome.reason.severity() {
        Severity::Transient => {
            let n = ctx.note_failure(&uid);
            Action::requeue(backoff(ctx.config.retry_base, n, interval))
        }
        _ => {
            ctx.clear_failures(&uid);
            Action::requeue(jittered(interval, &uid))
        }
    })
}

pub fn error_policy(conn: Arc<S3Connection>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(err.metric_label());
    let n = ctx.note_failure(&conn.uid().unwrap_or_default());
    let retry = backoff(ctx.config.retry_base, n, Duration::from_secs(300));
    error!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        error = %err,
        hint = err.hint().unwrap_or(""),
        retry_in_s = retry.as_secs(),
        "reconcile failed"
    );
    Action::requeue(retry)
}

/// Spec check, credentials, probes. Kubernetes API failures are errors of the
/// operator; everything else is an outcome for the status.
async fn validate(conn: &S3Connection, ctx: &Context) -> Result<(Outcome, Duration)> {
    let leftover = leftover_of(conn.status.as_ref());
    let early = |p: Problem| {
        let mut o = Outcome::problem(p);
        o.leftover = leftover.clone();
        o
    };
    let valid = match validate_spec(&conn.spec, ctx.config.default_interval) {
        Ok(v) => v,
        Err(msg) => {
            return Ok((
                early(Problem::new(
                    Reason::InvalidSpec,
                    format!("{msg}. Fix the S3Connection spec."),
                )),
                ctx.config.default_interval,
            ));
        }
    };
    let resolver = Resolver {
        client: &ctx.client,
        aws: ctx.aws.as_ref(),
        cache: &ctx.credentials,
        allow_operator_identity: ctx.config.allow_operator_identity,
    };
    let resolved = match resolver.resolve(conn).await? {
        Ok(r) => r,
        Err(p) => return Ok((early(p), valid.interval)),
    };

    let endpoint = conn.spec.endpoint.clone();
    let target = S3Target {
        region: conn.spec.region.clone(),
        endpoint: endpoint.clone(),
        force_path_style: conn.spec.force_path_style.unwrap_or(false),
    };
    let identity = ctx.aws.identity_service_available(endpoint.as_deref());
    let creds = resolved.credentials.clone();
    let clients = Clients {
        s3: ctx.aws.s3(&target, creds.clone()),
        sts: identity.then(|| ctx.aws.sts(&target.region, Some(creds.clone()))),
        iam: identity.then(|| ctx.aws.iam(creds.clone())),
    };
    let uid = conn.uid().unwrap_or_default();
    let plan = Plan {
        bucket: valid.target.bucket.clone(),
        prefix: valid.target.prefix.clone(),
        region: target.region.clone(),
        endpoint: endpoint.unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", target.region)),
        permissions: valid.permissions.clone(),
        probe_key: probe::probe_key(&valid.target.prefix, &uid),
        probe_body: format!(
            "s3-connection-operator probe for S3Connection {}/{} ({uid}) at {}\n",
            conn.namespace().unwrap_or_default(),
            conn.name_any(),
            Timestamp::now()
        ),
        leftover,
        previous: conn
            .status
            .as_ref()
            .map(|s| s.permissions.clone())
            .unwrap_or_default(),
        sts_authoritative: conn.spec.endpoint.is_none(),
        role_arn: resolved.role_arn.clone(),
    };
    let outcome = probe::run(&clients, &plan).await;
    if outcome.reason == Reason::InvalidCredentials
        && let Some(key) = &resolved.cache_key
    {
        ctx.credentials.invalidate(key);
    }
    Ok((resolved.redactor.scrub_outcome(outcome), valid.interval))
}

fn leftover_of(status: Option<&S3ConnectionStatus>) -> Option<Leftover> {
    let s = status?;
    Some(Leftover {
        bucket: s.leftover_probe_bucket.clone()?,
        key: s.leftover_probe_object.clone()?,
    })
}

/// The status an outcome implies. A transient problem changes only the
/// conditions: what the last completed validation proved stays visible.
pub fn build_status(
    conn: &S3Connection,
    old: &S3ConnectionStatus,
    o: &Outcome,
    now: &Time,
) -> S3ConnectionStatus {
    let generation = conn.metadata.generation;
    let conditions = conditions::merge(
        &old.conditions,
        &conditions::from_outcome(o),
        generation,
        now,
    );
    let auth = AuthKind::of(conn).map(|a| a.as_str().to_string());
    let (leftover_probe_object, leftover_probe_bucket) = match &o.leftover {
        Some(l) => (Some(l.key.clone()), Some(l.bucket.clone())),
        None => (None, None),
    };
    if o.reason.severity() == Severity::Transient {
        return S3ConnectionStatus {
            observed_generation: generation,
            conditions,
            auth,
            leftover_probe_object,
            leftover_probe_bucket,
            ..old.clone()
        };
    }
    S3ConnectionStatus {
        observed_generation: generation,
        conditions,
        auth,
        identity: o.identity.clone(),
        bucket_region: o.bucket_region.clone(),
        permissions: o.permissions.clone(),
        last_validation_time: Some(now.clone()),
        leftover_probe_object,
        leftover_probe_bucket,
    }
}

/// Whether the new status differs from the old in anything but timestamps,
/// or the validation time is older than half an interval.
pub fn needs_write(
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    now: &Time,
    interval: Duration,
) -> bool {
    if !conditions::same_ignoring_time(&old.conditions, &new.conditions) {
        return true;
    }
    let strip = |s: &S3ConnectionStatus| S3ConnectionStatus {
        conditions: vec![],
        last_validation_time: None,
        ..s.clone()
    };
    if strip(old) != strip(new) {
        return true;
    }
    match (&old.last_validation_time, &new.last_validation_time) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(before), Some(_)) => {
            let age = now.0.duration_since(before.0);
            age.as_secs_f64() >= interval.as_secs_f64() / 2.0
        }
    }
}

async fn write_status(
    conn: &S3Connection,
    ctx: &Context,
    status: &S3ConnectionStatus,
) -> Result<()> {
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let api: Api<S3Connection> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": S3Connection::api_version(&()),
        "kind": S3Connection::kind(&()),
        "status": status,
    });
    let started = Instant::now();
    let params = PatchParams::apply(MANAGER).force();
    let res = tokio::time::timeout(
        ctx.config.status_timeout,
        api.patch_status(&name, &params, &Patch::Apply(&patch)),
    )
    .await;
    match res {
        Ok(Ok(_)) => {
            ctx.metrics.status_patch("written", Some(started.elapsed()));
            Ok(())
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            // Deleted while we validated: nothing to report to.
            ctx.metrics.status_patch("gone", Some(started.elapsed()));
            Ok(())
        }
        Ok(Err(e)) => {
            ctx.metrics.status_patch("failed", Some(started.elapsed()));
            Err(Error::kube(
                format!("patch status of S3Connection {ns}/{name}"),
                e,
            ))
        }
        Err(_) => {
            ctx.metrics.status_patch("failed", Some(started.elapsed()));
            Err(Error::KubeTimeout {
                context: format!("patch status of S3Connection {ns}/{name}"),
                timeout: ctx.config.status_timeout,
            })
        }
    }
}

/// One event per change of the Ready status, not one per validation.
async fn publish_transition(
    conn: &S3Connection,
    ctx: &Context,
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    outcome: &Outcome,
) {
    let before = conditions::find(&old.conditions, READY).map(|c| c.status.as_str());
    let after = conditions::find(&new.conditions, READY).map(|c| c.status.as_str());
    if before == after {
        return;
    }
    let type_ = if after == Some("True") {
        EventType::Normal
    } else {
        EventType::Warning
    };
    let mut note = outcome.message.clone();
    if note.len() > 1000 {
        let mut cut = 1000;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    let ev = Event {
        type_,
        reason: outcome.reason.as_str().to_string(),
        note: Some(note),
        action: "Validate".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &conn.object_ref(&())).await {
        warn!(
            namespace = conn.namespace().unwrap_or_default(),
            name = conn.name_any(),
            error = %e,
            "could not publish event"
        );
    }
}

/// Connections in `secret`'s namespace that read it.
fn connections_using_secret(
    store: &Store<S3Connection>,
    ns: Option<String>,
    name: &str,
) -> Vec<ObjectRef<S3Connection>> {
    store
        .state()
        .iter()
        .filter(|c| c.namespace() == ns)
        .filter(|c| {
            c.spec
                .auth
                .access_key
                .as_ref()
                .is_some_and(|a| a.secret_name == name)
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

fn connections_using_service_account(
    store: &Store<S3Connection>,
    ns: Option<String>,
    name: &str,
) -> Vec<ObjectRef<S3Connection>> {
    store
        .state()
        .iter()
        .filter(|c| c.namespace() == ns)
        .filter(|c| {
            c.spec
                .auth
                .iam_role
                .as_ref()
                .and_then(|r| r.service_account_name.as_deref())
                == Some(name)
        })
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

/// Count connections by the status of their Ready condition.
pub fn ready_counts(store: &Store<S3Connection>) -> Vec<(String, i64)> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for c in store.state() {
        let ready = c
            .status
            .as_ref()
            .and_then(|s| conditions::find(&s.conditions, READY))
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
/// end. `ready` turns true once the S3Connection cache is synced.
pub async fn run(
    ctx: Arc<Context>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.boxed().shared();
    let grace = ctx.config.shutdown_grace;
    let synced_before_stop = ready.clone();
    let client = ctx.client.clone();
    let ns = ctx.config.namespace.clone();
    let conns: Api<S3Connection> = api_for(&client, &ns);
    // Metadata only: the operator never caches Secret data, and reads the one
    // Secret a connection names when it validates.
    let secrets: Api<PartialObjectMeta<Secret>> = api_for(&client, &ns);
    let accounts: Api<PartialObjectMeta<ServiceAccount>> = api_for(&client, &ns);

    let (reader, writer) = reflector::store();
    let synced = ready.clone();
    let main = watcher(conns, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .inspect(move |ev| {
            // The initial list is in the cache: ready to serve.
            if matches!(ev, Ok(watcher::Event::InitDone)) && !synced.swap(true, Ordering::SeqCst) {
                info!("S3Connection cache synced; ready");
            }
        })
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());

    let secret_events = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default());
    let sa_events = watcher(accounts, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default());

    {
        let reader = reader.clone();
        ctx.metrics.set_ready_source(move || ready_counts(&reader));
    }

    let secret_store = reader.clone();
    let sa_store = reader.clone();
    let concurrency = ctx.config.concurrency;
    let controller = Controller::for_stream(main, reader)
        .watches_stream(secret_events, move |s| {
            connections_using_secret(&secret_store, s.namespace(), &s.name_any())
        })
        .watches_stream(sa_events, move |sa| {
            connections_using_service_account(&sa_store, sa.namespace(), &sa.name_any())
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(object = %obj, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(e) => warn!(error = %e, "controller stream error"),
            }
        });
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
        _ = controller => {}
        _ = deadline => {}
    }
    info!("controller stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PermissionOutcome, PermissionResult};
    use crate::outcome::Problem;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn conn() -> S3Connection {
        let mut c: S3Connection = serde_json::from_value(json!({
            "apiVersion": "s3connection.dev/v1alpha1",
            "kind": "S3Connection",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u1", "generation": 3},
            "spec": {"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "s"}}}
        }))
        .unwrap();
        c.status = None;
        c
    }

    fn ok_outcome() -> Outcome {
        Outcome {
            reason: Reason::Validated,
            message: "fine".into(),
            authenticated: true,
            bucket_reached: true,
            identity: Some("arn:aws:iam::123456789012:user/u".into()),
            bucket_region: Some("us-east-1".into()),
            permissions: vec![PermissionResult {
                action: "s3:ListBucket".into(),
                result: PermissionOutcome::Allowed,
                message: String::new(),
            }],
            leftover: None,
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(base, 1, cap), Duration::from_secs(5));
        assert_eq!(backoff(base, 2, cap), Duration::from_secs(10));
        assert_eq!(backoff(base, 4, cap), Duration::from_secs(40));
        assert_eq!(backoff(base, 5, cap), cap);
        assert_eq!(backoff(base, 1000, cap), cap);
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let i = Duration::from_secs(600);
        let j = jittered(i, "some-uid");
        assert!(j >= i && j < i + Duration::from_secs(60));
        assert_eq!(j, jittered(i, "some-uid"));
    }

    #[test]
    fn status_from_validated_outcome() {
        let c = conn();
        let s = build_status(&c, &S3ConnectionStatus::default(), &ok_outcome(), &t(100));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.auth.as_deref(), Some("AccessKey"));
        assert_eq!(
            s.identity.as_deref(),
            Some("arn:aws:iam::123456789012:user/u")
        );
        assert_eq!(s.last_validation_time, Some(t(100)));
        assert_eq!(s.conditions.len(), 5);
    }

    #[test]
    fn transient_outcome_keeps_what_was_proved() {
        let c = conn();
        let first = build_status(&c, &S3ConnectionStatus::default(), &ok_outcome(), &t(100));
        let down = Outcome::problem(Problem::new(Reason::EndpointUnreachable, "down"));
        let second = build_status(&c, &first, &down, &t(200));
        assert_eq!(second.permissions, first.permissions);
        assert_eq!(second.identity, first.identity);
        assert_eq!(second.last_validation_time, Some(t(100)));
        let ready = conditions::find(&second.conditions, READY).unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.last_transition_time, t(200));
    }

    #[test]
    fn leftover_is_kept_in_status() {
        let c = conn();
        let mut o = ok_outcome();
        o.leftover = Some(Leftover {
            bucket: "b".into(),
            key: ".s3connection-probe/u1".into(),
        });
        let s = build_status(&c, &S3ConnectionStatus::default(), &o, &t(1));
        assert_eq!(
            s.leftover_probe_object.as_deref(),
            Some(".s3connection-probe/u1")
        );
        assert_eq!(leftover_of(Some(&s)), o.leftover);
    }

    #[test]
    fn unchanged_status_is_not_rewritten_until_half_an_interval() {
        let c = conn();
        let interval = Duration::from_secs(600);
        let first = build_status(&c, &S3ConnectionStatus::default(), &ok_outcome(), &t(1000));
        assert!(needs_write(
            &S3ConnectionStatus::default(),
            &first,
            &t(1000),
            interval
        ));
        let again = build_status(&c, &first, &ok_outcome(), &t(1100));
        assert!(!needs_write(&first, &again, &t(1100), interval));
        let later = build_status(&c, &first, &ok_outcome(), &t(1300));
        assert!(needs_write(&first, &later, &t(1300), interval));
        let mut changed = ok_outcome();
        changed.reason = Reason::PermissionDenied;
        let flipped = build_status(&c, &first, &changed, &t(1010));
        assert!(needs_write(&first, &flipped, &t(1010), interval));
        // Timestamps of unchanged conditions survive the rewrite.
        assert!(
            later
                .conditions
                .iter()
                .all(|c| c.last_transition_time == t(1000))
        );
    }

    #[test]
    fn secret_and_service_account_mapping() {
        let (reader, mut writer) = reflector::store::<S3Connection>();
        let mut a = conn();
        a.metadata.name = Some("a".into());
        let mut b = conn();
        b.metadata.name = Some("b".into());
        b.metadata.namespace = Some("other".into());
        let mut irsa: S3Connection = serde_json::from_value(json!({
            "apiVersion": "s3connection.dev/v1alpha1",
            "kind": "S3Connection",
            "metadata": {"name": "irsa", "namespace": "ns"},
            "spec": {"bucket": "b", "region": "us-east-1", "auth": {"iamRole": {"serviceAccountName": "sa"}}}
        }))
        .unwrap();
        irsa.status = None;
        for obj in [a, b, irsa] {
            writer.apply_watcher_event(&watcher::Event::Apply(obj));
        }
        let hits = connections_using_secret(&reader, Some("ns".into()), "s");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "a");
        assert!(connections_using_secret(&reader, Some("ns".into()), "other").is_empty());
        let hits = connections_using_service_account(&reader, Some("ns".into()), "sa");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "irsa");
        assert_eq!(ready_counts(&reader), vec![("Unknown".to_string(), 3)]);
    }
}
