//! Where `check` gets a connection's CA Secret and credentials: the
//! operator's own [`Resolver`] on the cluster of the current kubeconfig
//! (with fresh caches and the user's rights), or Secrets from files, or
//! this machine's AWS credential chain. Every value handled is also
//! registered with one [`Redactor`] for all of `check`'s output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use kube::Client;

use super::secret_file::SecretFiles;
use crate::allowlist::Allowlist;
use crate::aws::{AwsFactory, S3Target};
use crate::crd::ConnectionId;
use crate::credentials::{
    CacheLimits, CredentialCache, Part, Redactor, ResolveError, Resolved, Resolver, SecretVersions,
    check_value, credentials_from_secret, role, secret, trust_roots_of,
};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::{AuthMethod, ValidSpec};
use crate::validation::Source;

/// What the operator's resolver needs of a cluster, fresh for one check.
pub struct Cluster {
    /// A client with the current kubeconfig's identity.
    pub client: Client,
    cache: CredentialCache,
    secrets: SecretVersions,
    accounts: role::ServiceAccounts,
}

impl Cluster {
    /// The cluster `client` talks to, with empty caches.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: CredentialCache::new(
                CacheLimits::default(),
                Default::default(),
                Default::default(),
            ),
            secrets: SecretVersions::default(),
            accounts: role::ServiceAccounts::default(),
        }
    }
}

/// `check`'s [`Source`].
pub struct CheckSource<'a> {
    /// The SDK clients' factory (STS for IRSA).
    pub aws: &'a dyn AwsFactory,
    /// The endpoints connections may use (their token audiences).
    pub allowed_endpoints: &'a Allowlist,
    /// The cluster, with `--from-cluster`.
    pub cluster: Option<Cluster>,
    /// Credentials not read from the cluster: from the spec's Secret in a
    /// `--secret-file` (or the reason the operator would give for that
    /// Secret), or this machine's.
    pub given: Option<Result<Resolved, Problem>>,
    /// Secrets from files (the CA Secret, without `--from-cluster`).
    pub files: SecretFiles,
    /// Whether Secrets must carry the credentials label.
    pub require_credentials_label: bool,
    /// Bound of each Kubernetes API call.
    pub api_timeout: Duration,
    /// Every value handled, for all of `check`'s output.
    pub redactor: Arc<Mutex<Redactor>>,
}

impl CheckSource<'_> {
    fn resolver<'s>(&'s self, cluster: &'s Cluster) -> Resolver<'s> {
        Resolver {
            client: &cluster.client,
            aws: self.aws,
            cache: &cluster.cache,
            secrets: &cluster.secrets,
            accounts: &cluster.accounts,
            allow_operator_identity: false,
            cluster_name: None,
            api_timeout: self.api_timeout,
            require_credentials_label: self.require_credentials_label,
            allowed_endpoints: self.allowed_endpoints,
        }
    }

    fn remember(&self, resolved: &Resolved) {
        let mut all = self.redactor.lock().unwrap_or_else(|e| e.into_inner());
        all.merge(&resolved.redactor);
    }
}

impl Source for CheckSource<'_> {
    async fn trust_roots(&self, ns: &str, name: &str) -> Result<Arc<[u8]>, ResolveError> {
        if let Some(cluster) = &self.cluster {
            return self.resolver(cluster).trust_roots(ns, name).await;
        }
        let secret = self
            .files
            .find(ns, name)
            .ok_or_else(|| messages::ca_secret_not_found(name, ns))?;
        Ok(trust_roots_of(secret)?)
    }

    async fn resolve(
        &self,
        spec: &ValidSpec,
        target: &S3Target,
        id: &ConnectionId,
    ) -> Result<Resolved, ResolveError> {
        let resolved = match (&self.cluster, &self.given) {
            (Some(cluster), _) => self.resolver(cluster).resolve(spec, target, id).await?,
            (None, Some(given)) => given.clone()?,
            (None, None) => return Err(messages::internal_error().into()),
        };
        self.remember(&resolved);
        Ok(resolved)
    }

    fn forget(&self, _resolved: &Resolved) {
        // Nothing outlives one check.
    }
}

/// The credentials of the spec's Secret among `files`, as the operator
/// would read them from the cluster: only an `Opaque` Secret (labelled,
/// when required), values checked.
pub fn from_files(
    files: &SecretFiles,
    spec: &ValidSpec,
    ns: &str,
    require_label: bool,
) -> Result<Resolved, Problem> {
    let AuthMethod::AccessKey(keys) = &spec.auth else {
        return Err(messages::internal_error());
    };
    let name = &keys.secret_name;
    let Some(found) = files.find(ns, name) else {
        return Err(messages::secret_not_found(
            name,
            ns,
            &keys.access_key_id_key,
            &keys.secret_access_key_key,
        ));
    };
    secret::check_meant_for_credentials(found, require_label)?;
    credentials_from_secret(found, keys)
}

/// The refusal of this machine's credentials, before why.
pub const NO_LOCAL_CREDENTIALS: &str = "--use-local-credentials: no usable AWS credentials on this machine (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files, web identity, container or instance metadata)";

/// This machine's AWS credentials (the SDK's default chain), checked as
/// the operator checks every credential value; the error is one line.
pub async fn local() -> Result<Resolved, String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let unusable = |why: &str| crate::cli::one_line(&format!("{NO_LOCAL_CREDENTIALS}: {why}"));
    let provider = config
        .credentials_provider()
        .ok_or_else(|| unusable("no credential provider"))?;
    let c = provider
        .provide_credentials()
        .await
        .map_err(|e| unusable(&e.to_string()))?;
    for (part, value) in [
        (Part::AccessKeyId, Some(c.access_key_id())),
        (Part::SecretAccessKey, Some(c.secret_access_key())),
        (Part::SessionToken, c.session_token()),
    ] {
        if let Some(v) = value {
            check_value(part, v).map_err(|flaw| unusable(&messages::value_flaw(flaw)))?;
        }
    }
    let credentials = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        c.session_token().map(str::to_string),
        c.expiry(),
        "s3connection-check-local",
    );
    Ok(Resolved::new(credentials, None, None))
}
