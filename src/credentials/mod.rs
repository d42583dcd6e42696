//! Resolving a connection's credentials from its [`AuthMethod`]: a Secret of
//! its namespace ([`secret`]), an IRSA exchange for a ServiceAccount of its
//! namespace, or (only when the operator allows it) an AssumeRole with the
//! operator's own identity ([`role`]). Assumed-role credentials are cached
//! ([`cache`]); every value handled is registered with a [`Redactor`] so it
//! can be scrubbed from text.

pub mod cache;
mod redact;
pub mod role;
pub mod secret;

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

pub use cache::CredentialCache;
pub use redact::Redactor;
pub use secret::credentials_from_secret;

use crate::aws::AwsFactory;
use crate::crd::ConnectionId;
use crate::error::Error;
use crate::messages;
use crate::outcome::Problem;
use crate::spec::{AuthMethod, SecretKeys, ValidSpec};

/// Credentials ready for use, with what is needed to keep them out of text.
#[derive(Clone)]
pub struct Resolved {
    pub credentials: Credentials,
    /// Where assumed-role credentials are cached, to forget them when S3 or
    /// STS rejects them.
    pub cache_key: Option<String>,
    /// The ARN of the assumed role, when a role was assumed.
    pub role_arn: Option<String>,
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
    /// Credentials whose every value the redactor knows.
    pub fn new(
        credentials: Credentials,
        cache_key: Option<String>,
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
    pub client: &'a Client,
    pub aws: &'a dyn AwsFactory,
    pub cache: &'a CredentialCache,
    pub allow_operator_identity: bool,
}

impl Resolver<'_> {
    pub async fn resolve(
        &self,
        spec: &ValidSpec,
        id: &ConnectionId,
    ) -> Result<Resolved, ResolveError> {
        match &spec.auth {
            AuthMethod::AccessKey(keys) => self.read_secret(keys, &id.namespace).await,
            AuthMethod::Irsa(role) => self.irsa(role, &spec.region, id).await,
            AuthMethod::OperatorRole(role) => self.operator_role(role, &spec.region, id).await,
        }
    }

    async fn read_secret(&self, keys: &SecretKeys, ns: &str) -> Result<Resolved, ResolveError> {
        let name = &keys.secret_name;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("get Secret {ns}/{name}"), e))?
            .ok_or_else(|| {
                messages::secret_not_found(
                    name,
                    ns,
                    &keys.access_key_id_key,
                    &keys.secret_access_key_key,
                )
            })?;
        Ok(credentials_from_secret(&secret, keys)?)
    }

    /// Forget cached credentials that S3 or STS rejected.
    pub fn forget(&self, resolved: &Resolved) {
        if let Some(key) = &resolved.cache_key {
            self.cache.invalidate(key);
        }
    }
}
