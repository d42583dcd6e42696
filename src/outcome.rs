//! What one validation found: the vocabulary shared by the credential
//! resolver, the S3 probes and the condition builder.

use crate::api::{PermissionOutcome, PermissionResult};

/// Why a connection is (or is not) ready. The string forms are public API:
/// they appear as condition reasons, event reasons and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Validated,
    InvalidSpec,
    SecretNotFound,
    SecretKeyMissing,
    ServiceAccountNotFound,
    RoleArnMissing,
    OperatorIdentityDisabled,
    InvalidCredentials,
    AssumeRoleFailed,
    BucketNotFound,
    WrongRegion,
    PermissionDenied,
    AccessDenied,
    EndpointUnreachable,
    Transient,
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

/// Which check a definite problem belongs to, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Spec,
    Credentials,
    Bucket,
    Permissions,
}

impl Reason {
    pub const ALL: [Reason; 15] = [
        Reason::Validated,
        Reason::InvalidSpec,
        Reason::SecretNotFound,
        Reason::SecretKeyMissing,
        Reason::ServiceAccountNotFound,
        Reason::RoleArnMissing,
        Reason::OperatorIdentityDisabled,
        Reason::InvalidCredentials,
        Reason::AssumeRoleFailed,
        Reason::BucketNotFound,
        Reason::WrongRegion,
        Reason::PermissionDenied,
        Reason::AccessDenied,
        Reason::EndpointUnreachable,
        Reason::Transient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Validated => "Validated",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretKeyMissing => "SecretKeyMissing",
            Reason::ServiceAccountNotFound => "ServiceAccountNotFound",
            Reason::RoleArnMissing => "RoleArnMissing",
            Reason::OperatorIdentityDisabled => "OperatorIdentityDisabled",
            Reason::InvalidCredentials => "InvalidCredentials",
            Reason::AssumeRoleFailed => "AssumeRoleFailed",
            Reason::BucketNotFound => "BucketNotFound",
            Reason::WrongRegion => "WrongRegion",
            Reason::PermissionDenied => "PermissionDenied",
            Reason::AccessDenied => "AccessDenied",
            Reason::EndpointUnreachable => "EndpointUnreachable",
            Reason::Transient => "Transient",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Reason::Validated => Severity::Ok,
            Reason::EndpointUnreachable | Reason::Transient => Severity::Transient,
            _ => Severity::Definite,
        }
    }

    /// The check a definite problem belongs to (`Permissions` for success
    /// and transient reasons, which are not tied to one check).
    pub fn stage(self) -> Stage {
        match self {
            Reason::InvalidSpec => Stage::Spec,
            Reason::SecretNotFound
            | Reason::SecretKeyMissing
            | Reason::ServiceAccountNotFound
            | Reason::RoleArnMissing
            | Reason::OperatorIdentityDisabled
            | Reason::InvalidCredentials
            | Reason::AssumeRoleFailed => Stage::Credentials,
            Reason::BucketNotFound | Reason::WrongRegion | Reason::AccessDenied => Stage::Bucket,
            Reason::PermissionDenied
            | Reason::Validated
            | Reason::EndpointUnreachable
            | Reason::Transient => Stage::Permissions,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem found while validating, with a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: Reason,
    pub message: String,
}

impl Problem {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// A probe object the operator could not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub bucket: String,
    pub key: String,
}

/// Everything one validation established. Conditions and status are derived
/// from it by [`crate::conditions`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reason: Reason,
    pub message: String,
    /// The credentials were accepted by STS or S3.
    pub authenticated: bool,
    /// S3 answered for the bucket in the requested region.
    pub bucket_reached: bool,
    pub identity: Option<String>,
    pub bucket_region: Option<String>,
    /// One entry per requested permission, once the probes ran.
    pub permissions: Vec<PermissionResult>,
    pub leftover: Option<Leftover>,
}

impl Outcome {
    /// A validation that stopped early with a problem.
    pub fn problem(p: Problem) -> Self {
        Self {
            reason: p.reason,
            message: p.message,
            authenticated: false,
            bucket_reached: false,
            identity: None,
            bucket_region: None,
            permissions: vec![],
            leftover: None,
        }
    }

    pub fn actions_with(&self, result: PermissionOutcome) -> Vec<&str> {
        self.permissions
            .iter()
            .filter(|p| p.result == result)
            .map(|p| p.action.as_str())
            .collect()
    }
}

/// Removes every occurrence of the given secret strings from text that is
/// about to reach a log, an event or the status. Defence in depth: messages
/// are built from error codes and our own words, but S3-compatible stores
/// are free to echo request details.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn add(&mut self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 4 && !self.secrets.iter().any(|x| x == s) {
            self.secrets.push(s.to_string());
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
        out
    }

    pub fn scrub_problem(&self, p: Problem) -> Problem {
        Problem::new(p.reason, self.scrub(&p.message))
    }

    pub fn scrub_outcome(&self, mut o: Outcome) -> Outcome {
        o.message = self.scrub(&o.message);
        for p in &mut o.permissions {
            p.message = self.scrub(&p.message);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_distinct_names_and_severities() {
        let names: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        assert_eq!(Reason::Validated.severity(), Severity::Ok);
        assert_eq!(Reason::Transient.severity(), Severity::Transient);
        assert_eq!(Reason::EndpointUnreachable.severity(), Severity::Transient);
        assert_eq!(Reason::WrongRegion.severity(), Severity::Definite);
    }

    #[test]
    fn redactor_removes_secrets_and_ignores_tiny_strings() {
        let mut r = Redactor::default();
        r.add("AKIAEXAMPLE123");
        r.add("wJalrXUtnFEMI/K7MDENG");
        r.add("ab");
        let s = r.scrub("key AKIAEXAMPLE123 secret wJalrXUtnFEMI/K7MDENG ab");
        assert_eq!(s, "key [REDACTED] secret [REDACTED] ab");
        assert!(format!("{r:?}").contains("2 secrets"));
    }
}
