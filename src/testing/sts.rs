//! The fake STS: GetCallerIdentity, AssumeRole and AssumeRoleWithWebIdentity
//! answered from the shared world.

use std::sync::Arc;

use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;

use super::errors::query_error;
use super::world::{AssumeRoleCall, Shared};

/// An STS client answered by the fake `world`: GetCallerIdentity from
/// `World::caller`; AssumeRole and AssumeRoleWithWebIdentity with
/// credentials, or with what `assume` returns.
pub fn sts_client(world: &Shared, assume: Option<HttpResponseFn>) -> aws_sdk_sts::Client {
    use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    let w = world.clone();
    let who = mock!(aws_sdk_sts::Client::get_caller_identity).then_compute_response(move |_| {
        let mut w = w.lock().unwrap();
        w.caller_calls += 1;
        match &w.caller {
            Ok(arn) => MockResponse::Output(GetCallerIdentityOutput::builder().arn(arn).build()),
            Err(code) => MockResponse::Http(query_error(403, code)),
        }
    });
    let creds = || {
        aws_sdk_sts::types::Credentials::builder()
            .access_key_id("ASIAASSUMED")
            .secret_access_key("assumed-secret")
            .session_token("assumed-token")
            .expiration(aws_smithy_types::DateTime::from_secs(4_000_000_000))
            .build()
            .unwrap()
    };
    let a = assume.clone();
    let web = mock!(aws_sdk_sts::Client::assume_role_with_web_identity).then_compute_response(
        move |_| match &a {
            Some(f) => MockResponse::Http(f()),
            None => MockResponse::Output(
                AssumeRoleWithWebIdentityOutput::builder()
                    .credentials(creds())
                    .build(),
            ),
        },
    );
    let w = world.clone();
    let role = mock!(aws_sdk_sts::Client::assume_role).then_compute_response(move |req| {
        w.lock().unwrap().assume_role_calls.push(AssumeRoleCall {
            external_id: req.external_id().map(str::to_string),
            session_name: req.role_session_name().unwrap_or_default().to_string(),
        });
        match &assume {
            Some(f) => MockResponse::Http(f()),
            None => MockResponse::Output(AssumeRoleOutput::builder().credentials(creds()).build()),
        }
    });
    let rules = [who, web, role];
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// Makes the HTTP response a fake call answers with.
pub type HttpResponseFn = Arc<dyn Fn() -> HttpResponse + Send + Sync>;
