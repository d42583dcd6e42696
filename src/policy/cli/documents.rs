//! The documents `policy` prints, built from the checked spec: the
//! identity policy, and the trust policy or principal of the role the
//! connection assumes.

use std::time::Duration;

use super::args::{Args, Format};
use super::cluster::Cluster;
use super::output::{Printed, render};
use super::source::{Accounts, Namespace, Source};
use crate::allowlist::{self, Allowlist};
use crate::aws::{S3Target, aws_stand_ins, is_aws_home};
use crate::cli::one_line;
use crate::crd::S3Connection;
use crate::credentials::audience::{self, Recipient};
use crate::credentials::role::{self, Account, DEFAULT_AUDIENCE};
use crate::messages;
use crate::policy::identity_policy;
use crate::policy::trust::{self, TrustDocument};
use crate::spec::{self, AuthMethod, IrsaRole, ValidSpec};

/// The spec of `connection`, checked as the operator checks it.
pub(super) fn validate(connection: &S3Connection) -> Result<ValidSpec, String> {
    // The interval plays no part in a policy.
    spec::validate(&connection.spec, Duration::from_secs(600))
        .map_err(|e| one_line(&format!("invalid spec: {e}")))
}

/// The identity policy of `valid`, printed.
pub(super) fn identity(valid: &ValidSpec, format: Format) -> Result<Printed, String> {
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

/// The role the connection assumes: the spec's, or for IRSA its
/// ServiceAccount's annotation as the operator picks it; `None` for an
/// access key.
pub(super) async fn role_of(
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
pub(super) async fn trust_policy(
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
            let store = !is_aws_home(valid.endpoint.as_deref(), &stand_ins);
            // Where the operator would send the token (`spec.stsEndpoint`
            // first), with the audience of `--audience` for a store.
            let (target, none) = (S3Target::of(valid), Allowlist::default());
            let recipient = match audience::recipient(&target, store, &none) {
                Recipient::Store { endpoint, .. } => Recipient::Store {
                    endpoint,
                    configured: args.audience.as_deref(),
                },
                Recipient::Aws => Recipient::Aws,
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
