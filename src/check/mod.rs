//! `s3-connection-operator check -f FILE`: the validation the operator
//! would run for an S3Connection manifest, run from here (a laptop, a
//! pipeline) through the operator's own stages ([`crate::validation`]),
//! and the answer it would write: reason, per-permission results,
//! identity, bucket region, what became of the probe object, and the
//! policy hint where something is denied. Nothing is written to the
//! cluster; like the operator, a check writes (and deletes) one probe
//! object when `s3:PutObject` is requested.
//!
//! Exit codes ([`crate::cli`]): 0 Ready, 1 definitely not (with the
//! operator's reason), 2 not known (unreachable, timed out) or `check`
//! could not run (a file it cannot read or use, flags that do not say one
//! thing); then one line on stderr.
//!
//! Files, one job each:
//! - [`input`]: the namespace, and where credentials come from
//! - [`secret_file`]: Secrets from `--secret-file`
//! - [`source`]: the CA Secret and credentials the stages ask for
//! - [`report`]: the status the outcome implies, as a table or JSON; the
//!   exit code
//! - [`logs`]: the log, scrubbed of every value handled

pub mod input;
pub mod logs;
pub mod report;
pub mod secret_file;
pub mod source;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use kube::{Client, ResourceExt};
use tokio::time::Instant;

use crate::allowlist::Allowlist;
use crate::aws::{Identities, SdkFactory, Timeouts};
use crate::cli::{EXIT_UNKNOWN, manifest, one_line};
use crate::crd::{ConnectionId, S3Connection};
use crate::credentials::{Redactor, ResolveError};
use crate::messages;
use crate::outcome::{Outcome, Problem};
use crate::probe::{self, MarkerKeys, Previous};
use crate::reconcile::{Config, requested_at};
use crate::spec::{AuthMethod, parse_duration};
use crate::validation::{self, Engine};
use input::{Flags, Origin};
use report::Report;
use secret_file::SecretFiles;
use source::{CheckSource, Cluster};

/// How the answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON for machines: the reason names the operator writes to status,
    /// each permission's action and result.
    Json,
}

/// `check`'s command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The S3Connection manifest (`-` for stdin).
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
    /// The connection's namespace when the manifest names none (default:
    /// the kubeconfig's with --from-cluster, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Read the Secrets the spec names (credentials, caSecretRef) from the
    /// cluster of the current kubeconfig, with your own rights; for
    /// iamRole with serviceAccountName, get a token of the ServiceAccount
    /// (TokenRequest) and exchange it as the operator does.
    #[arg(long)]
    pub from_cluster: bool,
    /// A Secret manifest (YAML or JSON, several documents allowed; other
    /// kinds are skipped) holding the spec's Secret and, if it has one,
    /// its caSecretRef Secret. Repeat the flag for more files.
    #[arg(long = "secret-file", value_name = "FILE")]
    pub secret_files: Vec<PathBuf>,
    /// Use this machine's AWS credentials (the environment, AWS_PROFILE
    /// and the shared files, ...) instead of the spec's Secret. Only when
    /// given.
    #[arg(long)]
    pub use_local_credentials: bool,
    /// An endpoint connections may use, exactly as the operator's
    /// --allowed-endpoint (give the operator's list). Repeat the flag, or
    /// separate with commas. Without any, only AWS's own endpoints.
    #[arg(long = "allowed-endpoint", value_name = "URL", value_delimiter = ',')]
    pub allowed_endpoints: Vec<String>,
    /// Use only Secrets labelled `s3connection.dev/credentials: "true"`,
    /// as the operator does with this flag.
    #[arg(long)]
    pub require_credentials_label: bool,
    /// Longest time the validation may take (default: the operator's,
    /// 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub validation_timeout: Option<Duration>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    /// Log what is done, on stderr (debug; RUST_LOG, if set, decides).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl Args {
    fn flags(&self) -> Flags {
        Flags {
            from_cluster: self.from_cluster,
            secret_files: !self.secret_files.is_empty(),
            local: self.use_local_credentials,
        }
    }
}

/// Run `check`, print its answer, and say how it ended.
pub fn run(args: Args) -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let log = logs::Log::install(args.verbose);
    crate::telemetry::log_panics();
    let redactor = Arc::new(Mutex::new(Redactor::default()));
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(check(&args, redactor.clone()))
            }));
            rt.shutdown_background();
            checked.unwrap_or_else(|_| {
                Err("check failed internally (a bug; run with -v for where)".into())
            })
        }
        Err(e) => Err(format!("cannot start: {e}")),
    };
    let redactor = redactor.lock().unwrap_or_else(|e| e.into_inner()).clone();
    eprint!("{}", log.scrubbed(&redactor));
    match result {
        Ok(report) => {
            let text = match args.output {
                Format::Table => report.table(),
                Format::Json => report.json(),
            };
            print!("{}", redactor.scrub(&text));
            ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {}", redactor.scrub(&one_line(&e)));
            ExitCode::from(EXIT_UNKNOWN)
        }
    }
}

/// The validation of the manifest `args` name: a report, or why `check`
/// could not run (one line).
async fn check(args: &Args, redactor: Arc<Mutex<Redactor>>) -> Result<Report, String> {
    let flags = args.flags();
    if let Some(conflict) = input::conflicting(flags) {
        return Err(conflict.into());
    }
    let stdin = std::iter::once(&args.file)
        .chain(&args.secret_files)
        .filter(|p| p.as_os_str() == "-");
    if stdin.count() > 1 {
        return Err("stdin (-) can be read once: give it to -f or to one --secret-file".into());
    }
    let allowed = Allowlist::parse(&args.allowed_endpoints)
        .map_err(|e| one_line(&format!("--allowed-endpoint: {e}")))?;
    let conn = manifest::the_connection(&manifest::read_bounded(&args.file)?)?;
    if conn.name_any().is_empty() {
        return Err("the S3Connection has no metadata.name".into());
    }
    let files = SecretFiles::read(&args.secret_files)?;
    let config = Config::default();
    let timeout = args.validation_timeout.unwrap_or(config.validation_timeout);
    let deadline = Instant::now() + timeout;
    let timed_out = || format!("did not finish within {}s", timeout.as_secs());

    let cluster = if args.from_cluster {
        let connected = tokio::time::timeout_at(deadline, connect()).await;
        Some(connected.map_err(|_| format!("--from-cluster: the kubeconfig {}", timed_out()))??)
    } else {
        None
    };
    let namespace = input::namespace(
        conn.metadata.namespace.as_deref(),
        args.namespace.as_deref(),
        cluster.as_ref().map(|(_, ns)| ns.as_str()),
    )?;
    let id = ConnectionId {
        namespace,
        name: conn.name_any(),
        // A key of this check alone: its probe object is never the
        // operator's, nor another check's.
        uid: format!(
            "check-{}",
            probe::marker::hex(&probe::marker::random_bytes::<8>())
        ),
    };
    let now = Timestamp::now();
    let answer = |outcome: Outcome, spec: Option<&crate::spec::ValidSpec>| {
        let key = match spec {
            Some(s) => probe::probe_key(&s.target.prefix, &s.probe.key_prefix, &id.uid),
            None => probe::probe_key("", probe::PROBE_DIR, &id.uid),
        };
        let file = args.file.display().to_string();
        Report::new(&id, spec, &outcome.printable(), &key, &file, now)
    };
    let stopped = |p: Problem| stamped(&conn, Outcome::problem(p));

    let spec = match validation::valid_spec(&conn.spec, config.default_interval) {
        Ok(spec) => spec,
        Err(p) => return Ok(answer(stopped(p), None)),
    };
    if let Some(r) = requested_at(&conn)
        && r.token().is_none()
    {
        return Ok(answer(
            stopped(messages::invalid_request(r.annotation)),
            Some(&spec),
        ));
    }
    let file_has_secret = match &spec.auth {
        AuthMethod::AccessKey(keys) => {
            let mut all = redactor.lock().unwrap_or_else(|e| e.into_inner());
            files.redact_credentials(&id.namespace, keys, &mut all);
            files.find(&id.namespace, &keys.secret_name).is_some()
        }
        _ => false,
    };
    let given = match input::origin(flags, &spec.auth, file_has_secret)? {
        Origin::Cluster => None,
        Origin::SecretFile => Some(source::from_files(
            &files,
            &spec,
            &id.namespace,
            args.require_credentials_label,
        )),
        Origin::Local => Some(Ok(tokio::time::timeout_at(deadline, source::local())
            .await
            .map_err(|_| {
                format!("--use-local-credentials: reading them {}", timed_out())
            })??)),
    };

    let aws = SdkFactory::new(Timeouts::default(), false, |k| std::env::var(k).ok())
        .await
        .with_allowlist(allowed.clone());
    let source = CheckSource {
        aws: &aws,
        allowed_endpoints: &allowed,
        cluster: cluster.map(|(client, _)| Cluster::new(client)),
        given,
        files,
        require_credentials_label: args.require_credentials_label,
        api_timeout: config.status_timeout,
        redactor,
    };
    let identities = Identities::default();
    let engine = Engine {
        aws: &aws,
        outages: Arc::default(),
        identities: &identities,
        allowed_endpoints: &allowed,
        probe_keys: Arc::new(MarkerKeys::ephemeral()),
    };
    let validation = validation::run(&engine, &source, &spec, &id, Previous::default(), now);
    let outcome = match tokio::time::timeout_at(deadline, validation).await {
        Ok(Ok(outcome)) => stamped(&conn, outcome),
        Ok(Err(ResolveError::Problem(p))) => stopped(p),
        Ok(Err(ResolveError::Operator(e))) => return Err(e.to_string()),
        Err(_) => stopped(messages::validation_timed_out(timeout.as_secs())),
    };
    Ok(answer(outcome, Some(&spec)))
}

/// What every outcome says about the connection: its auth method.
fn stamped(conn: &S3Connection, mut outcome: Outcome) -> Outcome {
    outcome.auth = conn.spec.auth.kind();
    outcome
}

/// A client of the current kubeconfig's cluster, and its namespace.
async fn connect() -> Result<(Client, String), String> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| one_line(&format!("--from-cluster: no usable kubeconfig: {e}")))?;
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| {
        one_line(&format!(
            "--from-cluster: no client for the kubeconfig: {e}"
        ))
    })?;
    Ok((client, namespace))
}
