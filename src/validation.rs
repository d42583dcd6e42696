//! One validation's stages in order, whoever runs it: the spec checked
//! ([`valid_spec`]), then ([`run`]) the endpoint allowlist, the CA trust
//! roots, the credentials, the SDK clients, the probes, and every text
//! scrubbed of the values handled. The operator (`reconcile`) and the
//! `check` command run this one sequence; only where Secrets and
//! credentials come from differs ([`Source`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::allowlist::{self, Allowlist};
use crate::aws::{AwsFactory, Clients, Identities, Outages, S3Target};
use crate::crd::{ConnectionId, S3ConnectionSpec};
use crate::credentials::{ResolveError, Resolved, Resolver};
use crate::messages;
use crate::outcome::{Depth, Outcome, Problem, Reason};
use crate::probe::{self, Cleanup, Light, MarkerKeys, Plan, Previous, Simulation};
use crate::spec::{self, ValidSpec};

/// What the stages share beyond one connection.
pub struct Engine<'a> {
    /// Makes the SDK clients.
    pub aws: &'a dyn AwsFactory,
    /// STS and IAM locations that recently did not answer.
    pub outages: Arc<Outages>,
    /// Who credentials are, as STS recently answered.
    pub identities: &'a Identities,
    /// The endpoints connections may use.
    pub allowed_endpoints: &'a Allowlist,
    /// The keys that sign and verify probe markers.
    pub probe_keys: Arc<MarkerKeys>,
}

/// Where a validation's CA Secret and credentials come from: the operator's
/// [`Resolver`], or what the `check` command was given.
pub trait Source {
    /// The extra trust roots of Secret `name` in `ns` (`spec.caSecretRef`).
    fn trust_roots(
        &self,
        ns: &str,
        name: &str,
    ) -> impl Future<Output = Result<Arc<[u8]>, ResolveError>> + Send;

    /// Credentials for `spec`, whose requests go to `target`.
    fn resolve(
        &self,
        spec: &ValidSpec,
        target: &S3Target,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<Resolved, ResolveError>> + Send;

    /// Forget cached credentials that S3 or STS rejected.
    fn forget(&self, resolved: &Resolved);
}

impl Source for Resolver<'_> {
    fn trust_roots(
        &self,
        ns: &str,
        name: &str,
    ) -> impl Future<Output = Result<Arc<[u8]>, ResolveError>> + Send {
        Resolver::trust_roots(self, ns, name)
    }

    fn resolve(
        &self,
        spec: &ValidSpec,
        target: &S3Target,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<Resolved, ResolveError>> + Send {
        Resolver::resolve(self, spec, target, id)
    }

    fn forget(&self, resolved: &Resolved) {
        Resolver::forget(self, resolved)
    }
}

/// The spec checked, with defaults filled in (`default_interval` when it
/// sets no `validationInterval`); `InvalidSpec` otherwise.
pub fn valid_spec(
    spec: &S3ConnectionSpec,
    default_interval: Duration,
) -> Result<ValidSpec, Problem> {
    spec::validate(spec, default_interval)
        .map_err(|invalid| messages::invalid_spec(&invalid.to_string()))
}

/// What the stages before the probes make for one connection.
struct Prepared {
    clients: Clients,
    plan: Plan,
    resolved: Resolved,
    /// Who the credentials are, as STS recently answered.
    known: Option<Arc<str>>,
}

/// The stages before the probes: where requests would go (the allowlist,
/// for `spec.endpoint` and `spec.stsEndpoint`, before any Secret, token or
/// request), the CA, the credentials from
/// `source`, the SDK clients, the plan.
async fn prepare(
    engine: &Engine<'_>,
    source: &impl Source,
    spec: &ValidSpec,
    id: &ConnectionId,
    previous: Previous,
    now: Timestamp,
) -> Result<Prepared, ResolveError> {
    if let Some(endpoint) = &spec.endpoint
        && !engine.allowed_endpoints.allows(endpoint)
    {
        let entry = allowlist::entry_for(endpoint).unwrap_or_else(|| endpoint.clone());
        return Err(messages::endpoint_not_allowed(endpoint, &entry).into());
    }
    if let Some(sts) = &spec.sts_endpoint
        && !engine.allowed_endpoints.allows(sts)
    {
        let entry = allowlist::entry_for(sts).unwrap_or_else(|| sts.clone());
        return Err(messages::sts_endpoint_not_allowed(sts, &entry).into());
    }
    let trust = match &spec.ca_secret {
        None => None,
        Some(name) => Some(source.trust_roots(&id.namespace, name).await?),
    };
    let target = S3Target::of(spec).trusting(trust);
    let resolved = source.resolve(spec, &target, id).await?;

    let clients = Clients::new(
        engine.aws,
        &target,
        &resolved.credentials,
        engine.outages.clone(),
    );
    let sts = &clients.sts.location;
    let known = engine
        .identities
        .get(sts, &resolved.credentials, Instant::now());
    let keys = engine.probe_keys.clone();
    let plan = Plan::new(spec, &resolved, id, previous, now, keys).knowing(known.as_deref());
    Ok(Prepared {
        clients,
        plan,
        resolved,
        known,
    })
}

/// How deep a validation may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Prove every permission with real requests.
    Full,
    /// A light check ([`probe::light`]), if the credentials still belong to
    /// `principal` ([`Resolved::principal`]); a full validation when they
    /// do not, or the check finds anything different.
    Light {
        /// The principal the last full validation proved the results for.
        principal: u64,
        /// Whether this check simulates the other permissions' policy for
        /// the principal (the assumed role, or the identity the status
        /// names).
        simulate: bool,
    },
}

/// What one validation came to: its outcome, whose credentials they were
/// ([`Resolved::principal`]) and what became of a light check's policy
/// simulation.
#[derive(Debug)]
pub struct Checked {
    /// The outcome (its depth says whether it was a light check).
    pub outcome: Outcome,
    /// The principal of the credentials used.
    pub principal: u64,
    /// A light check's policy simulation.
    pub simulation: Simulation,
}

/// Every stage after the spec (`prepare`'s, then the probes). The
/// outcome's texts are scrubbed of every value the credentials carry.
/// `Err` is a problem that stopped the validation before the probes ran,
/// or a failure of the caller's own (a Kubernetes API call).
pub async fn run(
    engine: &Engine<'_>,
    source: &impl Source,
    spec: &ValidSpec,
    id: &ConnectionId,
    previous: Previous,
    now: Timestamp,
) -> Result<Outcome, ResolveError> {
    Ok(check(engine, source, spec, id, previous, now, Wanted::Full)
        .await?
        .outcome)
}

/// [`run`], as deep as `wanted` allows.
pub async fn check(
    engine: &Engine<'_>,
    source: &impl Source,
    spec: &ValidSpec,
    id: &ConnectionId,
    previous: Previous,
    now: Timestamp,
    wanted: Wanted,
) -> Result<Checked, ResolveError> {
    let Prepared {
        clients,
        plan,
        resolved,
        known,
    } = prepare(engine, source, spec, id, previous, now).await?;
    let sts = &clients.sts.location;
    let principal = resolved.principal();
    let mut simulation = Simulation::NotAsked;
    let mut light = None;
    if let Wanted::Light {
        principal: proved,
        simulate,
    } = wanted
        && proved == principal
        && plan.leftover.is_none()
    {
        let simulate_as = simulate
            .then(|| {
                probe::principal_arn(
                    resolved.role_arn.as_deref(),
                    plan.previous_identity.as_deref(),
                )
            })
            .flatten();
        match probe::light(&clients, &plan, simulate_as.as_deref()).await {
            Light::Holds(outcome, s) => {
                simulation = s;
                light = Some(*outcome);
            }
            Light::Differs(s) => simulation = s,
        }
    }
    let outcome = match light {
        Some(outcome) => outcome,
        None => probe::run(&clients, &plan).await,
    };
    let outcome = resolved.redactor.scrub_outcome(outcome);
    if outcome.reason == Reason::InvalidCredentials {
        source.forget(&resolved);
        engine.identities.forget(sts, &resolved.credentials);
    } else if known.is_none()
        && outcome.depth == Depth::Full
        && let Some(arn) = &outcome.identity
    {
        // What STS just said, as the status shows it (tamed, scrubbed).
        engine
            .identities
            .learn(sts, &resolved.credentials, arn, Instant::now());
    }
    Ok(Checked {
        outcome,
        principal,
        simulation,
    })
}

/// For a deleted connection: the same stages as [`run`], then one attempt
/// to remove `leftover`, the probe object its status recorded. The texts
/// are scrubbed like an outcome's.
pub async fn clean_up(
    engine: &Engine<'_>,
    source: &impl Source,
    spec: &ValidSpec,
    id: &ConnectionId,
    previous: Previous,
    now: Timestamp,
) -> Result<Option<Cleanup>, ResolveError> {
    let Some(leftover) = previous.leftover.clone() else {
        return Ok(None);
    };
    let p = prepare(engine, source, spec, id, previous, now).await?;
    Ok(Some(
        match probe::remove_leftover(&p.clients, &p.plan, leftover).await {
            Cleanup::Left(l, why) => Cleanup::Left(l, p.resolved.redactor.scrub(&why)),
            done => done,
        },
    ))
}
