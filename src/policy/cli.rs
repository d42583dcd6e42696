//! `s3-connection-operator policy`: the IAM policies of one S3Connection,
//! from a manifest (`-f FILE`, no cluster or credentials needed) or a live
//! object (`NAME`, through the current kubeconfig): the identity policy,
//! the trust policy of the role it assumes (`--trust`), or the bucket
//! policy for a principal in another account (`--bucket-policy`). The
//! document goes to stdout, notes to stderr; anything unusable is one line
//! on stderr and exit code 2.
//!
//! What a trust policy needs beyond the spec comes from flags, else from
//! the cluster when a kubeconfig is at hand: the service-account issuer
//! (`--oidc-issuer`, else the cluster's `/.well-known/openid-configuration`)
//! and the ExternalId's `<cluster>` (`--cluster-name`, else the UID of
//! `kube-system`, as the operator defaults it).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use serde::Serialize;

use super::trust::{self, TrustDocument};
use super::{bucket_policy, identity_policy};
use crate::allowlist::{self, is_audience};
use crate::aws::{aws_stand_ins, is_aws_home};
use crate::cli::{EXIT_OK, EXIT_UNKNOWN, manifest, one_line};
use crate::crd::S3Connection;
use crate::crd::rules::is_dns_subdomain;
use crate::credentials::audience::{self, Recipient};
use crate::credentials::role::{self, Account, DEFAULT_AUDIENCE};
use crate::error::within;
use crate::messages;
use crate::spec::{self, AuthMethod, IrsaRole, ValidSpec};

/// How the document is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Indented JSON, as `aws iam put-user-policy` takes it.
    Json,
    /// YAML (CloudFormation, Crossplane, ...).
    Yaml,
}

/// The arguments of `policy` (also of `kubectl s3c policy`).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A live S3Connection's name, read through the current kubeconfig
    /// (instead of -f).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// The S3Connection manifest (`-` for stdin). Other documents in it are
    /// skipped, except the connection's ServiceAccount (its role and
    /// audience annotations count, as on the cluster).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The connection's namespace: of NAME, or of the manifest when its
    /// metadata names none (default: the kubeconfig's namespace, else
    /// `default`).
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: Format,
    /// Print the trust policy of the role the connection assumes (IRSA, or
    /// the operator's own identity) instead of the identity policy.
    #[arg(long)]
    pub trust: bool,
    /// Print the bucket policy that lets the connection's principal (its
    /// role, or --principal) in from another account, instead of the
    /// identity policy.
    #[arg(long = "bucket-policy")]
    pub bucket_policy: bool,
    /// --trust with IRSA: the cluster's service-account issuer, as in its
    /// tokens' `iss` (default: read from the cluster's
    /// /.well-known/openid-configuration).
    #[arg(long = "oidc-issuer", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// --trust with IRSA: the token audience the operator is configured
    /// with where the ServiceAccount names none: instead of
    /// sts.amazonaws.com for AWS; for a store, the `;audience=` of its
    /// --allowed-endpoint entry.
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// --trust with the operator's own identity: the operator's
    /// --cluster-name, the `<cluster>` of the ExternalId
    /// `<cluster>:<namespace>` (default: the UID of the cluster's
    /// kube-system namespace, as the operator's).
    #[arg(long = "cluster-name")]
    pub cluster_name: Option<String>,
    /// --trust with the operator's own identity: the ARN of the IAM role
    /// or user the operator runs as (required then).
    #[arg(long = "operator-principal", value_name = "ARN")]
    pub operator_principal: Option<String>,
    /// --bucket-policy: the ARN of the principal to let in (required when
    /// the spec names no role; otherwise it replaces the role).
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
}

/// What the command prints: the document on stdout, notes on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// The policy document, ending in a newline.
    pub stdout: String,
    /// Sentences about what the document cannot contain.
    pub notes: Vec<String>,
}

/// How long one request to the cluster may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest OpenID discovery document read, in bytes.
const MAX_DISCOVERY: usize = 64 * 1024;

/// Run `policy`: print the document, or one line and exit code 2.
pub fn run(args: Args) -> ExitCode {
    // One TLS crypto provider for kube (the operator's `run` does the same).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))
        .and_then(|rt| rt.block_on(printed(&args, &mut Cluster::from_kubeconfig())));
    match result {
        Ok(printed) => {
            // A closed stdout (`| head`) is not worth a panic.
            let _ = std::io::stdout().write_all(printed.stdout.as_bytes());
            printed.notes.iter().for_each(|n| eprintln!("{n}"));
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(EXIT_UNKNOWN)
        }
    }
}

/// The cluster of the current kubeconfig, connected to when first needed.
pub struct Cluster(ClusterState);

enum ClusterState {
    Unused,
    Ready(kube::Client),
    Failed(String),
}

impl Cluster {
    /// The current kubeconfig's cluster (`kube::Config::infer`).
    pub fn from_kubeconfig() -> Self {
        Self(ClusterState::Unused)
    }

    /// No cluster at all: whatever needs one fails, naming the flag that
    /// would replace it.
    pub fn none() -> Self {
        Self(ClusterState::Failed("no cluster".into()))
    }

    async fn client(&mut self) -> Result<&kube::Client, String> {
        if let ClusterState::Unused = self.0 {
            self.0 = match kube::Config::infer().await {
                Ok(config) => match kube::Client::try_from(config) {
                    Ok(client) => ClusterState::Ready(client),
                    Err(e) => ClusterState::Failed(format!("the kubeconfig is not usable: {e}")),
                },
                Err(e) => ClusterState::Failed(format!("no kubeconfig: {e}")),
            };
        }
        match &self.0 {
            ClusterState::Ready(client) => Ok(client),
            ClusterState::Failed(e) => Err(e.clone()),
            ClusterState::Unused => Err("no cluster".into()),
        }
    }

    /// The kubeconfig's namespace, else `default`.
    async fn namespace(&mut self) -> String {
        match self.client().await {
            Ok(client) => client.default_namespace().to_string(),
            Err(_) => "default".into(),
        }
    }

    /// The `issuer` of the cluster's OpenID discovery document.
    async fn issuer(&mut self) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
        }
        let path = "/.well-known/openid-configuration";
        let client = self.client().await?;
        let request = http::Request::get(path)
            .body(kube::client::Body::empty())
            .map_err(|e| e.to_string())?;
        let read = async {
            let response = client.send(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("GET {path} answered {status}"));
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_DISCOVERY);
            http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| format!("GET {path}: {e} (at most {MAX_DISCOVERY} bytes are read)"))
        };
        let body = within(CLUSTER_TIMEOUT, || format!("GET {path}"), read)
            .await
            .map_err(|e| e.to_string())??;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {path}: not an OpenID discovery document: {e}"))?;
        Ok(discovery.issuer)
    }

    /// The UID of the cluster's `kube-system` namespace.
    async fn kube_system_uid(&mut self) -> Result<String, String> {
        let client = self.client().await?;
        role::kube_system_uid(client, CLUSTER_TIMEOUT)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The identity policy of one S3Connection manifest.
pub fn policy_for_manifest(text: &str, format: Format) -> Result<Printed, String> {
    let conn = manifest::the_connection(text)?;
    let valid = validate(&conn)?;
    identity(&valid, format)
}

/// What `args` asks for, with `cluster` for what neither the manifest nor
/// the flags say; the error is one line naming what is wrong.
pub async fn printed(args: &Args, cluster: &mut Cluster) -> Result<Printed, String> {
    check_flags(args)?;
    let source = match (&args.name, &args.file) {
        (Some(name), None) => Source::live(name, args.namespace.as_deref(), cluster).await?,
        (None, Some(path)) => {
            Source::manifest(&manifest::read_bounded(path)?, args.namespace.as_deref())?
        }
        _ => unreachable!("check_flags allows exactly one"),
    };
    let valid = validate(&source.connection)?;
    let mut notes = Vec::new();
    if args.trust {
        let document = trust_policy(args, &source, &valid, cluster, &mut notes).await?;
        return Ok(Printed {
            stdout: render(&document, args.output)?,
            notes,
        });
    }
    if args.bucket_policy {
        let principal = match &args.principal {
            Some(p) => p.clone(),
            None => role_of(&source, &valid, cluster, &mut notes)
                .await?
                .ok_or_else(|| messages::BUCKET_POLICY_PRINCIPAL_MISSING.to_string())?,
        };
        let document = bucket_policy(&valid, &principal)?;
        return Ok(Printed {
            stdout: render(&document, args.output)?,
            notes,
        });
    }
    identity(&valid, args.output)
}

/// The flags, checked before anything is read.
fn check_flags(args: &Args) -> Result<(), String> {
    match (&args.name, &args.file) {
        (None, None) => {
            return Err(
                "give the S3Connection: -f FILE (`-` for stdin), or the NAME of a live one".into(),
            );
        }
        (Some(_), Some(_)) => return Err("give -f FILE or NAME, not both".into()),
        (Some(name), None) if !is_dns_subdomain(name) => {
            return Err(format!("{name:?} is not an S3Connection name"));
        }
        _ => {}
    }
    if args.trust && args.bucket_policy {
        return Err("--trust and --bucket-policy print different documents: give one".into());
    }
    if let Some(ns) = &args.namespace {
        check_namespace(ns)?;
    }
    if let Some(issuer) = &args.oidc_issuer {
        trust::oidc_provider(issuer).map_err(|e| format!("--oidc-issuer: {e}"))?;
    }
    if let Some(a) = &args.audience
        && !is_audience(a)
    {
        return Err(format!(
            "--audience {:?} is not an audience (at most 256 printable characters, no , or ;)",
            messages::printable(a)
        ));
    }
    for (flag, arn) in [
        ("--operator-principal", &args.operator_principal),
        ("--principal", &args.principal),
    ] {
        if let Some(arn) = arn {
            trust::principal_arn(arn).map_err(|e| format!("{flag}: {e}"))?;
        }
    }
    Ok(())
}

/// Namespaces are DNS labels.
fn check_namespace(ns: &str) -> Result<(), String> {
    if is_dns_subdomain(ns) && ns.len() <= 63 && !ns.contains('.') {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a namespace name",
            messages::printable(ns)
        ))
    }
}

/// The connection, its namespace, and where its ServiceAccount is read.
struct Source {
    connection: S3Connection,
    namespace: Namespace,
    accounts: Accounts,
}

/// A manifest's namespace may still come from the kubeconfig.
enum Namespace {
    Known(String),
    FromKubeconfig,
}

enum Accounts {
    /// The ServiceAccounts of the manifest.
    File(Vec<ServiceAccount>),
    /// The cluster's.
    Live,
}

impl Source {
    /// Live S3Connection `name`, in `namespace` or the kubeconfig's.
    async fn live(
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
    fn manifest(text: &str, flag: Option<&str>) -> Result<Self, String> {
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

    async fn namespace(&self, cluster: &mut Cluster) -> String {
        match &self.namespace {
            Namespace::Known(ns) => ns.clone(),
            Namespace::FromKubeconfig => cluster.namespace().await,
        }
    }

    /// What IRSA reads of ServiceAccount `sa` in `ns`: from the manifest or
    /// the cluster; without one, no annotations (and a note).
    async fn account(
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

/// The spec of `connection`, checked as the operator checks it.
fn validate(connection: &S3Connection) -> Result<ValidSpec, String> {
    // The interval plays no part in a policy.
    spec::validate(&connection.spec, Duration::from_secs(600))
        .map_err(|e| one_line(&format!("invalid spec: {e}")))
}

/// The identity policy of `valid`, printed.
fn identity(valid: &ValidSpec, format: Format) -> Result<Printed, String> {
    let aws = valid.endpoint.as_deref().is_none_or(allowlist::is_aws);
    let policy = identity_policy(valid, aws);
    let mut notes = Vec::new();
    if policy.simulation_principal_unknown {
        notes.push(messages::SIMULATION_ROLE_UNKNOWN.to_string());
    }
    if policy.kms_key_unnamed {
        notes.push(messages::KMS_KEY_UNNAMED.to_string());
    }
    Ok(Printed {
        stdout: render(&policy.document, format)?,
        notes,
    })
}

/// `document` as `format`, ending in a newline.
fn render(document: &impl Serialize, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(document)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::to_string(document).map_err(|e| e.to_string()),
    }
    .map_err(|e| one_line(&format!("cannot print the policy: {e}")))
}

/// The role the connection assumes: the spec's, or for IRSA its
/// ServiceAccount's annotation as the operator picks it; `None` for an
/// access key.
async fn role_of(
    source: &Source,
    valid: &ValidSpec,
    cluster: &mut Cluster,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    match &valid.auth {
        AuthMethod::AccessKey(_) => Ok(None),
        AuthMethod::OperatorRole(r) => Ok(Some(r.role_arn.clone())),
        AuthMethod::Irsa(r) => {
            let ns = source.namespace(cluster).await;
            let account = source
                .account(&ns, &r.service_account, cluster, notes)
                .await?;
            irsa_role(source, r, account.as_ref()).map(Some)
        }
    }
}

/// The role IRSA assumes, as the operator picks it.
fn irsa_role(source: &Source, r: &IrsaRole, account: Option<&Account>) -> Result<String, String> {
    let annotation = account.and_then(|a| a.role_arn.as_deref());
    role::pick_role_arn(r, annotation).map_err(|p| match source.accounts {
        Accounts::File(_) if account.is_none() => format!(
            "{} (The manifest has no ServiceAccount {:?}: add it to the file, or give the NAME of the live connection.)",
            p.message, r.service_account
        ),
        _ => p.message,
    })
}

/// The trust policy of the role `valid` assumes.
async fn trust_policy(
    args: &Args,
    source: &Source,
    valid: &ValidSpec,
    cluster: &mut Cluster,
    notes: &mut Vec<String>,
) -> Result<TrustDocument, String> {
    let ns = source.namespace(cluster).await;
    if let (Namespace::FromKubeconfig, AuthMethod::Irsa(_) | AuthMethod::OperatorRole(_)) =
        (&source.namespace, &valid.auth)
    {
        notes.push(messages::namespace_assumed(&ns));
    }
    match &valid.auth {
        AuthMethod::AccessKey(_) => Err(messages::TRUST_FOR_ACCESS_KEY.into()),
        AuthMethod::Irsa(r) => {
            let sa = r.service_account.as_str();
            let account = source.account(&ns, sa, cluster, notes).await?;
            let role_arn = irsa_role(source, r, account.as_ref())?;
            let account = account.unwrap_or_else(|| Account::of(&Default::default()));
            let stand_ins = aws_stand_ins(|k| std::env::var(k).ok());
            let recipient = match valid.endpoint.as_deref() {
                Some(endpoint) if !is_aws_home(Some(endpoint), &stand_ins) => Recipient::Store {
                    endpoint,
                    configured: args.audience.as_deref(),
                },
                _ => Recipient::Aws,
            };
            let default = args.audience.as_deref().unwrap_or(DEFAULT_AUDIENCE);
            let audience = audience::choose(recipient, &account, sa, default)
                .map_err(|p| format!("{} {}", p.message, messages::AUDIENCE_FLAG))?;
            let issuer = match &args.oidc_issuer {
                Some(issuer) => issuer.clone(),
                None => cluster
                    .issuer()
                    .await
                    .map_err(|e| messages::issuer_unknown(&e))?,
            };
            let provider = trust::oidc_provider(&issuer)?;
            trust::web_identity(&role_arn, &provider, &ns, sa, &audience)
        }
        AuthMethod::OperatorRole(_) => {
            let principal = args
                .operator_principal
                .as_deref()
                .ok_or(messages::OPERATOR_PRINCIPAL_MISSING)?;
            let cluster_name = match &args.cluster_name {
                Some(name) => name.clone(),
                None => cluster
                    .kube_system_uid()
                    .await
                    .map_err(|e| messages::cluster_name_unknown(&e))?,
            };
            trust::operator(principal, &role::external_id(&cluster_name, &ns))
        }
    }
}
