//! The reconciler: for one `S3Connection`, run the data path
//! `S3Connection` → [`ValidSpec`](crate::spec::ValidSpec) →
//! [`Resolved`](crate::credentials::Resolved) → [`Outcome`] →
//! `S3ConnectionStatus`, write the status when it changed, and say when to
//! look again ([`requeue`]). [`watches`] runs it for every connection.

pub mod freshness;
pub mod latest;
pub mod related;
pub mod requeue;
pub mod resume;
pub mod slots;
#[cfg(test)]
mod tests;
pub mod watches;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use tracing::{debug, error, info};

use crate::allowlist::{self, Allowlist};
use crate::aws::{AwsFactory, Clients, Identities, Outages, S3Target};
use crate::crd::{AuthKind, ConnectionId, S3Connection, S3ConnectionStatus};
use crate::credentials::{CredentialCache, ResolveError, Resolver, SecretVersions, role};
use crate::error::{Error, Result};
use crate::messages;
use crate::outcome::{Outcome, Problem, Reason, Severity};
use crate::probe::{self, Plan, Previous};
use crate::status;
use crate::status::write::{self, Applied};
use crate::telemetry::Metrics;
use crate::{crd, spec};
use requeue::{Failures, jittered, spread_backoff};
use slots::Slots;

pub use freshness::Freshness;
pub use latest::Latest;

pub use watches::run;

/// Settings of a running controller.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_interval: Duration,
    pub allow_operator_identity: bool,
    /// `<cluster>` in the ExternalId `<cluster>:<namespace>` the operator
    /// sends when it assumes a role with its own identity.
    pub cluster_name: Option<String>,
    /// Validations running at once, in all namespaces together.
    pub concurrency: u16,
    /// Validations of one namespace running at once.
    pub namespace_concurrency: u16,
    /// Watch only these namespaces; all namespaces when empty.
    pub namespaces: Vec<String>,
    /// S3-compatible endpoints connections may use.
    pub allowed_endpoints: Allowlist,
    /// Upper bound for one whole validation.
    pub validation_timeout: Duration,
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
            default_interval: crd::rules::DEFAULT_INTERVAL,
            allow_operator_identity: false,
            cluster_name: None,
            concurrency: 16,
            namespace_concurrency: 4,
            namespaces: vec![],
            allowed_endpoints: Allowlist::default(),
            validation_timeout: Duration::from_secs(60),
            status_timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything reconcile needs, shared by all reconciles.
pub struct Context {
    pub client: Client,
    pub events: write::Events,
    pub metrics: Metrics,
    pub aws: Arc<dyn AwsFactory>,
    pub credentials: CredentialCache,
    /// Secret versions, and credentials read per version.
    pub secrets: SecretVersions,
    /// What IRSA needs of each ServiceAccount, from their watch.
    pub accounts: role::ServiceAccounts,
    pub config: Config,
    /// STS and IAM locations that recently did not answer.
    pub outages: Arc<Outages>,
    /// Who credentials are, as STS recently answered: one
    /// GetCallerIdentity per credentials, not per validation.
    pub identities: Identities,
    /// When each connection was last validated and last found working.
    pub freshness: Freshness,
    /// The newest resourceVersion known of each connection.
    pub latest: Latest,
    /// Secret and ServiceAccount watches still on their first list.
    pub related: related::RelatedWatches,
    failures: Failures,
    slots: Slots,
}

impl Context {
    /// Drop what is kept for objects that are gone: failure counts of
    /// deleted connections, credentials of changed or deleted Secrets.
    pub fn prune<'a>(&self, live_uids: impl Iterator<Item = &'a str>) {
        let uids: std::collections::HashSet<&str> = live_uids.collect();
        let keys: std::collections::HashSet<u128> =
            uids.iter().map(|u| freshness::key(u)).collect();
        self.failures.retain(|uid| uids.contains(uid));
        self.freshness.retain(|k| keys.contains(&k));
        self.latest.retain(|k| keys.contains(&k));
        self.secrets.prune();
        self.identities.prune(Instant::now());
    }
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, aws: Arc<dyn AwsFactory>, config: Config) -> Self {
        Self {
            events: write::Events::new(client.clone(), std::env::var("POD_NAME").ok()),
            client,
            metrics,
            aws,
            credentials: CredentialCache::default(),
            secrets: SecretVersions::default(),
            accounts: role::ServiceAccounts::default(),
            outages: Arc::default(),
            identities: Identities::default(),
            slots: Slots::new(
                config.concurrency.into(),
                config.namespace_concurrency.into(),
            ),
            config,
            freshness: Freshness::default(),
            latest: Latest::default(),
            related: related::RelatedWatches::default(),
            failures: Failures::default(),
        }
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            client: &self.client,
            aws: self.aws.as_ref(),
            cache: &self.credentials,
            secrets: &self.secrets,
            accounts: &self.accounts,
            allow_operator_identity: self.config.allow_operator_identity,
            cluster_name: self.config.cluster_name.as_deref(),
        }
    }
}

/// Annotations that ask for a validation now: ours, and Flux's.
pub const REQUESTED_AT: [&str; 2] = [
    "s3connection.dev/requested-at",
    "reconcile.fluxcd.io/requestedAt",
];

/// The value of the first requested-at annotation set, if any.
pub fn requested_at(conn: &S3Connection) -> Option<&str> {
    let annotations = conn.metadata.annotations.as_ref()?;
    REQUESTED_AT
        .iter()
        .find_map(|a| annotations.get(*a))
        .map(String::as_str)
}

/// How soon a reconcile tries again when its namespace had its share of
/// validations running and as many waiting.
fn busy_retry(uid: &str) -> Duration {
    jittered(Duration::from_millis(500), uid) + Duration::from_millis(500)
}

/// The longest a validation waits for the Secret and ServiceAccount
/// watches' first lists (see [`related`]).
const RELATED_LIST_WAIT: Duration = Duration::from_secs(30);

pub async fn reconcile(conn: Arc<S3Connection>, ctx: Arc<Context>) -> Result<Action> {
    ctx.related.wait(RELATED_LIST_WAIT).await;
    let uid = conn.uid().unwrap_or_default();
    let Some(conn) = current(conn, &ctx).await? else {
        return Ok(Action::await_change());
    };
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
        let changed = write_if_changed(&conn, &ctx, &first, &new, version.as_deref(), None).await?;
        return Ok(if changed {
            Action::requeue(conflict_retry(&uid))
        } else {
            Action::await_change()
        });
    }
    let Some(place) = ctx.slots.place(&conn.namespace().unwrap_or_default()) else {
        ctx.metrics.deferred();
        return Ok(Action::requeue(busy_retry(&uid)));
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
            Applied::Conflict => return Ok(Action::requeue(conflict_retry(&uid))),
            Applied::Gone => return Ok(Action::await_change()),
        }
        old = progressing;
    }
    let slot = ctx.slots.slot(place).await;
    let started = Instant::now();
    // One timestamp per validation: every time field written below uses it.
    let now = Timestamp::now();
    let validation = validate_isolated(conn.clone(), ctx.clone(), now).await;
    // The probes are done: the next validation may start while this one's
    // status is written.
    drop(slot);
    let Validation { outcome, interval } = validation?;
    ctx.metrics.validated(outcome.reason, started.elapsed());
    ctx.freshness
        .note(&uid, now, outcome.reason.severity() == Severity::Ok);
    info!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        reason = outcome.reason.as_str(),
        took_ms = started.elapsed().as_millis() as u64,
        "validated: {}",
        outcome.message
    );

    let now = Time(now);
    let new = status::build_status(generation, &old, &outcome, &now);
    // An event compares with what the status said before this validation
    // began, not with the "validating" in between.
    let event = Some((&first, &outcome));
    if write_if_changed(&conn, &ctx, &old, &new, version.as_deref(), event).await? {
        // Changed while it was validated: validate what it is now.
        return Ok(Action::requeue(conflict_retry(&uid)));
    }

    Ok(match outcome.reason.severity() {
        Severity::Transient => {
            let n = ctx.failures.note(&uid);
            Action::requeue(spread_backoff(ctx.config.retry_base, n, interval, &uid))
        }
        _ => {
            ctx.failures.clear(&uid);
            Action::requeue(jittered(interval, &uid))
        }
    })
}

/// The connection as it is now: the cached copy when it is the newest
/// version this process knows of, else (the cache has not yet seen this
/// process's own last write, or the object changed since) the object read
/// from the API server. `None` when it was deleted.
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
/// changed from `since`'s. True when nothing was written because the
/// object changed since `version` (a write conflict).
async fn write_if_changed(
    conn: &S3Connection,
    ctx: &Context,
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    version: Option<&str>,
    event: Option<(&S3ConnectionStatus, &Outcome)>,
) -> Result<bool> {
    if !status::needs_write(old, new) {
        ctx.metrics.status_patch("unchanged", None);
        return Ok(false);
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
    Ok(applied == Applied::Conflict)
}

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
    Action::requeue(retry)
}

/// What one validation found, and when to validate again.
struct Validation {
    outcome: Outcome,
    interval: Duration,
}

impl Validation {
    /// A validation that stopped with `p` before the probes ran. It still
    /// names the auth method and remembers a leftover probe object.
    fn stopped(conn: &S3Connection, ctx: &Context, p: Problem, interval: Duration) -> Self {
        let mut outcome = Outcome::problem(p);
        describe(conn, ctx, &mut outcome);
        let uid = conn.uid().unwrap_or_default();
        outcome.leftover = Previous::of(conn.status.as_ref(), &uid).leftover;
        Self { outcome, interval }
    }
}

/// What every outcome says about the connection, whatever happened.
fn describe(conn: &S3Connection, ctx: &Context, outcome: &mut Outcome) {
    outcome.auth = conn.spec.auth.kind();
    outcome.requested_at = requested_at(conn).map(str::to_string);
    outcome.external_id = match (outcome.auth, &ctx.config.cluster_name) {
        (Some(AuthKind::OperatorRole), Some(cluster)) if ctx.config.allow_operator_identity => {
            Some(role::external_id(
                cluster,
                &conn.namespace().unwrap_or_default(),
            ))
        }
        _ => None,
    };
}

/// Run [`validate`] in a task of its own, within the validation deadline:
/// a panic or a hang in one validation becomes that connection's problem,
/// and every other connection goes on being validated.
async fn validate_isolated(
    conn: Arc<S3Connection>,
    ctx: Arc<Context>,
    now: Timestamp,
) -> Result<Validation> {
    let deadline = ctx.config.validation_timeout;
    let task = tokio::spawn({
        let (conn, ctx) = (conn.clone(), ctx.clone());
        async move { validate(&conn, &ctx, now).await }
    });
    let abort = task.abort_handle();
    let interval = || {
        spec::validate(&conn.spec, ctx.config.default_interval)
            .map(|s| s.interval)
            .unwrap_or(ctx.config.default_interval)
    };
    match tokio::time::timeout(deadline, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => {
            // The panic's message may hold data: the panic hook logged where
            // it happened; here only which connection.
            ctx.metrics.validation_panicked();
            error!(
                namespace = conn.namespace().unwrap_or_default(),
                name = conn.name_any(),
                cancelled = join.is_cancelled(),
                "validation failed internally"
            );
            let p = messages::internal_error();
            Ok(Validation::stopped(&conn, &ctx, p, interval()))
        }
        Err(_) => {
            abort.abort();
            let p = messages::validation_timed_out(deadline.as_secs());
            Ok(Validation::stopped(&conn, &ctx, p, interval()))
        }
    }
}

/// The data path. Kubernetes API failures are errors of the operator;
/// everything else is an outcome for the status.
async fn validate(conn: &S3Connection, ctx: &Context, now: Timestamp) -> Result<Validation> {
    let id = ConnectionId::of(conn);
    let stopped = |p: Problem, interval: Duration| Validation::stopped(conn, ctx, p, interval);

    let spec = match spec::validate(&conn.spec, ctx.config.default_interval) {
        Ok(v) => v,
        Err(invalid) => {
            let p = messages::invalid_spec(&invalid.to_string());
            return Ok(stopped(p, ctx.config.default_interval));
        }
    };
    // Before any Secret, token or request: where would the requests go?
    if let Some(endpoint) = &spec.endpoint
        && !ctx.config.allowed_endpoints.allows(endpoint)
    {
        let entry = allowlist::entry_for(endpoint).unwrap_or_else(|| endpoint.clone());
        let p = messages::endpoint_not_allowed(endpoint, &entry);
        return Ok(stopped(p, spec.interval));
    }
    let resolver = ctx.resolver();
    let trust = match &spec.ca_secret {
        None => None,
        Some(name) => match resolver.trust_roots(&id.namespace, name).await {
            Ok(pem) => Some(pem),
            Err(ResolveError::Problem(p)) => return Ok(stopped(p, spec.interval)),
            Err(ResolveError::Operator(e)) => return Err(e),
        },
    };
    let target = S3Target::of(&spec).trusting(trust);
    let resolved = match resolver.resolve(&spec, &target, &id).await {
        Ok(r) => r,
        Err(ResolveError::Problem(p)) => return Ok(stopped(p, spec.interval)),
        Err(ResolveError::Operator(e)) => return Err(e),
    };

    let clients = Clients::new(
        ctx.aws.as_ref(),
        &target,
        &resolved.credentials,
        ctx.outages.clone(),
    );
    let previous = Previous::of(conn.status.as_ref(), &id.uid);
    let sts = &clients.sts.location;
    let known = ctx
        .identities
        .get(sts, &resolved.credentials, Instant::now());
    let plan = Plan::new(&spec, &resolved, &id, previous, now).knowing(known.as_deref());
    let mut outcome = probe::run(&clients, &plan).await;
    describe(conn, ctx, &mut outcome);
    let outcome = resolved.redactor.scrub_outcome(outcome);
    if outcome.reason == Reason::InvalidCredentials {
        resolver.forget(&resolved);
        ctx.identities.forget(sts, &resolved.credentials);
    } else if known.is_none()
        && let Some(arn) = &outcome.identity
    {
        // What STS just said, as the status shows it (tamed, scrubbed).
        ctx.identities
            .learn(sts, &resolved.credentials, arn, Instant::now());
    }
    Ok(Validation {
        outcome,
        interval: spec.interval,
    })
}
