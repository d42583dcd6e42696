//! s3:ReplicateObject: no client request can exercise it, so it is asked
//! of IAM policy simulation for the caller, where there is an IAM.

use aws_sdk_iam::types::PolicyEvaluationDecisionType as Decision;

use super::steps::Probe;
use crate::aws::classify::{Failure, Op, attempt};
use crate::aws::{Arn, Service, tame};
use crate::crd::Permission;
use crate::crd::Permission::*;
use crate::crd::PermissionOutcome::*;
use crate::messages;

/// The IAM principal to simulate: the assumed role, or the caller if it is
/// an IAM user or role (an assumed-role session maps back to its role).
pub fn principal_arn(role_arn: Option<&str>, identity: Option<&str>) -> Option<String> {
    if let Some(r) = role_arn {
        return Some(r.to_string());
    }
    let principal = Arn::parse(identity?)?.iam_principal()?;
    Some(principal.to_string())
}

impl Probe<'_> {
    /// The resource IAM policy simulation asks about: the objects under the
    /// prefix, in the principal's partition (`aws-cn`, `aws-us-gov`, ...:
    /// IAM there knows no other).
    pub(super) fn simulated_resource(&self, principal: Option<&str>) -> String {
        let partition = principal
            .and_then(Arn::parse)
            .map_or_else(|| "aws".to_string(), |a| a.partition);
        Arn::s3(
            &partition,
            format!("{}/{}*", self.plan.bucket, self.plan.prefix),
        )
        .to_string()
    }

    /// IAM policy simulation of `actions` for `principal` on `resource`:
    /// each action's decision, in the order IAM answered.
    pub(super) async fn simulate(
        &self,
        iam: &aws_sdk_iam::Client,
        principal: &str,
        actions: &[Permission],
        resource: &str,
    ) -> Result<Vec<(String, Decision)>, Failure> {
        let call = iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .set_action_names(Some(
                actions.iter().map(|a| a.as_str().to_string()).collect(),
            ))
            .resource_arns(resource)
            .send();
        let out = attempt(Op::Iam, call).await?;
        Ok(out
            .evaluation_results
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.eval_action_name, r.eval_decision))
            .collect())
    }

    /// s3:ReplicateObject by IAM policy simulation for the principal, on
    /// the objects under the prefix; Unverified when there is no IAM or no
    /// principal, or IAM did not decide.
    pub(super) async fn replicate(&mut self) {
        let principal = principal_arn(self.plan.role_arn.as_deref(), self.out.identity.as_deref());
        let resource = self.simulated_resource(principal.as_deref());
        let (Some(iam), Some(principal)) = (&self.clients.iam, principal) else {
            self.results.set(
                ReplicateObject,
                Unverified,
                messages::replicate_no_principal(),
            );
            return;
        };
        if let Some(s) = self.skipped(Service::Iam, &iam.location) {
            self.results.set(
                ReplicateObject,
                Unverified,
                messages::replicate_iam_unavailable(&iam.location, &s.why),
            );
            return;
        }
        let decision = match self
            .simulate(&iam.client, &principal, &[ReplicateObject], &resource)
            .await
        {
            Ok(d) => d.into_iter().next().map(|(_, d)| d),
            Err(f) => {
                let message = if self.note_outage(Service::Iam, &iam.location, &f) {
                    messages::replicate_iam_unavailable(&iam.location, &f.describe())
                } else {
                    messages::replicate_simulation_failed(&principal, &f.describe())
                };
                self.results.set(ReplicateObject, Unverified, message);
                return;
            }
        };
        match decision {
            Some(Decision::Allowed) => self.results.set(
                ReplicateObject,
                Allowed,
                messages::replicate_allowed(&principal, &resource),
            ),
            Some(Decision::ExplicitDeny) => self.results.set(
                ReplicateObject,
                Denied,
                messages::replicate_explicit_deny(&principal, &resource),
            ),
            other => self.results.set(
                ReplicateObject,
                Unverified,
                messages::replicate_undecided(
                    &principal,
                    &other
                        .as_ref()
                        .map(|d| tame::code(d.as_str()))
                        .unwrap_or_else(|| "nothing".into()),
                ),
            ),
        }
    }
}
