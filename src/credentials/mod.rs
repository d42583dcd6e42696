//! Resolving a connection's credentials from its [`AuthMethod`]: a Secret of
//! its namespace ([`secret`]), an IRSA exchange for a ServiceAccount of its
//! namespace, or (only when the operator allows it) an AssumeRole with the
//! operator's own identity ([`role`]). Assumed-role credentials are cached
//! ([`cache`]); every value handled is registered with a [`Redactor`] so it
//! can be scrubbed from text.

pub mod audience;
pub mod cache;
mod redact;
pub mod role;
pub mod secret;
pub mod versions;

use std::sync::Arc;

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};

pub use cache::{CredentialCache, Limits as CacheLimits, SessionKey};
pub use redact::Redactor;
pub use secret::credentials_from_secret;
pub use versions::SecretVersions;

use crate::aws::{AwsFactory, S3Target};
use crate::crd::ConnectionId;
use crate::error::{Error, within};
use crate::messages;
use crate::outcome::Problem;
pub use crate::outcome::{KeyFlaw, Part, ValueFlaw};
use crate::spec::{AuthMethod, SecretKeys, ValidSpec};

/// The key of the CA bundle in a `spec.caSecretRef` Secret.
pub const CA_KEY: &str = "ca.crt";

/// Credentials ready for use, with what is needed to keep them out of text.
#[derive(Clone)]
pub struct Resolved {
    /// The credentials to sign requests with.
    pub credentials: Credentials,
    /// Where assumed-role credentials are cached, to forget them when S3 or
    /// STS rejects them.
    pub cache_key: Option<SessionKey>,
    /// The ARN of the assumed role, when a role was assumed.
    pub role_arn: Option<String>,
    /// Removes every secret value from texts before anyone sees them.
    pub redactor: Redactor,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("cache_key", &self.cache_key)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// Who the permissions belong to, as a digest: the assumed role, else
    /// the access key ID (its user). A new secret for the same key, or a
    /// new session of the same role, is the same principal; nothing secret
    /// goes into it.
    pub fn principal(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match &self.role_arn {
            Some(role) => {
                h.update(b"role\0");
                h.update(role.as_bytes());
            }
            None => {
                h.update(b"key\0");
                h.update(self.credentials.access_key_id().as_bytes());
            }
        }
        let d = h.finalize();
        u64::from_be_bytes(d[..8].try_into().unwrap_or_default())
    }

    /// Credentials whose every value the redactor knows.
    pub fn new(
        credentials: Credentials,
        cache_key: Option<SessionKey>,
        role_arn: Option<String>,
    ) -> Self {
        let mut redactor = Redactor::default();
        redactor.add(credentials.access_key_id());
        redactor.add(credentials.secret_access_key());
        if let Some(t) = credentials.session_token() {
            redactor.add(t);
        }
        Self {
            credentials,
            cache_key,
            role_arn,
            redactor,
        }
    }
}

/// Check a credential value before it is used anywhere: printable ASCII
/// without spaces (it ends up in HTTP headers, where anything else makes the
/// SDK's signer panic) and no longer than AWS allows. The value itself never
/// appears in the error.
pub fn check_value(part: Part, value: &str) -> Result<(), ValueFlaw> {
    if value.is_empty() {
        return Err(ValueFlaw::Empty);
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValueFlaw::NotPrintable(part));
    }
    if value.len() > part.max_len() {
        return Err(ValueFlaw::TooLong(part));
    }
    Ok(())
}

/// The extra trust roots a `spec.caSecretRef` Secret holds: its key
/// [`CA_KEY`], which must hold a PEM certificate.
pub fn trust_roots_of(secret: &Secret) -> Result<Arc<[u8]>, Problem> {
    let name = secret.name_any();
    let pem = secret
        .data
        .as_ref()
        .and_then(|d| d.get(CA_KEY))
        .ok_or_else(|| messages::secret_key_missing(&name, CA_KEY, KeyFlaw::Absent))?;
    if !pem
        .0
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(messages::secret_value_invalid(
            &name,
            CA_KEY,
            ValueFlaw::NotPem,
        ));
    }
    Ok(Arc::from(pem.0.as_slice()))
}

/// Why no credentials came out.
#[derive(Debug)]
pub enum ResolveError {
    /// Something about the connection, reported in its status.
    Problem(Problem),
    /// The operator itself failed (a Kubernetes API call): retried by the
    /// error policy, not reported as the connection's fault.
    Operator(Error),
}

impl From<Problem> for ResolveError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl From<Error> for ResolveError {
    fn from(e: Error) -> Self {
        Self::Operator(e)
    }
}

/// Resolves credentials for connections.
pub struct Resolver<'a> {
    /// The Kubernetes client (Secrets, ServiceAccounts, tokens).
    pub client: &'a Client,
    /// The AWS clients (STS).
    pub aws: &'a dyn AwsFactory,
    /// Assumed-role credentials, by session.
    pub cache: &'a CredentialCache,
    /// Secret versions and what was read at each.
    pub secrets: &'a SecretVersions,
    /// What IRSA needs of each ServiceAccount.
    pub accounts: &'a role::ServiceAccounts,
    /// Whether connections may use the operator's own identity.
    pub allow_operator_identity: bool,
    /// `<cluster>` of the ExternalId `<cluster>:<namespace>`.
    pub cluster_name: Option<&'a str>,
    /// Upper bound for each call to the API server (gets, token requests).
    pub api_timeout: std::time::Duration,
    /// Whether a Secret must be labelled `s3connection.dev/credentials:
    /// "true"` to be used for credentials.
    pub require_credentials_label: bool,
    /// The administrator's allowed endpoints (their token audiences).
    pub allowed_endpoints: &'a crate::allowlist::Allowlist,
}

impl Resolver<'_> {
    /// Credentials for `spec`, whose requests go to `target`.
    pub async fn resolve(
        &self,
        spec: &ValidSpec,
        target: &S3Target,
        id: &ConnectionId,
    ) -> Result<Resolved, ResolveError> {
        match &spec.auth {
            AuthMethod::AccessKey(keys) => self.read_secret(keys, &id.namespace).await,
            AuthMethod::Irsa(role) => self.irsa(role, target, id).await,
            AuthMethod::OperatorRole(role) => self.operator_role(role, target, id).await,
        }
    }

    /// The extra trust roots of Secret `name` (key `ca.crt`) in `ns`.
    pub async fn trust_roots(&self, ns: &str, name: &str) -> Result<Arc<[u8]>, ResolveError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let what = || format!("get Secret {ns}/{name}");
        let secret = within(self.api_timeout, what, api.get_opt(name))
            .await?
            .map_err(|e| Error::kube(what(), e))?
            .ok_or_else(|| messages::ca_secret_not_found(name, ns))?;
        Ok(trust_roots_of(&secret)?)
    }

    async fn read_secret(&self, keys: &SecretKeys, ns: &str) -> Result<Resolved, ResolveError> {
        let name = &keys.secret_name;
        if let Some(resolved) = self.secrets.cached(ns, keys) {
            return Ok(resolved);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let not_found = || {
            messages::secret_not_found(
                name,
                ns,
                &keys.access_key_id_key,
                &keys.secret_access_key_key,
            )
        };
        // A Secret the labelled watch has not seen: its labels first, so
        // that nothing of an unlabelled Secret is read.
        if self.require_credentials_label && self.secrets.current(ns, name).is_none() {
            let what = || format!("get Secret {ns}/{name} metadata");
            let meta = within(self.api_timeout, what, api.get_metadata_opt(name))
                .await?
                .map_err(|e| Error::kube(what(), e))?
                .ok_or_else(not_found)?;
            if !secret::labelled(&meta.metadata) {
                return Err(messages::secret_label_missing(name, secret::CREDENTIALS_LABEL).into());
            }
        }
        let what = || format!("get Secret {ns}/{name}");
        let secret = within(self.api_timeout, what, api.get_opt(name))
            .await?
            .map_err(|e| Error::kube(what(), e))?
            .ok_or_else(not_found)?;
        secret::check_meant_for_credentials(&secret, self.require_credentials_label)?;
        let resolved = credentials_from_secret(&secret, keys)?;
        self.secrets.remember(
            ns,
            keys,
            secret.metadata.resource_version.as_deref(),
            &resolved,
        );
        Ok(resolved)
    }

    /// Forget cached credentials that S3 or STS rejected.
    pub fn forget(&self, resolved: &Resolved) {
        if let Some(key) = &resolved.cache_key {
            self.cache.invalidate(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_must_be_header_safe_and_bounded() {
        assert!(check_value(Part::AccessKeyId, "AKIAIOSFODNN7EXAMPLE").is_ok());
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert!(check_value(Part::SecretAccessKey, secret).is_ok());
        assert!(check_value(Part::SessionToken, &"F".repeat(8192)).is_ok());
        for bad in [
            "AKIA\nX",
            "AKIA X",
            "AKIA\u{7f}",
            "AKIAé",
            "\tAKIA",
            "A\u{0}",
            "",
        ] {
            let e = check_value(Part::AccessKeyId, bad).unwrap_err();
            let text = crate::messages::value_flaw(e);
            assert!(!text.contains(bad) || bad.is_empty(), "{text}");
        }
        assert!(check_value(Part::AccessKeyId, &"A".repeat(129)).is_err());
        assert!(check_value(Part::SecretAccessKey, &"A".repeat(257)).is_err());
        let e = check_value(Part::SessionToken, &"F".repeat(8193)).unwrap_err();
        assert_eq!(e, ValueFlaw::TooLong(Part::SessionToken));
        // The text states the rule; it tells neither the value's length nor
        // which rule it broke.
        let text = crate::messages::value_flaw(e);
        assert!(text.contains("8192") && !text.contains("8193"), "{text}");
        let unprintable = check_value(Part::SessionToken, "F\nF").unwrap_err();
        assert_eq!(crate::messages::value_flaw(unprintable), text);
    }
}
