//! One validation, the data path: `S3Connection` → [`crate::spec::ValidSpec`]
//! → [`crate::credentials::Resolved`] → [`Outcome`], in a task of its own
//! and within its deadline ([`data_path_isolated`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::ResourceExt;
use tracing::error;

use super::{Context, requested_at};
use crate::allowlist;
use crate::aws::{Clients, S3Target};
use crate::crd::{AuthKind, ConnectionId, S3Connection};
use crate::credentials::{ResolveError, role};
use crate::error::Result;
use crate::messages;
use crate::outcome::{Outcome, Problem, Reason};
use crate::probe::{self, Plan, Previous};
use crate::spec;

/// What one validation found, and when to validate again.
pub(super) struct Verdict {
    /// What it found.
    pub(super) outcome: Outcome,
    /// When to validate again (unless it failed transiently).
    pub(super) interval: Duration,
}

impl Verdict {
    /// A validation that stopped with `p` before the probes ran. It still
    /// names the auth method and remembers a leftover probe object.
    fn stopped(conn: &S3Connection, ctx: &Context, p: Problem, interval: Duration) -> Self {
        let mut outcome = Outcome::problem(p);
        stamp(conn, ctx, &mut outcome);
        let uid = conn.uid().unwrap_or_default();
        outcome.leftover = Previous::of(conn.status.as_ref(), &uid).leftover;
        Self { outcome, interval }
    }
}

/// What every outcome says about the connection, whatever happened.
fn stamp(conn: &S3Connection, ctx: &Context, outcome: &mut Outcome) {
    outcome.auth = conn.spec.auth.kind();
    outcome.requested_at = requested_at(conn)
        .and_then(|r| r.token())
        .map(str::to_string);
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

/// Run [`data_path`] in a task of its own, within the validation deadline:
/// a panic or a hang in one validation becomes that connection's problem,
/// and every other connection goes on being validated.
pub(super) async fn data_path_isolated(
    conn: Arc<S3Connection>,
    ctx: Arc<Context>,
    now: Timestamp,
) -> Result<Verdict> {
    let deadline = ctx.config.validation_timeout;
    let task = tokio::spawn({
        let (conn, ctx) = (conn.clone(), ctx.clone());
        async move { data_path(&conn, &ctx, now).await }
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
            Ok(Verdict::stopped(&conn, &ctx, p, interval()))
        }
        Err(_) => {
            abort.abort();
            let p = messages::validation_timed_out(deadline.as_secs());
            Ok(Verdict::stopped(&conn, &ctx, p, interval()))
        }
    }
}

/// The data path. Kubernetes API failures are errors of the operator;
/// everything else is an outcome for the status.
async fn data_path(conn: &S3Connection, ctx: &Context, now: Timestamp) -> Result<Verdict> {
    let id = ConnectionId::of(conn);
    let stopped = |p: Problem, interval: Duration| Verdict::stopped(conn, ctx, p, interval);

    let spec = match spec::validate(&conn.spec, ctx.config.default_interval) {
        Ok(v) => v,
        Err(invalid) => {
            let p = messages::invalid_spec(&invalid.to_string());
            return Ok(stopped(p, ctx.config.default_interval));
        }
    };
    // A request for this validation that the operator cannot echo.
    if let Some(r) = requested_at(conn)
        && r.token().is_none()
    {
        return Ok(stopped(
            messages::invalid_request(r.annotation),
            spec.interval,
        ));
    }
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
    let keys = ctx.config.probe_keys.get();
    let plan = Plan::new(&spec, &resolved, &id, previous, now, keys).knowing(known.as_deref());
    let mut outcome = probe::run(&clients, &plan).await;
    stamp(conn, ctx, &mut outcome);
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
    Ok(Verdict {
        outcome,
        interval: spec.interval,
    })
}
