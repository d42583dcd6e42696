//! The `s3-connection-operator` command: `run` the operator, print the
//! `crd`, `release-finalizers` when no operator will, print a connection's
//! IAM `policy`, `check` a connection manifest as the operator would, or
//! explain `why` a live connection is (not) ready. Called as `kubectl-s3c` (a link to this binary on the PATH) it is
//! the kubectl plugin `kubectl s3c`, with the commands a person runs. The
//! work is in the library crate (`s3_connection_operator`).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use s3_connection_operator::check;
use s3_connection_operator::policy;
use s3_connection_operator::reconcile::{self, Shard};
use s3_connection_operator::why;

mod alloc;
mod run;

use run::RunArgs;

#[derive(Parser)]
#[command(
    name = "s3-connection-operator",
    version,
    about = "Proves S3Connections work and reports it in their status"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the S3Connection CRD as YAML.
    Crd,
    /// Remove the operator's finalizer from every S3Connection in scope, for
    /// when no operator will run to do it (before `helm uninstall` removes
    /// it): their leftover probe objects stay where they are.
    ReleaseFinalizers(ReleaseArgs),
    /// The commands a person runs, also the kubectl plugin's.
    #[command(flatten)]
    Person(PersonCommand),
}

/// The name the binary answers to as a kubectl plugin.
const PLUGIN: &str = "kubectl-s3c";

/// `kubectl s3c`: the commands a person runs, as a kubectl plugin.
#[derive(Parser)]
#[command(
    name = "kubectl s3c",
    bin_name = "kubectl s3c",
    version,
    about = "Check S3Connections, print the IAM policies they need, explain their status"
)]
struct Plugin {
    #[command(subcommand)]
    command: PersonCommand,
}

/// The commands a person runs: `s3-connection-operator COMMAND` and
/// `kubectl s3c COMMAND` alike.
#[derive(Subcommand)]
enum PersonCommand {
    /// Validate an S3Connection manifest as the operator would, from here,
    /// and print its answer (exit 0 Ready, 1 not Ready, 2 unknown).
    Check(check::Args),
    /// Print the least-privilege IAM policy an S3Connection needs: the
    /// identity policy, the trust policy of its role (--trust), or a bucket
    /// policy (--bucket-policy); from a manifest (-f, no cluster or
    /// credentials needed) or a live object (NAME).
    Policy(policy::cli::Args),
    /// Explain a live connection's status in sentences, with the command
    /// that fixes it (exit 0 Ready, 1 not Ready, 2 unknown).
    Why(why::cli::Args),
}

impl PersonCommand {
    /// Run it; `program` is how the user called us (for the commands quoted).
    fn run(self, program: &str) -> ExitCode {
        match self {
            PersonCommand::Check(args) => check::run(args),
            PersonCommand::Policy(args) => policy::cli::run(args),
            PersonCommand::Why(args) => why::cli::run(args, program),
        }
    }
}

/// Which connections `release-finalizers` releases: those an operator with
/// the same flags would watch.
#[derive(Args)]
struct ReleaseArgs {
    /// Only in these namespaces (repeat the flag, or separate with commas;
    /// default: all namespaces).
    #[arg(long = "namespace", env = "WATCH_NAMESPACE", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Only connections this label selector selects (the operator's
    /// --watch-label-selector).
    #[arg(long, env = "WATCH_LABEL_SELECTOR")]
    watch_label_selector: Option<String>,
}

/// Whether the binary was called by the plugin's name.
fn called_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == PLUGIN))
        .unwrap_or(false)
}

fn main() -> anyhow_free::Result<ExitCode> {
    if called_as_plugin() {
        return Ok(Plugin::parse().command.run("kubectl s3c"));
    }
    match Cli::parse().command {
        Command::Crd => {
            print!("{}", s3_connection_operator::crd_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Person(command) => Ok(command.run("s3-connection-operator")),
        Command::ReleaseFinalizers(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(release_finalizers(args))
            .map(|()| ExitCode::SUCCESS),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run::run(*args))
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn release_finalizers(args: ReleaseArgs) -> anyhow_free::Result {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // The same check as `run`'s, before any call.
    let shard = Shard::parse(args.watch_label_selector.as_deref().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let selector = (!shard.selects_all()).then(|| shard.to_string());
    let client = kube::Client::try_default().await?;
    let selector = selector.as_deref();
    let timeout = std::time::Duration::from_secs(30);
    let n = reconcile::finalizer::release_all(&client, &args.namespaces, selector, timeout).await?;
    println!(
        "released {n} S3Connection(s) from {}",
        reconcile::finalizer::FINALIZER
    );
    Ok(())
}

/// A boxed error is enough for a binary's `main`.
mod anyhow_free {
    pub type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> =
        std::result::Result<T, E>;
}
