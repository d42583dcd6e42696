//! One validation, the data path: `S3Connection` → [`crate::spec::ValidSpec`]
//! → [`crate::credentials::Resolved`] → [`Outcome`], in a task of its own
//! and within its deadline ([`data_path_isolated`]), counting every request
//! the task sends ([`crate::cost`]). The stages are
//! [`crate::validation`]'s, with the operator's caches and its
//! [`Resolver`](crate::credentials::Resolver).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use tracing::error;

use super::{Context, proofs, requested_at};
use crate::cost::{self, ByClass, Class, Tally, Usage};
use crate::crd::{AuthKind, ConnectionId, Permission, S3Connection};
use crate::credentials::{ResolveError, role};
use crate::error::Result;
use crate::messages;
use crate::outcome::{Outcome, Problem, Reason};
use crate::probe::Previous;
use crate::spec::{AuthMethod, ValidSpec};
use crate::validation;

/// What one validation found, and when to validate again.
pub(super) struct Verdict {
    /// What it found.
    pub(super) outcome: Outcome,
    /// When to validate again (unless it failed transiently).
    pub(super) interval: Duration,
    /// How often a validation is a full one (`interval` when every one is).
    pub(super) full_interval: Duration,
    /// The S3 requests of one light check.
    pub(super) light: ByClass,
}

impl Verdict {
    /// A validation that stopped with `p` before the probes ran. It still
    /// names the auth method and remembers a leftover probe object.
    fn stopped(conn: &S3Connection, ctx: &Context, p: Problem, interval: Duration) -> Self {
        let mut outcome = Outcome::problem(p);
        stamp(conn, ctx, &mut outcome);
        let uid = conn.uid().unwrap_or_default();
        outcome.leftover = Previous::of(conn.status.as_ref(), &uid).leftover;
        Self {
            outcome,
            interval,
            full_interval: interval,
            light: ByClass::default(),
        }
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
/// and every other connection goes on being validated. Every request the
/// task sends is counted, also when it is stopped, and the outcome carries
/// the count ([`Outcome::usage`]).
pub(super) async fn data_path_isolated(
    conn: Arc<S3Connection>,
    ctx: Arc<Context>,
    now: Timestamp,
) -> Result<Verdict> {
    let tally = Arc::new(Tally::default());
    let verdict = counted_data_path(conn, ctx, now, tally.clone()).await;
    verdict.map(|mut v| {
        v.outcome.usage = Some(Usage {
            requests: tally.requests(),
            interval: v.interval,
            full_interval: v.full_interval,
            light: v.light,
        });
        v
    })
}

/// [`data_path_isolated`], counting in `tally`.
async fn counted_data_path(
    conn: Arc<S3Connection>,
    ctx: Arc<Context>,
    now: Timestamp,
    tally: Arc<Tally>,
) -> Result<Verdict> {
    let deadline = ctx.config.validation_timeout;
    let task = tokio::spawn({
        let (conn, ctx) = (conn.clone(), ctx.clone());
        cost::counting(tally, async move { data_path(&conn, &ctx, now).await })
    });
    let abort = task.abort_handle();
    let interval = || {
        validation::valid_spec(&conn.spec, ctx.config.default_interval)
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

    let spec = match validation::valid_spec(&conn.spec, ctx.config.default_interval) {
        Ok(v) => v,
        Err(p) => return Ok(stopped(p, ctx.config.default_interval)),
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
    let engine = ctx.engine();
    let previous = Previous::of(conn.status.as_ref(), &id.uid);
    let before = previous.results.clone();
    let secret = match &spec.auth {
        AuthMethod::AccessKey(keys) => Some(keys.secret_name.as_str()),
        _ => None,
    };
    let version = secret.and_then(|name| ctx.secrets.current(&id.namespace, name));
    let inputs = proofs::inputs(secret.map(|name| (name, version)));
    let schedule = (spec.interval, spec.full_interval);
    let budget = ctx.config.daily_requests;
    let wanted = ctx.proofs.wanted(conn, now, schedule, inputs, budget);
    let checked =
        validation::check(&engine, &ctx.resolver(), &spec, &id, previous, now, wanted).await;
    match checked {
        Ok(checked) => {
            ctx.proofs.note(&id.uid, now, inputs, &checked, &before);
            let mut outcome = checked.outcome;
            stamp(conn, ctx, &mut outcome);
            // Light checks follow only a Ready full validation.
            let light_next = outcome.reason == Reason::Validated;
            Ok(Verdict {
                outcome,
                interval: spec.interval,
                full_interval: if light_next {
                    spec.full_interval
                } else {
                    spec.interval
                },
                light: light_requests(&spec),
            })
        }
        Err(ResolveError::Problem(p)) => Ok(stopped(p, spec.interval)),
        Err(ResolveError::Operator(e)) => Err(e),
    }
}

/// The S3 requests of one light check of `spec`: a ListObjectsV2 (tier 1)
/// with `s3:ListBucket`, else a HeadBucket (tier 2).
fn light_requests(spec: &ValidSpec) -> ByClass {
    let mut light = ByClass::default();
    let class = if spec.permissions.contains(&Permission::ListBucket) {
        Class::Tier1
    } else {
        Class::Tier2
    };
    light.0[class as usize] = 1;
    light
}
