//! The settings of a running controller ([`Config`]) and what every
//! reconcile shares ([`Context`]): clients, caches, metrics, slots.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use super::freshness::Freshness;
use super::latest::Latest;
use super::per_uid;
use super::proofs::Proofs;
use super::related::RelatedWatches;
use super::requeue::Failures;
use super::shard::Shard;
use super::slots::Slots;
use super::triggers::Triggers;
use super::wakeups::Wakeups;
use crate::allowlist::Allowlist;
use crate::aws::{AwsFactory, Identities, Outages};
use crate::crd;
use crate::credentials::{CacheLimits, CredentialCache, Resolver, SecretVersions, role};
use crate::status::write;
use crate::telemetry::Metrics;
use crate::validation::Engine;

/// Settings of a running controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// `spec.validationInterval` when a connection does not set it.
    pub default_interval: Duration,
    /// Whether connections may assume roles with the operator's own identity.
    pub allow_operator_identity: bool,
    /// `<cluster>` in the ExternalId `<cluster>:<namespace>` the operator
    /// sends when it assumes a role with its own identity.
    pub cluster_name: Option<String>,
    /// Validations running at once, in all namespaces together.
    pub concurrency: u16,
    /// Watch only these namespaces; all namespaces when empty.
    pub namespaces: Vec<String>,
    /// Validate only the connections whose labels this selects
    /// (`--watch-label-selector`); all when empty.
    pub shard: Shard,
    /// S3-compatible endpoints connections may use.
    pub allowed_endpoints: Allowlist,
    /// Upper bound for one whole validation.
    pub validation_timeout: Duration,
    /// Upper bound for one status patch.
    pub status_timeout: Duration,
    /// First retry delay after a transient problem; doubles up to the interval.
    pub retry_base: Duration,
    /// How long in-flight validations may run after a shutdown request.
    pub shutdown_grace: Duration,
    /// The keys of the probe objects' marker (from the operator's Secret;
    /// by default a key of this process alone).
    pub probe_keys: crate::probe::SharedKeys,
    /// Use only Secrets labelled `s3connection.dev/credentials: "true"` for
    /// credentials, and watch only those.
    pub require_credentials_label: bool,
    /// How much the assumed-role credential cache may hold.
    pub credential_cache: CacheLimits,
    /// Requests a day one connection's validations aim to stay within: what
    /// decides how often a light check also simulates IAM policy
    /// ([`super::proofs::simulate_every`]).
    pub daily_requests: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_interval: crd::rules::DEFAULT_INTERVAL,
            allow_operator_identity: false,
            cluster_name: None,
            concurrency: 16,
            namespaces: vec![],
            shard: Shard::all(),
            allowed_endpoints: Allowlist::default(),
            validation_timeout: Duration::from_secs(60),
            status_timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            probe_keys: Default::default(),
            require_credentials_label: false,
            credential_cache: CacheLimits::default(),
            daily_requests: super::proofs::DAILY_REQUESTS,
        }
    }
}

/// Everything reconcile needs, shared by all reconciles.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Publishes events about connections.
    pub events: write::Events,
    /// The operator's metrics.
    pub metrics: Metrics,
    /// Makes the AWS clients of a connection.
    pub aws: Arc<dyn AwsFactory>,
    /// Assumed-role credentials, by session.
    pub credentials: CredentialCache,
    /// Secret versions, and credentials read per version.
    pub secrets: SecretVersions,
    /// What IRSA needs of each ServiceAccount, from their watch.
    pub accounts: role::ServiceAccounts,
    /// The controller's settings.
    pub config: Config,
    /// STS and IAM locations that recently did not answer.
    pub outages: Arc<Outages>,
    /// Who credentials are, as STS recently answered: one
    /// GetCallerIdentity per credentials, not per validation.
    pub identities: Identities,
    /// When each connection was last validated and last found working.
    pub freshness: Freshness,
    /// Each connection's last full validation: whether the next may be light.
    pub proofs: Proofs,
    /// The newest resourceVersion known of each connection.
    pub latest: Latest,
    /// Secret and ServiceAccount watches still on their first list.
    pub related: RelatedWatches,
    /// When to look at each connection again.
    pub wakeups: Wakeups,
    /// Which watch events of each connection are worth a reconcile.
    pub triggers: Triggers,
    pub(super) failures: Failures,
    pub(super) slots: Slots,
}

impl Context {
    /// Drop what is kept for objects that are gone: failure counts of
    /// deleted connections, credentials of changed or deleted Secrets.
    pub fn prune<'a>(&self, live_uids: impl Iterator<Item = &'a str>) {
        let uids: std::collections::HashSet<&str> = live_uids.collect();
        let keys: std::collections::HashSet<u128> = uids.iter().map(|u| per_uid::key(u)).collect();
        self.failures.retain(|k| keys.contains(&k));
        self.wakeups.retain(|k| keys.contains(&k));
        self.triggers.retain(|k| keys.contains(&k));
        self.freshness.retain(|k| keys.contains(&k));
        self.proofs.retain(|k| keys.contains(&k));
        self.latest.retain(|k| keys.contains(&k));
        self.secrets.prune();
        self.identities.prune(Instant::now());
    }
}

impl Context {
    /// The context of a controller with `config`.
    pub fn new(client: Client, metrics: Metrics, aws: Arc<dyn AwsFactory>, config: Config) -> Self {
        let credentials = CredentialCache::new(
            config.credential_cache,
            metrics.credential_cache_entries.clone(),
            metrics.credential_cache_bytes.clone(),
        );
        Self {
            events: write::Events::new(
                client.clone(),
                std::env::var("POD_NAME").ok(),
                config.status_timeout,
                metrics.clone(),
            ),
            client,
            metrics,
            aws,
            credentials,
            secrets: SecretVersions::default(),
            accounts: role::ServiceAccounts::default(),
            outages: Arc::default(),
            identities: Identities::default(),
            slots: Slots::new(config.concurrency.into()),
            config,
            freshness: Freshness::default(),
            proofs: Proofs::default(),
            latest: Latest::default(),
            related: RelatedWatches::default(),
            wakeups: Wakeups::default(),
            triggers: Triggers::default(),
            failures: Failures::default(),
        }
    }

    pub(super) fn resolver(&self) -> Resolver<'_> {
        Resolver {
            client: &self.client,
            aws: self.aws.as_ref(),
            cache: &self.credentials,
            secrets: &self.secrets,
            accounts: &self.accounts,
            allow_operator_identity: self.config.allow_operator_identity,
            cluster_name: self.config.cluster_name.as_deref(),
            api_timeout: self.config.status_timeout,
            require_credentials_label: self.config.require_credentials_label,
            allowed_endpoints: &self.config.allowed_endpoints,
        }
    }

    /// What the validation stages share, from this context.
    pub(super) fn engine(&self) -> Engine<'_> {
        Engine {
            aws: self.aws.as_ref(),
            outages: self.outages.clone(),
            identities: &self.identities,
            allowed_endpoints: &self.config.allowed_endpoints,
            probe_keys: self.config.probe_keys.get(),
        }
    }
}
