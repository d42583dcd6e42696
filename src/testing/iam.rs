//! The fake IAM: SimulatePrincipalPolicy answered from the shared world.

use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;

use super::errors::query_error;
use super::world::Shared;

/// An IAM client answered by the fake `world` (SimulatePrincipalPolicy from
/// `World::simulation`).
pub fn iam_client(world: &Shared) -> aws_sdk_iam::Client {
    use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
    use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
    let w = world.clone();
    let sim =
        mock!(aws_sdk_iam::Client::simulate_principal_policy).then_compute_response(move |_| {
            let mut w = w.lock().unwrap();
            w.simulation_calls += 1;
            match &w.simulation {
                Ok(decision) => MockResponse::Output(
                    SimulatePrincipalPolicyOutput::builder()
                        .evaluation_results(
                            EvaluationResult::builder()
                                .eval_action_name("s3:ReplicateObject")
                                .eval_decision(PolicyEvaluationDecisionType::from(
                                    decision.as_str(),
                                ))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                ),
                Err(code) => MockResponse::Http(query_error(403, code)),
            }
        });
    let rules = [sim];
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}
