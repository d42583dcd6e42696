//! What one validation found: the vocabulary shared by the credential
//! resolver, the S3 probes and the status builder. Pure types, no I/O.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use strum::IntoEnumIterator;

use crate::cost::Usage;
use crate::crd::{AuthKind, Permission, PermissionOutcome, PermissionResult};

/// Why a connection is (or is not) ready. The names are public API: they
/// appear as condition reasons, event reasons and metric labels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr, strum::Display,
)]
pub enum Reason {
    /// Every requested permission was proved or could not be disproved.
    Validated,
    /// The spec breaks a rule the API server could not check.
    InvalidSpec,
    /// `spec.endpoint` is not in the operator's allowlist.
    EndpointNotAllowed,
    /// `spec.stsEndpoint` is not in the operator's allowlist.
    StsEndpointNotAllowed,
    /// The Secret the connection names does not exist.
    SecretNotFound,
    /// The Secret lacks a key the connection needs.
    SecretKeyMissing,
    /// A value in the Secret cannot be used as credentials or a CA.
    SecretValueInvalid,
    /// The ServiceAccount the connection names does not exist.
    ServiceAccountNotFound,
    /// No role ARN in the spec nor on the ServiceAccount.
    RoleArnMissing,
    /// The operator's own identity was asked for and is not allowed.
    OperatorIdentityDisabled,
    /// S3 or STS rejected the credentials.
    InvalidCredentials,
    /// STS refused to issue the role's credentials.
    AssumeRoleFailed,
    /// The bucket does not exist at the endpoint.
    BucketNotFound,
    /// The bucket is in another region than `spec.region`.
    WrongRegion,
    /// The endpoint answered something that is not S3.
    InvalidResponse,
    /// TLS to the endpoint failed (certificate, CA, protocol).
    TlsError,
    /// Another account owns the bucket than `spec.expectedBucketOwner`.
    BucketOwnerMismatch,
    /// Some requested permissions were denied.
    PermissionDenied,
    /// Every request was denied: nothing of the bucket is reachable.
    AccessDenied,
    /// An object the operator did not write sits at the probe key.
    ProbeKeyInUse,
    /// The endpoint could not be reached; retried.
    EndpointUnreachable,
    /// A temporary failure (throttling, a 5xx); retried.
    Transient,
    /// The validation took longer than its deadline; retried.
    ValidationTimedOut,
    /// The validation failed inside the operator; retried.
    InternalError,
    /// The store returned other content for the probe object than it was
    /// given: what a workload reads from it cannot be trusted.
    ProbeContentMismatch,
    /// The Secret named for credentials is not of type `Opaque`.
    SecretTypeNotAllowed,
    /// The Secret named for credentials lacks the label the operator
    /// requires (`s3connection.dev/credentials: "true"`).
    SecretLabelMissing,
    /// No ServiceAccount token is sent to a store without an audience of
    /// its own (the administrator's or the ServiceAccount's), nor with one
    /// AWS accepts.
    TokenAudienceRefused,
    /// KMS refused the key of an SSE-KMS probe object: the caller may not
    /// use it (the KMS action and key named), or it cannot be used.
    KmsAccessDenied,
}

/// How far a reason lets the operator trust the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Everything requested was proved or could not be disproved.
    Ok,
    /// A definite problem the user must fix: `Ready=False`, `Failed=True`.
    Definite,
    /// The answer is not known yet: `Ready=Unknown`, retried with backoff.
    Transient,
}

/// The check a reason belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The spec itself (and the endpoint allowlist).
    Spec,
    /// Finding and proving the credentials.
    Credentials,
    /// Reaching the bucket.
    Bucket,
    /// Permissions, and the reasons not tied to one check (success, transient).
    Permissions,
}

impl Reason {
    /// The reason's name, as conditions, events and metrics show it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every reason.
    pub fn all() -> impl Iterator<Item = Reason> {
        Reason::iter()
    }

    /// How far the reason lets the operator trust the connection.
    pub fn severity(self) -> Severity {
        match self {
            Reason::Validated => Severity::Ok,
            Reason::EndpointUnreachable
            | Reason::Transient
            | Reason::ValidationTimedOut
            | Reason::InternalError => Severity::Transient,
            _ => Severity::Definite,
        }
    }

    /// The check the reason belongs to.
    pub fn check(self) -> Check {
        match self {
            Reason::InvalidSpec | Reason::EndpointNotAllowed | Reason::StsEndpointNotAllowed => {
                Check::Spec
            }
            Reason::SecretNotFound
            | Reason::SecretKeyMissing
            | Reason::SecretValueInvalid
            | Reason::ServiceAccountNotFound
            | Reason::RoleArnMissing
            | Reason::OperatorIdentityDisabled
            | Reason::InvalidCredentials
            | Reason::AssumeRoleFailed
            | Reason::SecretTypeNotAllowed
            | Reason::SecretLabelMissing
            | Reason::TokenAudienceRefused => Check::Credentials,
            Reason::BucketNotFound
            | Reason::WrongRegion
            | Reason::InvalidResponse
            | Reason::TlsError
            | Reason::BucketOwnerMismatch
            | Reason::AccessDenied => Check::Bucket,
            Reason::PermissionDenied
            | Reason::KmsAccessDenied
            | Reason::ProbeKeyInUse
            | Reason::ProbeContentMismatch
            | Reason::Validated
            | Reason::EndpointUnreachable
            | Reason::Transient
            | Reason::ValidationTimedOut
            | Reason::InternalError => Check::Permissions,
        }
    }

    /// A definite problem found by `check`.
    pub fn fails(self, check: Check) -> bool {
        self.severity() == Severity::Definite && self.check() == check
    }
}

/// A problem found while validating, with a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Why.
    pub reason: Reason,
    /// What happened and how to fix it ([`crate::messages`]).
    pub message: String,
}

impl Problem {
    /// A problem for `reason` with `message`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// The three values of AWS credentials, and what each may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The access key ID.
    AccessKeyId,
    /// The secret access key.
    SecretAccessKey,
    /// The session token.
    SessionToken,
}

impl Part {
    /// The longest value accepted.
    pub fn max_len(self) -> usize {
        match self {
            Part::AccessKeyId => 128,
            Part::SecretAccessKey => 256,
            Part::SessionToken => 8192,
        }
    }
}

/// What is wrong with a credential value (never the value itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFlaw {
    /// Nothing in it.
    Empty,
    /// Characters other than printable ASCII without spaces (or not text).
    NotPrintable(Part),
    /// Longer than AWS allows (by how much is not kept: texts never tell a
    /// value's length).
    TooLong(Part),
    /// A CA bundle without a PEM certificate.
    NotPem,
}

/// What is wrong with a key of a Secret the connection names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFlaw {
    /// The Secret has no such key.
    Absent,
    /// The value is empty (or only whitespace).
    Empty,
}

/// A probe object the operator could not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The bucket it is in.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The version the bucket's Object Lock retains, when the object itself
    /// was deleted (a delete marker hides it) but its version cannot be
    /// removed until the retention ends.
    pub version: Option<String>,
}

/// The result of proving one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The permission.
    pub permission: Permission,
    /// Allowed, denied or unverified.
    pub result: PermissionOutcome,
    /// How the result was obtained.
    pub message: String,
    /// When a real request established it, for a result carried over from
    /// an earlier validation; `None` for one this validation found (the
    /// status stamps it, [`crate::status::build_status`]).
    pub proved_at: Option<Timestamp>,
}

impl PermissionCheck {
    /// What this validation found for `permission`.
    pub fn new(permission: Permission, result: PermissionOutcome, message: String) -> Self {
        Self {
            permission,
            result,
            message,
            proved_at: None,
        }
    }

    /// As written to `status.permissions`, proved at `proved`.
    pub fn to_status(&self, proved: Option<Timestamp>) -> PermissionResult {
        PermissionResult {
            action: self.permission.as_str().to_string(),
            result: self.result,
            message: self.message.clone(),
            last_proved: proved.map(Time),
        }
    }

    /// Read back from status; entries naming no known permission are dropped.
    pub fn from_status(r: &PermissionResult) -> Option<Self> {
        Some(Self {
            permission: r.action.parse().ok()?,
            result: r.result,
            message: r.message.clone(),
            proved_at: r.last_proved.as_ref().map(|t| t.0),
        })
    }
}

/// How deep a validation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Every requested permission proved with real requests.
    #[default]
    Full,
    /// A light check: the credentials and the bucket still answer, and IAM
    /// policy simulation (where used) agrees; the other results are the
    /// last full validation's.
    Light,
}

impl Depth {
    /// As logs name it: `full` or `light`.
    pub fn as_str(self) -> &'static str {
        match self {
            Depth::Full => "full",
            Depth::Light => "light",
        }
    }
}

/// Everything one validation established. Conditions and status are derived
/// from it by [`crate::status`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Why the connection is (or is not) ready.
    pub reason: Reason,
    /// What was found and, for a problem, how to fix it.
    pub message: String,
    /// How the connection authenticates, when its spec says so unambiguously.
    pub auth: Option<AuthKind>,
    /// The ExternalId sent when the operator's own identity assumes the role.
    pub external_id: Option<String>,
    /// The requested-at annotation value this validation answers.
    pub requested_at: Option<String>,
    /// The credentials were accepted by STS or S3.
    pub authenticated: bool,
    /// S3 answered for the bucket in the requested region.
    pub bucket_reached: bool,
    /// Who the credentials are (an ARN), as STS answered.
    pub identity: Option<String>,
    /// The region the bucket answered from.
    pub bucket_region: Option<String>,
    /// One entry per requested permission, once the probes ran.
    pub permissions: Vec<PermissionCheck>,
    /// A probe object this validation could not delete.
    pub leftover: Option<Leftover>,
    /// The requests this validation sent, and how often the connection is
    /// validated; `None` where nobody counted them (the `check` command).
    pub usage: Option<Usage>,
    /// A full validation or a light check.
    pub depth: Depth,
}

impl Outcome {
    /// A validation that stopped early with a problem.
    pub fn problem(p: Problem) -> Self {
        Self::new(p.reason, p.message)
    }

    /// This outcome with every text made [`printable`](crate::messages::printable).
    pub fn printable(mut self) -> Self {
        self.message = crate::messages::printable(&self.message);
        for p in &mut self.permissions {
            p.message = crate::messages::printable(&p.message);
        }
        self
    }

    /// Nothing established yet.
    pub fn new(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            auth: None,
            external_id: None,
            requested_at: None,
            authenticated: false,
            bucket_reached: false,
            identity: None,
            bucket_region: None,
            permissions: vec![],
            leftover: None,
            usage: None,
            depth: Depth::Full,
        }
    }

    /// The actions whose result is `result`, in the order they were checked.
    pub fn actions_with(&self, result: PermissionOutcome) -> Vec<&'static str> {
        self.permissions
            .iter()
            .filter(|p| p.result == result)
            .map(|p| p.permission.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_distinct_names_and_severities() {
        let names: std::collections::HashSet<_> = Reason::all().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::all().count());
        assert_eq!(Reason::Validated.severity(), Severity::Ok);
        assert_eq!(Reason::Transient.severity(), Severity::Transient);
        assert_eq!(Reason::EndpointUnreachable.severity(), Severity::Transient);
        assert_eq!(Reason::WrongRegion.severity(), Severity::Definite);
    }

    #[test]
    fn reason_names_are_the_variant_names() {
        assert_eq!(Reason::InvalidCredentials.as_str(), "InvalidCredentials");
        assert_eq!(Reason::Validated.to_string(), "Validated");
    }

    #[test]
    fn permission_checks_round_trip_through_status() {
        let c = PermissionCheck {
            permission: Permission::PutObject,
            result: PermissionOutcome::Denied,
            message: "m".into(),
            proved_at: None,
        };
        let s = c.to_status(None);
        assert_eq!(s.action, "s3:PutObject");
        assert_eq!(PermissionCheck::from_status(&s), Some(c.clone()));
        // A time given is written, and read back as the result's.
        let at = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let s = c.to_status(Some(at));
        assert_eq!(s.last_proved, Some(Time(at)));
        assert_eq!(
            PermissionCheck::from_status(&s).and_then(|c| c.proved_at),
            Some(at)
        );
        let unknown = PermissionResult {
            action: "s3:Other".into(),
            result: PermissionOutcome::Allowed,
            message: String::new(),
            last_proved: None,
        };
        assert_eq!(PermissionCheck::from_status(&unknown), None);
    }
}
