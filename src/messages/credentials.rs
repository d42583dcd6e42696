//! Texts about finding and proving credentials: Secrets, ServiceAccounts,
//! roles, STS.

use crate::aws::classify::CredentialCode;
use crate::outcome::{KeyFlaw, Part, Problem, Reason, ValueFlaw};

/// The connection's Secret does not exist.
pub fn secret_not_found(secret: &str, ns: &str, id_key: &str, secret_key: &str) -> Problem {
    Problem::new(
        Reason::SecretNotFound,
        format!(
            "Secret {secret:?} does not exist in namespace {ns:?}. Create it with keys {id_key} and {secret_key} (Secrets of other namespaces cannot be used)."
        ),
    )
}

/// A key of the connection's Secret is missing, not text, or empty.
pub fn secret_key_missing(secret: &str, key: &str, flaw: KeyFlaw) -> Problem {
    let what = match flaw {
        KeyFlaw::Absent => format!("has no key {key:?}"),
        KeyFlaw::Empty => format!("key {key:?} is empty"),
    };
    Problem::new(
        Reason::SecretKeyMissing,
        format!("Secret {secret:?} {what}; add it, or name the right key in spec.auth.accessKey."),
    )
}

/// What is wrong with a value, completing "the value ...". A value that
/// is too long and one with characters that are not allowed get the same
/// text, which states the rule: a text tells neither a value's length nor
/// what kind of characters it holds.
pub fn value_flaw(flaw: ValueFlaw) -> String {
    let name = |part| match part {
        Part::AccessKeyId => "an access key ID",
        Part::SecretAccessKey => "a secret access key",
        Part::SessionToken => "a session token",
    };
    match flaw {
        ValueFlaw::Empty => "is empty".into(),
        ValueFlaw::NotPrintable(part) | ValueFlaw::TooLong(part) => format!(
            "is not {}: it must be printable ASCII without spaces, at most {} characters",
            name(part),
            part.max_len()
        ),
        ValueFlaw::NotPem => "is not a PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
    }
}

/// A value of the Secret that cannot be used; never the value itself.
pub fn secret_value_invalid(secret: &str, key: &str, flaw: ValueFlaw) -> Problem {
    Problem::new(
        Reason::SecretValueInvalid,
        format!(
            "Secret {secret:?} key {key:?}: the value {}. Fix the value in the Secret (a value read from a file may carry stray characters).",
            value_flaw(flaw)
        ),
    )
}

/// STS issued credentials that are not usable (see [`value_flaw`]).
pub fn sts_credentials_unusable(role_arn: &str, flaw: ValueFlaw) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!(
            "STS returned credentials for role {role_arn} that cannot be used: a value {}.",
            value_flaw(flaw)
        ),
    )
}

/// The connection's CA Secret does not exist.
pub fn ca_secret_not_found(secret: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::SecretNotFound,
        format!(
            "Secret {secret:?} named in spec.caSecretRef does not exist in namespace {ns:?}. Create it with the CA certificate under the key ca.crt."
        ),
    )
}

/// The connection's ServiceAccount does not exist.
pub fn service_account_not_found(sa: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::ServiceAccountNotFound,
        format!(
            "ServiceAccount {sa:?} does not exist in namespace {ns:?}. Create it, or fix spec.auth.iamRole.serviceAccountName."
        ),
    )
}

/// The ServiceAccount went away while its token was being requested.
pub fn service_account_disappeared(sa: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::ServiceAccountNotFound,
        format!(
            "ServiceAccount {sa:?} disappeared from namespace {ns:?} while requesting its token."
        ),
    )
}

/// `value` is the tenant's annotation: shown tamed and cut (256 characters),
/// whatever its size.
pub fn role_annotation_not_an_arn(sa: &str, annotation: &str, value: &str) -> Problem {
    let value = crate::aws::tame::arn(value);
    Problem::new(
        Reason::RoleArnMissing,
        format!(
            "ServiceAccount {sa:?} has annotation {annotation}={value:?}, which is not a role ARN like arn:aws:iam::123456789012:role/name."
        ),
    )
}

/// Neither the spec nor the ServiceAccount names a role.
pub fn no_role_arn(sa: &str, annotation: &str) -> Problem {
    Problem::new(
        Reason::RoleArnMissing,
        format!(
            "No role to assume: set spec.auth.iamRole.roleArn, or annotate ServiceAccount {sa:?} with {annotation}."
        ),
    )
}

/// The operator's own identity was asked for; the operator does not allow it.
pub fn operator_identity_disabled() -> Problem {
    Problem::new(
        Reason::OperatorIdentityDisabled,
        "spec.auth.iamRole has no serviceAccountName, so the operator's own identity would assume the role, and this operator does not allow that. Set serviceAccountName to use IRSA, or run the operator with --allow-operator-identity.",
    )
}

/// The operator's own identity is allowed but cannot be used.
pub fn operator_identity_unavailable() -> Problem {
    Problem::new(
        Reason::OperatorIdentityDisabled,
        "The operator's own identity is not available (no AWS identity, or no cluster name for the ExternalId); see the operator's log.",
    )
}

/// Who asked STS for what (IRSA), for [`sts_refused`] and the other STS texts.
pub fn irsa_request(ns: &str, sa: &str, role_arn: &str, audience: &str) -> String {
    format!(
        "ServiceAccount {ns}/{sa} to assume role {role_arn}: the role's trust policy must allow the web identity system:serviceaccount:{ns}:{sa} with audience {audience}"
    )
}

/// Who asked STS for what (the operator's identity), for [`sts_refused`] and the other STS texts.
pub fn operator_request(role_arn: &str, external_id: &str) -> String {
    format!(
        "the operator to assume role {role_arn}: the role's trust policy must allow the operator's identity with the condition sts:ExternalId = {external_id}"
    )
}

/// TLS to STS failed while asking for `request` (see [`irsa_request`],
/// [`operator_request`]).
pub fn sts_tls_failed(request: &str, why: &str) -> Problem {
    Problem::new(
        Reason::TlsError,
        format!(
            "TLS to STS failed while asking for {request}: {why}. If STS is behind a private CA, name it in spec.caSecretRef."
        ),
    )
}

/// STS could not be reached while asking for `request`.
pub fn sts_unreachable(request: &str, described: &str) -> Problem {
    Problem::new(
        Reason::EndpointUnreachable,
        format!("STS could not be reached while asking for {request} ({described}); retrying."),
    )
}

/// STS failed temporarily while asking for `request`.
pub fn sts_transient(request: &str, described: &str) -> Problem {
    Problem::new(
        Reason::Transient,
        format!("STS failed temporarily while asking for {request} ({described}); retrying."),
    )
}

/// STS refused `request`.
pub fn sts_refused(request: &str, described: &str) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!("STS refused {request} ({described})."),
    )
}

/// STS refused `request` with `AccessDenied`: the role's trust policy does
/// not allow it.
pub fn sts_denied(request: &str, described: &str) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!(
            "STS refused {request} ({described}).{}",
            super::TRUST_COMMAND
        ),
    )
}

/// STS answered without credentials.
pub fn sts_returned_no_credentials(role_arn: &str) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!("STS returned no credentials for role {role_arn}."),
    )
}

/// `service` rejected the credentials with `code`.
pub fn invalid_credentials(code: CredentialCode, service: &str) -> Problem {
    use CredentialCode::*;
    let why = match code {
        InvalidAccessKeyId | InvalidClientTokenId => {
            "the access key ID does not exist (deleted, deactivated, or from another account or endpoint)"
        }
        SignatureDoesNotMatch => "the secret access key does not match the access key ID",
        ExpiredToken | ExpiredTokenException | TokenRefreshRequired => {
            "the session token has expired"
        }
        InvalidToken => "the session token is malformed or invalid",
        UnrecognizedClientException | MissingAuthenticationToken => "they were not accepted",
    };
    Problem::new(
        Reason::InvalidCredentials,
        format!(
            "{service} rejected the credentials ({code}): {why}. Update the credentials the connection uses."
        ),
    )
}

/// The Secret named for credentials has type `type_` (the tenant's: shown
/// tamed), not `Opaque`.
pub fn secret_type_not_allowed(secret: &str, type_: &str) -> Problem {
    let type_ = crate::aws::tame::arn(type_);
    Problem::new(
        Reason::SecretTypeNotAllowed,
        format!(
            "Secret {secret:?} is of type {type_}; only Secrets of type Opaque are used for credentials (a typed Secret, such as a ServiceAccount token, a TLS key or a registry login, belongs to something else, and nothing of it was read). Put the keys in an Opaque Secret and name that one in spec.auth.accessKey.secretName."
        ),
    )
}

/// IRSA to a store (`endpoint`) whose audience nobody chose: no token is
/// minted.
pub fn store_audience_missing(sa: &str, endpoint: &str, annotation: &str) -> Problem {
    Problem::new(
        Reason::TokenAudienceRefused,
        format!(
            "No ServiceAccount token is sent to {endpoint}: it is not AWS, and a token for AWS's audience (sts.amazonaws.com) could be replayed at AWS by whoever runs that endpoint. An administrator names the audience that store verifies (its OpenID client ID) in the allowlist entry, --allowed-endpoint '{endpoint};audience=<client-id>' (Helm value allowedEndpoints), or annotate ServiceAccount {sa:?} with {annotation}=<client-id>."
        ),
    )
}

/// The Secret named for credentials lacks the label `label`=true, which this
/// operator requires.
pub fn secret_label_missing(secret: &str, label: &str) -> Problem {
    Problem::new(
        Reason::SecretLabelMissing,
        format!(
            "Secret {secret:?} is not labelled {label}: \"true\", and this operator only uses Secrets labelled for credentials (nothing of it was read). Label it: kubectl label secret {secret} {label}=true."
        ),
    )
}

/// IRSA to a store with an audience that is not allowed there (`value` is
/// the tenant's annotation: tamed and cut).
pub fn store_audience_refused(sa: &str, endpoint: &str, annotation: &str, value: &str) -> Problem {
    let value = crate::aws::tame::arn(value);
    Problem::new(
        Reason::TokenAudienceRefused,
        format!(
            "ServiceAccount {sa:?} has annotation {annotation}={value:?}, an audience no token for {endpoint} may carry: it must be the store's own client ID (at most 256 printable characters without spaces, ',' or ';'), never one AWS or the Kubernetes API server accepts such as sts.amazonaws.com, since whoever runs the endpoint could replay the token there."
        ),
    )
}

/// The ServiceAccount's AWS audience annotation is not an audience
/// (`value` is the tenant's: tamed and cut).
pub fn aws_audience_invalid(sa: &str, annotation: &str, value: &str) -> Problem {
    let value = crate::aws::tame::arn(value);
    Problem::new(
        Reason::TokenAudienceRefused,
        format!(
            "ServiceAccount {sa:?} has annotation {annotation}={value:?}, which is not a token audience: at most 256 printable characters without spaces, ',' or ';'. Fix or remove the annotation (without it the audience is sts.amazonaws.com)."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_credential_messages_name_the_cause() {
        assert!(
            invalid_credentials(CredentialCode::SignatureDoesNotMatch, "S3")
                .message
                .contains("secret access key")
        );
        assert!(
            invalid_credentials(CredentialCode::InvalidAccessKeyId, "S3")
                .message
                .contains("access key ID does not exist")
        );
        assert!(
            invalid_credentials(CredentialCode::ExpiredToken, "STS")
                .message
                .contains("expired")
        );
    }
}
