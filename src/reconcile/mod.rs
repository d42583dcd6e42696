//! The reconciler: for one `S3Connection`, run the data path
//! `S3Connection` → [`ValidSpec`](crate::spec::ValidSpec) →
//! [`Resolved`](crate::credentials::Resolved) → [`Outcome`] →
//! `S3ConnectionStatus`, write the status when it changed, and say when to
//! look again ([`requeue`]). [`watches`] runs it for every connection.

pub mod requeue;
#[cfg(test)]
mod tests;
pub mod watches;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, ResourceExt};
use tracing::{error, info};

use crate::aws::{AwsFactory, Clients, S3Target};
use crate::crd::{ConnectionId, S3Connection};
use crate::credentials::{CredentialCache, ResolveError, Resolver};
use crate::error::{Error, Result};
use crate::outcome::{Outcome, Problem, Reason, Severity};
use crate::probe::{self, Plan, Previous};
use crate::status::{self, write};
use crate::telemetry::Metrics;
use crate::{crd, spec};
use requeue::{Failures, backoff, jittered};

pub use watches::run;

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
            default_interval: crd::rules::DEFAULT_INTERVAL,
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
    failures: Failures,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, aws: Arc<dyn AwsFactory>, config: Config) -> Self {
        let reporter = Reporter {
            controller: write::MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            aws,
            credentials: CredentialCache::default(),
            config,
            failures: Failures::default(),
        }
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            client: &self.client,
            aws: self.aws.as_ref(),
            cache: &self.credentials,
            allow_operator_identity: self.config.allow_operator_identity,
        }
    }
}

pub async fn reconcile(conn: Arc<S3Connection>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    // One timestamp per validation: every time field written below uses it.
    let now = Timestamp::now();
    let uid = conn.uid().unwrap_or_default();
    let Validation { outcome, interval } = validate(&conn, &ctx, now).await?;
    ctx.metrics.validated(outcome.reason, started.elapsed());
    info!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        reason = outcome.reason.as_str(),
        took_ms = started.elapsed().as_millis() as u64,
        "validated: {}",
        outcome.message
    );

    let now = Time(now);
    let old = conn.status.clone().unwrap_or_default();
    let new = status::build_status(conn.metadata.generation, &old, &outcome, &now);
    if status::needs_write(&old, &new, &now, interval) {
        write::apply(
            &ctx.client,
            &conn,
            &new,
            ctx.config.status_timeout,
            &ctx.metrics,
        )
        .await?;
        write::publish_transition(&ctx.recorder, &conn, &old, &new, &outcome).await;
    } else {
        ctx.metrics.status_patch("unchanged", None);
    }

    Ok(match outcome.reason.severity() {
        Severity::Transient => {
            let n = ctx.failures.note(&uid);
            Action::requeue(backoff(ctx.config.retry_base, n, interval))
        }
        _ => {
            ctx.failures.clear(&uid);
            Action::requeue(jittered(interval, &uid))
        }
    })
}

pub fn error_policy(conn: Arc<S3Connection>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(err.metric_label());
    let n = ctx.failures.note(&conn.uid().unwrap_or_default());
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

/// What one validation found, and when to validate again.
struct Validation {
    outcome: Outcome,
    interval: Duration,
}

/// The data path. Kubernetes API failures are errors of the operator;
/// everything else is an outcome for the status.
async fn validate(conn: &S3Connection, ctx: &Context, now: Timestamp) -> Result<Validation> {
    let id = ConnectionId::of(conn);
    let previous = Previous::of(conn.status.as_ref());
    let auth = conn.spec.auth.kind();
    // A validation that stops early still remembers a leftover probe object.
    let early = |p: Problem, interval: Duration| {
        let mut outcome = Outcome::problem(p);
        outcome.auth = auth;
        outcome.leftover = previous.leftover.clone();
        Validation { outcome, interval }
    };

    let spec = match spec::validate(&conn.spec, ctx.config.default_interval) {
        Ok(v) => v,
        Err(invalid) => {
            let p = Problem::new(
                Reason::InvalidSpec,
                format!("{invalid}. Fix the S3Connection spec."),
            );
            return Ok(early(p, ctx.config.default_interval));
        }
    };
    let resolver = ctx.resolver();
    let resolved = match resolver.resolve(&spec, &id).await {
        Ok(r) => r,
        Err(ResolveError::Problem(p)) => return Ok(early(p, spec.interval)),
        Err(ResolveError::Operator(e)) => return Err(e),
    };

    let clients = Clients::new(
        ctx.aws.as_ref(),
        &S3Target::of(&spec),
        &resolved.credentials,
    );
    let plan = Plan::new(&spec, &resolved, &id, previous.clone(), now);
    let mut outcome = probe::run(&clients, &plan).await;
    if outcome.reason == Reason::InvalidCredentials {
        resolver.forget(&resolved);
    }
    outcome.auth = auth;
    Ok(Validation {
        outcome: resolved.redactor.scrub_outcome(outcome),
        interval: spec.interval,
    })
}
