//! The STS web-identity exchange, and what a failed STS call means for the
//! connection.

use super::SESSION_SECONDS;
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::credentials::Redactor;
use crate::messages;
use crate::outcome::Problem;

/// STS `AssumeRoleWithWebIdentity` for `role_arn` with `token`. A refusal
/// (wrong audience, a token the STS cannot verify, a trust policy that does
/// not match) is `AssumeRoleFailed` and names `request`, never the token.
pub async fn exchange_web_identity(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session: &str,
    token: &str,
    request: &str,
) -> Result<Option<aws_sdk_sts::types::Credentials>, Problem> {
    let call = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session)
        .web_identity_token(token)
        .duration_seconds(SESSION_SECONDS)
        .send();
    match attempt(Op::Sts, call).await {
        Ok(o) => Ok(o.credentials),
        Err(f) => {
            let mut redactor = Redactor::default();
            redactor.add(token);
            let problem = sts_failed(&f, request);
            Err(redactor.scrub_problem(problem))
        }
    }
}

/// The problem of an STS call for `request` that failed: TLS, an
/// unreachable STS and temporary failures are the endpoint's (the last two
/// retried); anything else is STS refusing the request, and `AccessDenied`
/// the role's trust policy refusing it.
pub(super) fn sts_failed(f: &Failure, request: &str) -> Problem {
    let described = f.describe();
    match &f.class {
        Class::Tls(why) => messages::sts_tls_failed(request, why),
        Class::Denied => messages::sts_denied(request, &described),
        Class::Unreachable => messages::sts_unreachable(request, &described),
        Class::Transient(_) => messages::sts_transient(request, &described),
        _ => messages::sts_refused(request, &described),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::facts::ErrorFacts;
    use crate::outcome::Reason;

    #[test]
    fn sts_failures_are_the_endpoints_or_a_refusal() {
        let failed = |class: Class, status: u16, code: Option<&str>| Failure {
            class,
            facts: ErrorFacts::response(status, code),
        };
        let p = sts_failed(&failed(Class::Denied, 403, Some("AccessDenied")), "x");
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(p.message.contains("AccessDenied"), "{}", p.message);
        // A trust policy refused it: the message names the command that
        // prints the trust policy; other refusals do not.
        assert!(p.message.contains("policy --trust -f"), "{}", p.message);
        let p = sts_failed(
            &failed(
                Class::Other("InvalidIdentityToken".into()),
                400,
                Some("InvalidIdentityToken"),
            ),
            "x",
        );
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(!p.message.contains("policy --trust"), "{}", p.message);
        let p = sts_failed(&failed(Class::Unreachable, 0, None), "x");
        assert_eq!(p.reason, Reason::EndpointUnreachable);
        let p = sts_failed(&failed(Class::Transient("t".into()), 503, None), "x");
        assert_eq!(p.reason, Reason::Transient);
        let p = sts_failed(&failed(Class::Tls("unknown CA".into()), 0, None), "x");
        assert_eq!(p.reason, Reason::TlsError);
        assert!(p.message.contains("unknown CA"), "{}", p.message);
    }
}
