//! `s3-connection-operator policy -f FILE`: the identity policy of an
//! S3Connection manifest, printed without a cluster or credentials. Bad
//! input is one line on stderr and exit code 2.

use std::io::Read;

use serde::Deserialize;
use std::path::Path;

use super::identity_policy;
use crate::allowlist;
use crate::crd::S3Connection;
use crate::messages;
use crate::spec;

/// The largest manifest read, in bytes.
pub const MAX_MANIFEST: u64 = 1024 * 1024;

/// The exit code for input the command cannot use.
pub const EXIT_BAD_INPUT: u8 = 2;

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
    let text = read_bounded(path)?;
    policy_for_manifest(&text, format)
}

/// The identity policy of one S3Connection manifest.
pub fn policy_for_manifest(text: &str, format: Format) -> Result<Printed, String> {
    let value = the_connection(text)?;
    let conn: S3Connection = yaml_serde::from_value(value)
        .map_err(|e| one_line(&format!("not a valid S3Connection: {e}")))?;
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

/// The one S3Connection document of a manifest (other documents, such
/// as the ServiceAccount of an IRSA example, are skipped).
fn the_connection(text: &str) -> Result<yaml_serde::Value, String> {
    let mut found = Vec::new();
    let mut first = None;
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value =
            yaml_serde::Value::deserialize(doc).map_err(|e| one_line(&format!("not YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let api = value.get("apiVersion").and_then(|k| k.as_str());
        let group = api.and_then(|a| a.split_once('/')).map(|(g, _)| g);
        let kind = value.get("kind").and_then(|k| k.as_str());
        if kind == Some("S3Connection") && group == Some("s3connection.dev") {
            found.push(value);
        } else if first.is_none() {
            first = Some(messages::not_an_s3connection(kind, api));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(first.unwrap_or_else(|| messages::not_an_s3connection(None, None))),
        n => Err(format!("{n} S3Connections in one file; give one")),
    }
}

/// At most [`MAX_MANIFEST`] bytes of `path`, as UTF-8.
fn read_bounded(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let mut buf = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_MANIFEST + 1).read_to_end(&mut buf))
    };
    read.map_err(|e| one_line(&format!("cannot read {shown}: {e}")))?;
    if buf.len() as u64 > MAX_MANIFEST {
        return Err(format!("{shown} is larger than {MAX_MANIFEST} bytes"));
    }
    String::from_utf8(buf).map_err(|_| format!("{shown} is not UTF-8 text"))
}

/// `text` on one printable line.
fn one_line(text: &str) -> String {
    messages::printable(&text.replace(['\n', '\r'], " "))
}
