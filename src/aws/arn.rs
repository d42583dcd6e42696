//! ARNs taken apart once ([`Arn::parse`]), so that decisions are made on
//! their fields rather than on substrings.

use std::fmt;

/// An Amazon Resource Name:
/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ... (or a store's own, e.g. `minio`).
    pub partition: String,
    /// `iam`, `sts`, `s3`, ...
    pub service: String,
    /// Empty for global services (IAM, S3 buckets).
    pub region: String,
    /// The account ID; empty for S3 buckets.
    pub account: String,
    /// Everything after the account, colons included: `user/NAME`,
    /// `role/PATH/NAME`, `assumed-role/ROLE/SESSION`, `BUCKET/KEY`.
    pub resource: String,
}

impl Arn {
    /// `s` taken apart, or `None` if it is not `arn:` and five more
    /// colon-separated parts.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let mut next = || parts.next().map(str::to_string);
        Some(Self {
            partition: next()?,
            service: next()?,
            region: next()?,
            account: next()?,
            resource: next()?,
        })
    }

    /// An S3 ARN (no region, no account) of `resource` in `partition`.
    pub fn s3(partition: &str, resource: String) -> Self {
        Self {
            partition: partition.into(),
            service: "s3".into(),
            region: String::new(),
            account: String::new(),
            resource,
        }
    }

    /// The resource's type, before its first `/`: `user`, `role`,
    /// `assumed-role`; the whole resource when it has no `/` (`root`).
    pub fn resource_type(&self) -> &str {
        self.resource
            .split_once('/')
            .map_or(self.resource.as_str(), |(kind, _)| kind)
    }

    /// The resource after its type and `/`: `NAME`, `PATH/NAME`,
    /// `ROLE/SESSION`; empty when it has no `/`.
    pub fn resource_name(&self) -> &str {
        self.resource.split_once('/').map_or("", |(_, name)| name)
    }

    /// The IAM principal this identity is: an IAM user or role itself, the
    /// role of an assumed-role session
    /// (`arn:P:sts::A:assumed-role/ROLE/SESSION` → `arn:P:iam::A:role/ROLE`),
    /// or `None` (an account's root, a federated user, anything else).
    pub fn iam_principal(&self) -> Option<Arn> {
        match (
            self.service.as_str(),
            self.region.as_str(),
            self.resource_type(),
        ) {
            ("iam", "", "user" | "role") => Some(self.clone()),
            ("sts", _, "assumed-role") => {
                let role = self.resource_name().split('/').next().unwrap_or_default();
                Some(Self {
                    partition: self.partition.clone(),
                    service: "iam".into(),
                    region: String::new(),
                    account: self.account.clone(),
                    resource: format!("role/{role}"),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            partition,
            service,
            region,
            account,
            resource,
        } = self;
        write!(f, "arn:{partition}:{service}:{region}:{account}:{resource}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_taken_apart_and_put_back_together_unchanged() {
        for s in [
            "arn:aws:iam::123456789012:user/sync",
            "arn:aws-cn:iam::123456789012:role/path/sync",
            "arn:aws:sts::123456789012:assumed-role/sync/session",
            "arn:aws:s3:::output/customers/*",
            "arn:aws:iam::123456789012:root",
            "arn:aws:logs:eu-west-1:123456789012:log-group:a:b",
        ] {
            assert_eq!(Arn::parse(s).unwrap().to_string(), s);
        }
        let a = Arn::parse("arn:aws:sts::123456789012:assumed-role/sync/s").unwrap();
        assert_eq!(
            (a.partition.as_str(), a.service.as_str(), a.region.as_str()),
            ("aws", "sts", "")
        );
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.resource_type(), "assumed-role");
        assert_eq!(a.resource_name(), "sync/s");
        let root = Arn::parse("arn:aws:iam::1:root").unwrap();
        assert_eq!((root.resource_type(), root.resource_name()), ("root", ""));
        for not_an_arn in [
            "",
            "arn",
            "arn:aws:iam::1",
            "urn:aws:iam::1:user/a",
            "user/a",
        ] {
            assert_eq!(Arn::parse(not_an_arn), None, "{not_an_arn}");
        }
        assert_eq!(
            Arn::s3("aws", "output/customers/*".into()).to_string(),
            "arn:aws:s3:::output/customers/*"
        );
    }

    #[test]
    fn the_iam_principal_of_an_identity() {
        let principal = |s: &str| {
            Arn::parse(s)
                .unwrap()
                .iam_principal()
                .map(|a| a.to_string())
        };
        for same in [
            "arn:aws:iam::123456789012:user/sync",
            "arn:aws:iam::123456789012:role/path/sync",
        ] {
            assert_eq!(principal(same).as_deref(), Some(same));
        }
        assert_eq!(
            principal("arn:aws-us-gov:sts::123456789012:assumed-role/sync/session").as_deref(),
            Some("arn:aws-us-gov:iam::123456789012:role/sync")
        );
        for none in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/bob",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:s3:::role/x",
        ] {
            assert_eq!(principal(none), None, "{none}");
        }
    }
}
