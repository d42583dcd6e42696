//! A light check between full validations ([`light`]): one request that
//! proves the credentials and the bucket still answer (ListObjectsV2, or
//! HeadBucket without `s3:ListBucket`) and, when asked, one IAM policy
//! simulation of the other permissions the last full validation proved.
//! Whatever it finds that differs from the last full validation, it does
//! not report: it says so ([`Light::Differs`]) and the caller validates
//! fully at once. When everything agrees, the outcome is the last full
//! validation's, with the times its results were proved.

use aws_sdk_iam::types::PolicyEvaluationDecisionType as Decision;

use super::steps::Probe;
use super::{Plan, conclude};
use crate::aws::{Clients, Service};
use crate::crd::Permission::{self, *};
use crate::crd::PermissionOutcome::*;
use crate::outcome::{Depth, Outcome, Reason};

/// What a light check came to.
#[derive(Debug)]
pub enum Light {
    /// Everything agrees with the last full validation: its outcome.
    Holds(Box<Outcome>, Simulation),
    /// Something differs, or could not be shown the same: validate fully.
    Differs(Simulation),
}

/// What became of the IAM policy simulation of a light check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulation {
    /// Not asked for, or nothing to simulate.
    NotAsked,
    /// IAM decided every permission as the last full validation found it.
    Agreed,
    /// IAM no longer allows a permission the last full validation proved.
    Disagreed,
    /// IAM did not answer for the principal (denied the simulation, or
    /// there is no IAM): not worth asking again for these credentials.
    Unavailable,
}

/// The light check of `plan`: `simulate_as` is the IAM principal to
/// simulate, when this check should. Never panics; sends at most one S3
/// and one IAM request.
pub async fn light(clients: &Clients, plan: &Plan, simulate_as: Option<&str>) -> Light {
    let mut probe = Probe::new(clients, plan);
    let answered = if plan.wants(ListBucket) {
        probe.list().await.is_ok() && probe.results.get(ListBucket) == Some(Allowed)
    } else {
        probe.bucket().await.is_ok() && probe.out.bucket_reached
    };
    let simulation = match simulate_as {
        Some(principal) => probe.simulation_agrees(principal).await,
        None => Simulation::NotAsked,
    };
    if !answered || simulation == Simulation::Disagreed {
        return Light::Differs(simulation);
    }
    let mut out = Outcome {
        authenticated: true,
        bucket_reached: true,
        identity: plan.previous_identity.clone(),
        bucket_region: plan.previous_region.clone(),
        permissions: plan
            .permissions
            .iter()
            .filter_map(|p| plan.previous.iter().find(|r| r.permission == *p).cloned())
            .collect(),
        depth: Depth::Light,
        ..Outcome::new(Reason::Validated, String::new())
    };
    conclude(plan, &mut out);
    Light::Holds(Box::new(out), simulation)
}

impl Probe<'_> {
    /// The permissions the last full validation proved Allowed, other than
    /// `s3:ListBucket` (a light check lists for real).
    fn proved_allowed(&self) -> Vec<Permission> {
        self.plan
            .previous
            .iter()
            .filter(|r| r.result == Allowed && r.permission != ListBucket)
            .map(|r| r.permission)
            .collect()
    }

    /// Whether IAM policy simulation for `principal` still allows every
    /// permission the last full validation proved.
    async fn simulation_agrees(&self, principal: &str) -> Simulation {
        let actions = self.proved_allowed();
        if actions.is_empty() {
            return Simulation::NotAsked;
        }
        let Some(iam) = &self.clients.iam else {
            return Simulation::Unavailable;
        };
        if self.skipped(Service::Iam, &iam.location).is_some() {
            return Simulation::NotAsked;
        }
        let resource = self.simulated_resource(Some(principal));
        match self
            .simulate(&iam.client, principal, &actions, &resource)
            .await
        {
            Ok(decisions) => {
                let allowed = |p: &Permission| {
                    decisions
                        .iter()
                        .any(|(a, d)| a == p.as_str() && *d == Decision::Allowed)
                };
                if actions.iter().all(allowed) {
                    Simulation::Agreed
                } else {
                    Simulation::Disagreed
                }
            }
            Err(f) => {
                if self.note_outage(Service::Iam, &iam.location, &f) {
                    Simulation::NotAsked
                } else {
                    Simulation::Unavailable
                }
            }
        }
    }
}
