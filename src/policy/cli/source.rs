//! Where the connection comes from (a manifest or the cluster), and the
//! ServiceAccount IRSA reads with it.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;

use super::args::check_namespace;
use super::cluster::{CLUSTER_TIMEOUT, Cluster};
use crate::cli::{manifest, one_line};
use crate::crd::S3Connection;
use crate::credentials::role::Account;
use crate::error::within;
use crate::messages;

/// The connection, its namespace, and where its ServiceAccount is read.
pub(super) struct Source {
    pub(super) connection: S3Connection,
    pub(super) namespace: Namespace,
    pub(super) accounts: Accounts,
}

/// A manifest's namespace may still come from the kubeconfig.
pub(super) enum Namespace {
    Known(String),
    FromKubeconfig,
}

pub(super) enum Accounts {
    /// The ServiceAccounts of the manifest.
    File(Vec<ServiceAccount>),
    /// The cluster's.
    Live,
}

impl Source {
    /// Live S3Connection `name`, in `namespace` or the kubeconfig's.
    pub(super) async fn live(
        name: &str,
        namespace: Option<&str>,
        cluster: &mut Cluster,
    ) -> Result<Self, String> {
        let client = cluster
            .client()
            .await
            .map_err(|e| format!("cannot read S3Connection {name}: {e}"))?;
        let ns = namespace.unwrap_or(client.default_namespace()).to_string();
        let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
        let what = || format!("get S3Connection {ns}/{name}");
        let connection = within(CLUSTER_TIMEOUT, what, api.get_opt(name))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", what()))?
            .ok_or_else(|| format!("S3Connection {name} not found in namespace {ns}"))?;
        Ok(Self {
            connection,
            namespace: Namespace::Known(ns),
            accounts: Accounts::Live,
        })
    }

    /// The one S3Connection of manifest `text`, with its ServiceAccounts;
    /// its namespace from its metadata, else `flag`.
    pub(super) fn manifest(text: &str, flag: Option<&str>) -> Result<Self, String> {
        let connection = manifest::the_connection(text)?;
        let namespace = match (connection.metadata.namespace.as_deref(), flag) {
            (Some(own), Some(flag)) if own != flag => {
                return Err(format!(
                    "the manifest's namespace {own:?} does not match --namespace {flag:?}"
                ));
            }
            (Some(ns), _) | (None, Some(ns)) => {
                check_namespace(ns)?;
                Namespace::Known(ns.to_string())
            }
            (None, None) => Namespace::FromKubeconfig,
        };
        let accounts = manifest::documents(text)?
            .into_iter()
            .filter(|d| manifest::group_kind(d) == (Some(""), Some("ServiceAccount")))
            .map(|d| {
                yaml_serde::from_value(d)
                    .map_err(|e| one_line(&format!("not a valid ServiceAccount: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            connection,
            namespace,
            accounts: Accounts::File(accounts),
        })
    }

    pub(super) async fn namespace(&self, cluster: &mut Cluster) -> String {
        match &self.namespace {
            Namespace::Known(ns) => ns.clone(),
            Namespace::FromKubeconfig => cluster.namespace().await,
        }
    }

    /// What IRSA reads of ServiceAccount `sa` in `ns`: from the manifest or
    /// the cluster; without one, no annotations (and a note).
    pub(super) async fn account(
        &self,
        ns: &str,
        sa: &str,
        cluster: &mut Cluster,
        notes: &mut Vec<String>,
    ) -> Result<Option<Account>, String> {
        let found = match &self.accounts {
            Accounts::File(accounts) => accounts
                .iter()
                .find(|a| {
                    a.metadata.name.as_deref() == Some(sa)
                        && a.metadata.namespace.as_deref().is_none_or(|n| n == ns)
                })
                .map(|a| Account::of(&a.metadata)),
            Accounts::Live => {
                let client = cluster.client().await?;
                let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
                let what = || format!("get ServiceAccount {ns}/{sa}");
                let read = within(CLUSTER_TIMEOUT, what, api.get_opt(sa))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{}: {e}", what()))?;
                if read.is_none() {
                    notes.push(messages::service_account_not_found(sa, ns).message);
                }
                read.map(|a| Account::of(&a.metadata))
            }
        };
        Ok(found)
    }
}
