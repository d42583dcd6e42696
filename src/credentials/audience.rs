//! The audience of the ServiceAccount token IRSA sends.
//!
//! Whoever receives a token can present it to any service that accepts its
//! audience. AWS's STS accepts `sts.amazonaws.com` for every role that
//! trusts the cluster's OIDC issuer, so such a token goes to AWS only. For a
//! store (an allowed S3-compatible endpoint that is not AWS) the token's
//! audience is the store's own client ID, chosen on purpose by one of:
//! - the ServiceAccount, with [`STORE_AUDIENCE_ANNOTATION`] (not
//!   `eks.amazonaws.com/audience`, which may name an audience an AWS
//!   account registered for the cluster's pods);
//! - the administrator, in the endpoint's allowlist entry
//!   (`;audience=`, as MinIO's `MINIO_IDENTITY_OPENID_CLIENT_ID`).
//!
//! Without either, or with an audience AWS or the API server accepts, no
//! token is minted and the connection says why.
//!
//! A connection's own STS (`spec.stsEndpoint`) gets AWS's audience only
//! when it is under AWS's own domains over HTTPS; any other allowed STS
//! endpoint is treated as a store's, even when the S3 endpoint is AWS.

use super::Resolver;
use super::role::Account;
use crate::allowlist::{Allowlist, is_audience, is_aws, is_aws_audience};
use crate::aws::S3Target;
use crate::messages;
use crate::outcome::Problem;

/// The ServiceAccount annotation naming the audience of tokens the operator
/// sends to a store (not AWS) for it.
pub const STORE_AUDIENCE_ANNOTATION: &str = "s3connection.dev/audience";

/// Where a token would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// AWS's STS, or the administrator's stand-in for it.
    Aws,
    /// The store at this endpoint, with the audience the administrator set
    /// for it, if any.
    Store {
        /// `spec.endpoint`.
        endpoint: &'a str,
        /// The allowlist entry's `;audience=`.
        configured: Option<&'a str>,
    },
}

impl Resolver<'_> {
    /// Where a token for requests to `target` would go ([`recipient`]).
    pub(super) fn recipient<'t>(&'t self, target: &'t S3Target) -> Recipient<'t> {
        recipient(target, self.aws.is_store(target), self.allowed_endpoints)
    }
}

/// Where a token for requests to `target` (a store when `store`) would go:
/// its own STS (`spec.stsEndpoint`) is AWS only under AWS's domains over
/// HTTPS ([`is_aws`]), any other is treated as a store's; without one, the
/// store's STS or AWS's.
pub fn recipient<'t>(target: &'t S3Target, store: bool, allowed: &'t Allowlist) -> Recipient<'t> {
    let store_at = |endpoint: &'t str| Recipient::Store {
        endpoint,
        configured: allowed.audience_for(endpoint),
    };
    match (&target.sts_endpoint, &target.endpoint) {
        (Some(sts), _) if is_aws(sts) => Recipient::Aws,
        (Some(sts), _) => store_at(sts),
        (None, Some(endpoint)) if store => store_at(endpoint),
        _ => Recipient::Aws,
    }
}

/// The audience of a token of ServiceAccount `sa` (`account`) for
/// `recipient`: for AWS, the `eks.amazonaws.com/audience` annotation or
/// `default`; for a store, the ServiceAccount's
/// [`STORE_AUDIENCE_ANNOTATION`], else the administrator's, never one AWS
/// accepts.
pub fn choose(
    recipient: Recipient<'_>,
    account: &Account,
    sa: &str,
    default: &str,
) -> Result<String, Problem> {
    let (endpoint, configured) = match recipient {
        Recipient::Aws => {
            return match &account.audience {
                None => Ok(default.into()),
                Some(a) if is_audience(a.trim()) => Ok(a.trim().to_string()),
                // Bounded and printable like every audience: the value goes
                // into the token request, the session cache key and messages.
                Some(a) => Err(messages::aws_audience_invalid(
                    sa,
                    super::role::AUDIENCE_ANNOTATION,
                    a,
                )),
            };
        }
        Recipient::Store {
            endpoint,
            configured,
        } => (endpoint, configured),
    };
    if let Some(chosen) = &account.store_audience {
        let a = chosen.trim();
        if !is_audience(a) || is_aws_audience(a) {
            return Err(messages::store_audience_refused(
                sa,
                endpoint,
                STORE_AUDIENCE_ANNOTATION,
                chosen,
            ));
        }
        return Ok(a.to_string());
    }
    match configured {
        // The allowlist refuses AWS audiences when it is parsed; checked
        // again so that no path sends one.
        Some(a) if is_audience(a) && !is_aws_audience(a) => Ok(a.to_string()),
        _ => Err(messages::store_audience_missing(
            sa,
            endpoint,
            STORE_AUDIENCE_ANNOTATION,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;

    fn account(eks: Option<&str>, store: Option<&str>) -> Account {
        Account {
            uid: "u".into(),
            role_arn: None,
            audience: eks.map(Into::into),
            store_audience: store.map(Into::into),
        }
    }

    const DEFAULT: &str = "sts.amazonaws.com";

    #[test]
    fn a_connections_own_sts_gets_an_aws_token_only_under_aws_domains() {
        let allowed = Allowlist::parse(&[
            "https://sts-fips.us-east-1.amazonaws.com",
            "http://sts.amazonaws.com",
            "https://sts.internal:8443;audience=internal-sts",
            "https://minio.example.com:9000",
        ])
        .unwrap();
        let target = |endpoint: Option<&str>, sts: Option<&str>| S3Target {
            region: "us-east-1".into(),
            endpoint: endpoint.map(Into::into),
            sts_endpoint: sts.map(Into::into),
            force_path_style: false,
            trust: None,
        };
        let fips = target(None, Some("https://sts-fips.us-east-1.amazonaws.com"));
        assert_eq!(recipient(&fips, false, &allowed), Recipient::Aws);
        let minio_fips = target(
            Some("https://minio.example.com:9000"),
            Some("https://sts-fips.us-east-1.amazonaws.com"),
        );
        assert_eq!(recipient(&minio_fips, true, &allowed), Recipient::Aws);
        // Not AWS's unless over HTTPS under AWS's domains.
        let plain = target(None, Some("http://sts.amazonaws.com"));
        assert_eq!(
            recipient(&plain, false, &allowed),
            Recipient::Store {
                endpoint: "http://sts.amazonaws.com",
                configured: None
            }
        );
        let internal = target(None, Some("https://sts.internal:8443"));
        let r = recipient(&internal, false, &allowed);
        assert_eq!(
            r,
            Recipient::Store {
                endpoint: "https://sts.internal:8443",
                configured: Some("internal-sts")
            }
        );
        let a = choose(r, &account(Some("sts.amazonaws.com"), None), "sa", DEFAULT);
        assert_eq!(a.unwrap(), "internal-sts");
        let r = recipient(&plain, false, &allowed);
        let p = choose(r, &account(None, None), "sa", DEFAULT).unwrap_err();
        assert_eq!(p.reason, Reason::TokenAudienceRefused);
        // Without one: the store's STS, else AWS's.
        let minio = target(Some("https://minio.example.com:9000"), None);
        assert!(matches!(
            recipient(&minio, true, &allowed),
            Recipient::Store { .. }
        ));
        assert_eq!(
            recipient(&target(None, None), false, &allowed),
            Recipient::Aws
        );
    }

    fn store(configured: Option<&str>) -> Recipient<'_> {
        Recipient::Store {
            endpoint: "https://minio.example.com:9000",
            configured,
        }
    }

    #[test]
    fn an_aws_audience_is_bounded_and_printable() {
        for bad in ["a b", "line\nbreak", &"x".repeat(300)] {
            let p = choose(
                Recipient::Aws,
                &account(Some(bad), None),
                "sa",
                "sts.amazonaws.com",
            )
            .unwrap_err();
            assert!(p.message.len() < 1000, "{} bytes", p.message.len());
            assert!(!p.message.contains('\n'));
        }
    }

    #[test]
    fn aws_gets_the_eks_audience_or_the_default() {
        let a = choose(Recipient::Aws, &account(None, Some("x")), "sa", DEFAULT);
        assert_eq!(a.unwrap(), DEFAULT);
        let a = choose(
            Recipient::Aws,
            &account(Some("custom"), None),
            "sa",
            DEFAULT,
        );
        assert_eq!(a.unwrap(), "custom");
    }

    #[test]
    fn a_store_never_gets_a_token_for_aws() {
        // Nobody chose: refused, whatever the EKS annotation says.
        for eks in [None, Some("sts.amazonaws.com"), Some("minio")] {
            let p = choose(store(None), &account(eks, None), "sa", DEFAULT).unwrap_err();
            assert_eq!(p.reason, Reason::TokenAudienceRefused);
            assert!(p.message.contains(";audience="), "{}", p.message);
            assert!(
                p.message.contains(STORE_AUDIENCE_ANNOTATION),
                "{}",
                p.message
            );
        }
        // The ServiceAccount chose an audience AWS accepts: refused.
        for aws in [
            "sts.amazonaws.com",
            " STS.AMAZONAWS.COM ",
            "pods.eks.amazonaws.com",
        ] {
            let p = choose(
                store(Some("minio")),
                &account(None, Some(aws)),
                "sa",
                DEFAULT,
            )
            .unwrap_err();
            assert_eq!(p.reason, Reason::TokenAudienceRefused, "{aws}");
        }
        // A huge annotation is refused, and not echoed whole.
        let huge = "a".repeat(100_000);
        let p = choose(store(None), &account(None, Some(&huge)), "sa", DEFAULT).unwrap_err();
        assert!(p.message.len() < 1000, "{} bytes", p.message.len());
        // An AWS audience configured (only by a bug: the allowlist refuses it).
        let p = choose(store(Some(DEFAULT)), &account(None, None), "sa", DEFAULT).unwrap_err();
        assert_eq!(p.reason, Reason::TokenAudienceRefused);
    }

    #[test]
    fn a_store_gets_the_service_accounts_audience_else_the_administrators() {
        let a = choose(store(Some("minio")), &account(None, None), "sa", DEFAULT);
        assert_eq!(a.unwrap(), "minio");
        let a = choose(
            store(Some("minio")),
            &account(None, Some("mine")),
            "sa",
            DEFAULT,
        );
        assert_eq!(a.unwrap(), "mine");
        let a = choose(store(None), &account(None, Some("mine")), "sa", DEFAULT);
        assert_eq!(a.unwrap(), "mine");
    }
}
