//! The arguments of `policy`, and their checks before anything is read.

use std::path::PathBuf;

use crate::allowlist::is_audience;
use crate::crd::rules::is_dns_subdomain;
use crate::messages;
use crate::policy::trust;

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

/// The flags, checked before anything is read.
pub(super) fn check_flags(args: &Args) -> Result<(), String> {
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
pub(super) fn check_namespace(ns: &str) -> Result<(), String> {
    if is_dns_subdomain(ns) && ns.len() <= 63 && !ns.contains('.') {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a namespace name",
            messages::printable(ns)
        ))
    }
}
