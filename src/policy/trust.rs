//! The trust policy of the role a connection assumes, as typed data that
//! serializes to IAM policy JSON. Pure functions, no I/O: the `policy
//! --trust` command ([`super::cli`]) gathers what goes in.
//!
//! What the operator sends, and what the trust policy must allow for it
//! (see [`crate::credentials::role`]):
//! - IRSA: `AssumeRoleWithWebIdentity` with a token of the connection's
//!   ServiceAccount, from the cluster's service-account issuer, for one
//!   audience: [`web_identity`] allows exactly that `sub` and `aud` through
//!   the issuer's IAM OIDC provider.
//! - The operator's own identity: `AssumeRole` with the ExternalId
//!   `<cluster>:<namespace>`, a session name, a duration, and no session
//!   tags, source identity or policies (so no `sts:TagSession` or
//!   `sts:SetSourceIdentity`): [`operator`] allows exactly that principal
//!   with that ExternalId.

use serde::Serialize;

use super::{PolicyDocument, Principal, VERSION};
use crate::aws::Arn;

/// The action IRSA needs of a role's trust policy.
pub const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
/// The action the operator's own identity needs of it.
pub const ASSUME_ROLE: &str = "sts:AssumeRole";

/// The longest issuer URL read (IAM allows 255 characters in an OIDC
/// provider's URL).
pub const MAX_ISSUER: usize = 255;
/// The longest ARN read (IAM's limit for ARNs).
pub const MAX_ARN: usize = 2048;

/// A role's trust policy: `{"Version": "2012-10-17", "Statement": [...]}`
/// with the one statement that lets the connection's principal in.
pub type TrustDocument = PolicyDocument<TrustStatement>;

/// One `Allow` statement of a trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustStatement {
    /// Always `Allow`.
    pub effect: &'static str,
    /// Who may assume the role.
    pub principal: Principal,
    /// [`WEB_IDENTITY`] or [`ASSUME_ROLE`].
    pub action: &'static str,
    /// What the request must carry.
    pub condition: TrustCondition,
}

/// `{"StringEquals": {KEY: VALUE, ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustCondition {
    /// Condition keys and the exact values they must have, in this order.
    #[serde(rename = "StringEquals", serialize_with = "super::ordered_map")]
    pub string_equals: Vec<(String, String)>,
}

/// The IAM OIDC provider of `issuer` (the `iss` of the cluster's
/// ServiceAccount tokens): its host (and port, if any) and path, without
/// scheme or trailing `/`, as IAM names it in provider ARNs and condition
/// keys (`oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE`). IAM trusts only
/// `https://` issuers without query.
pub fn oidc_provider(issuer: &str) -> Result<String, String> {
    let issuer = issuer.trim();
    if issuer.len() > MAX_ISSUER {
        return Err(format!(
            "the issuer is longer than {MAX_ISSUER} characters (IAM's limit)"
        ));
    }
    let uri: http::Uri = issuer
        .parse()
        .map_err(|e| format!("the issuer {issuer:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!(
            "the issuer {issuer:?} is not an https:// URL (IAM trusts only https issuers)"
        ));
    }
    let authority = match uri.authority() {
        Some(a) if !a.as_str().contains('@') && !a.host().is_empty() => a,
        _ => return Err(format!("the issuer {issuer:?} has no plain host")),
    };
    if uri.query().is_some() {
        return Err(format!(
            "the issuer {issuer:?} has a query (IAM allows a path, not a query)"
        ));
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("{}{path}", authority.as_str()))
}

/// The trust policy that lets ServiceAccount `namespace`/`service_account`
/// assume `role_arn` by web identity with a token for `audience`, through
/// the IAM OIDC provider `provider` ([`oidc_provider`]) in the role's own
/// account and partition.
pub fn web_identity(
    role_arn: &str,
    provider: &str,
    namespace: &str,
    service_account: &str,
    audience: &str,
) -> Result<TrustDocument, String> {
    let role = role(role_arn)?;
    let federated = Arn {
        partition: role.partition,
        service: "iam".into(),
        region: String::new(),
        account: role.account,
        resource: format!("oidc-provider/{provider}"),
    };
    let condition = vec![
        (
            format!("{provider}:sub"),
            format!("system:serviceaccount:{namespace}:{service_account}"),
        ),
        (format!("{provider}:aud"), audience.to_string()),
    ];
    Ok(document(
        Principal::Federated(federated.to_string()),
        WEB_IDENTITY,
        condition,
    ))
}

/// The trust policy that lets the operator's identity `principal` (the ARN
/// of the role or user it runs as) assume a role with exactly
/// `external_id` ([`crate::credentials::role::external_id`]).
pub fn operator(principal: &str, external_id: &str) -> Result<TrustDocument, String> {
    let principal = principal_arn(principal)?;
    check_external_id(external_id)?;
    let condition = vec![("sts:ExternalId".to_string(), external_id.to_string())];
    Ok(document(Principal::Aws(principal), ASSUME_ROLE, condition))
}

fn document(
    principal: Principal,
    action: &'static str,
    condition: Vec<(String, String)>,
) -> TrustDocument {
    TrustDocument {
        version: VERSION,
        statement: vec![TrustStatement {
            effect: "Allow",
            principal,
            action,
            condition: TrustCondition {
                string_equals: condition,
            },
        }],
    }
}

/// `arn` taken apart if it is a role ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`).
fn role(arn: &str) -> Result<Arn, String> {
    Arn::parse(arn)
        .filter(|a| arn.len() <= MAX_ARN && a.service == "iam" && a.resource_type() == "role")
        .ok_or_else(|| {
            format!(
                "{:?} is not a role ARN like arn:aws:iam::123456789012:role/name",
                crate::aws::tame::arn(arn)
            )
        })
}

/// `arn` if it can be the `AWS` principal of a policy: an IAM user, role
/// or account root, or an assumed-role session, with an account.
pub fn principal_arn(arn: &str) -> Result<String, String> {
    let arn = arn.trim();
    let ok = arn.len() <= MAX_ARN
        && !arn.chars().any(|c| c.is_whitespace() || c.is_control())
        && Arn::parse(arn).is_some_and(|a| {
            !a.account.is_empty()
                && matches!(
                    (a.service.as_str(), a.resource_type()),
                    ("iam", "user" | "role" | "root") | ("sts", "assumed-role")
                )
        });
    if ok {
        Ok(arn.to_string())
    } else {
        Err(format!(
            "{:?} is not the ARN of an IAM user, role or account (like arn:aws:iam::123456789012:role/name)",
            crate::aws::tame::arn(arn)
        ))
    }
}

/// STS's rule for an ExternalId: 2 to 1224 characters of letters, digits
/// and `_+=,.@:/-`. One that breaks it is refused by STS, whatever the
/// trust policy says.
fn check_external_id(id: &str) -> Result<(), String> {
    let ok = (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the ExternalId {:?} is not one STS accepts (2 to 1224 letters, digits or _+=,.@:/-): choose a --cluster-name of those characters, for the operator and here",
            crate::aws::tame::arn(id)
        ))
    }
}
