//! `s3-connection-operator policy -f FILE`: the identity policy of an
//! S3Connection manifest, printed without a cluster or credentials. Bad
//! input is one line on stderr and exit code 2.

use std::path::Path;

use super::identity_policy;
use crate::allowlist;
use crate::cli::{manifest, one_line};
use crate::messages;
use crate::spec;

/// How the document is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Indented JSON, as `aws iam put-user-policy` takes it.
    Json,
    /// YAML (CloudFormation, Crossplane, ...).
    Yaml,
}

/// What the command prints: the document on stdout, notes on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// The policy document, ending in a newline.
    pub stdout: String,
    /// Sentences about what the document cannot contain.
    pub notes: Vec<String>,
}

/// Read `path` (`-` for stdin) and render its identity policy; the error
/// is one line naming what is wrong.
pub fn policy_for_file(path: &Path, format: Format) -> Result<Printed, String> {
    let text = manifest::read_bounded(path)?;
    policy_for_manifest(&text, format)
}

/// The identity policy of one S3Connection manifest.
pub fn policy_for_manifest(text: &str, format: Format) -> Result<Printed, String> {
    let conn = manifest::the_connection(text)?;
    // The interval plays no part in the policy.
    let valid = spec::validate(&conn.spec, std::time::Duration::from_secs(600))
        .map_err(|e| one_line(&format!("invalid spec: {e}")))?;
    let aws = valid.endpoint.as_deref().is_none_or(allowlist::is_aws);
    let policy = identity_policy(&valid, aws);
    let stdout = match format {
        Format::Json => serde_json::to_string_pretty(&policy.document)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::to_string(&policy.document).map_err(|e| e.to_string()),
    }
    .map_err(|e| one_line(&format!("cannot print the policy: {e}")))?;
    let mut notes = Vec::new();
    if policy.simulation_principal_unknown {
        notes.push(messages::SIMULATION_ROLE_UNKNOWN.to_string());
    }
    Ok(Printed { stdout, notes })
}
