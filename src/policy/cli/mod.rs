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
//!
//! Here: what the command does with its arguments; `args` parses and checks
//! them, `cluster` and `source` read what they point at, `documents` builds
//! the document asked for, `output` renders it.

mod args;
mod cluster;
mod documents;
mod output;
mod source;

use std::io::Write;
use std::process::ExitCode;

pub use args::{Args, Format};
pub use cluster::Cluster;
pub use output::Printed;

use crate::cli::{EXIT_OK, EXIT_UNKNOWN, manifest, one_line};
use crate::messages;
use crate::policy::bucket_policy;
use args::check_flags;
use documents::{identity, role_of, trust_policy, validate};
use output::render;
use source::Source;

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
