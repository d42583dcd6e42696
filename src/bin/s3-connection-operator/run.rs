//! `run`: the operator's flags, and the wiring from them to the
//! library: logging, metrics, the HTTP servers, the probe marker key, the
//! reconciler, leader election, shutdown on a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use prometheus_client::registry::Registry;
use s3_connection_operator::allowlist::Allowlist;
use s3_connection_operator::aws::{SdkFactory, Timeouts};
use s3_connection_operator::cost;
use s3_connection_operator::credentials::role;
use s3_connection_operator::http::{self, HttpState};
use s3_connection_operator::leader::{self, Ended, LeaderConfig};
use s3_connection_operator::probe;
use s3_connection_operator::reconcile::{self, Context, Shard};
use s3_connection_operator::spec::{parse_duration, parse_interval};
use s3_connection_operator::telemetry::{self, LogFormat, Metrics};
use tokio::sync::watch;

use crate::anyhow_free;

#[derive(Args)]
pub struct RunArgs {
    /// Address for /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Address for /healthz and /readyz (plain HTTP, for the kubelet's
    /// probes); must differ from --metrics-addr.
    #[arg(long, env = "HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Serve /metrics over HTTPS, only to clients whose bearer token the API
    /// server authenticates (TokenReview) and allows to `get` the
    /// non-resource URL /metrics (SubjectAccessReview). `false` serves it in
    /// plain HTTP to anyone who reaches the port (local development, tests).
    #[arg(long, env = "METRICS_SECURE", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    metrics_secure: bool,
    /// Directory with `tls.crt` and `tls.key` (e.g. a mounted
    /// `kubernetes.io/tls` Secret from cert-manager) for /metrics over
    /// HTTPS, re-read when they change. Without it, a self-signed
    /// certificate is made at startup.
    #[arg(long, env = "METRICS_CERT_DIR")]
    metrics_cert_dir: Option<std::path::PathBuf>,
    /// Let connections with `iamRole` but no `serviceAccountName` assume roles
    /// with the operator's own identity. Off by default: in a shared cluster it
    /// lets any namespace borrow the operator's identity.
    #[arg(long, env = "ALLOW_OPERATOR_IDENTITY")]
    allow_operator_identity: bool,
    /// Re-validation interval for connections without `validationInterval`.
    #[arg(long, env = "DEFAULT_INTERVAL", default_value = "10m", value_parser = parse_interval)]
    default_interval: std::time::Duration,
    /// How many connections are validated at once, in all namespaces.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Removed: one namespace alone may fill the whole line of
    /// --concurrency waiting validations, shared fairly by namespace and
    /// endpoint. Still accepted (and ignored, with a warning) so that an
    /// existing Deployment that sets it starts.
    #[arg(long, env = "NAMESPACE_CONCURRENCY", hide = true)]
    namespace_concurrency: Option<String>,
    /// Watch only these namespaces (repeat the flag, or separate with commas;
    /// default: all namespaces).
    #[arg(long = "namespace", env = "WATCH_NAMESPACE", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Validate only the S3Connections whose labels this selector matches
    /// (default: all), to share the connections among installs: a main one
    /// with `!sharding.s3connection.dev/key`, shards with
    /// `sharding.s3connection.dev/key=<shard>`. Forms: key, !key, key=value,
    /// key!=value, key in (a,b), key notin (a,b), separated by commas; at
    /// most 1024 bytes.
    #[arg(long, env = "WATCH_LABEL_SELECTOR", default_value = "")]
    watch_label_selector: String,
    /// An S3-compatible endpoint connections may use, as
    /// `scheme://host[:port]`; a leading `*.` in the host allows its
    /// subdomains (and virtual-hosted-style requests to them; otherwise
    /// requests to a store are path style). `;audience=CLIENT_ID` names the
    /// audience of IRSA tokens sent to it. Repeat the flag (or separate
    /// with commas). Without any, only AWS's own endpoints (no
    /// `spec.endpoint`) are used.
    #[arg(
        long = "allowed-endpoint",
        env = "ALLOWED_ENDPOINTS",
        value_delimiter = ','
    )]
    allowed_endpoints: Vec<String>,
    /// Longest time one validation may take; it is then stopped and the
    /// connection reports `ValidationTimedOut`.
    #[arg(long, env = "VALIDATION_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    validation_timeout: std::time::Duration,
    /// The `<cluster>` of the ExternalId `<cluster>:<namespace>` sent when
    /// the operator's own identity assumes a role (default: the UID of the
    /// `kube-system` namespace). Only used with --allow-operator-identity.
    #[arg(long, env = "CLUSTER_NAME")]
    cluster_name: Option<String>,
    /// Log format (the last one given counts).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "json",
        overrides_with = "log_format"
    )]
    log_format: LogFormat,
    /// Log level when RUST_LOG is not set.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Elect a leader among replicas with a Lease; only the leader validates.
    #[arg(long, env = "LEADER_ELECTION")]
    leader_election: bool,
    /// Name of the Lease used for leader election (default:
    /// `s3-connection-operator`; with --watch-label-selector,
    /// `s3-connection-operator-<8 hex digits of the selector's hash>`, so
    /// each shard elects its own leader).
    #[arg(long, env = "LEASE_NAME")]
    lease_name: Option<String>,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the watched
    /// namespace, else `default`).
    #[arg(long, env = "LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Seconds a leader's lease stays valid without renewal; a standby takes
    /// over this long after a leader dies without releasing it.
    #[arg(long, env = "LEASE_DURATION", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=600))]
    lease_duration: u64,
    /// The Secret, in the operator's namespace, that holds the key of the
    /// probe objects' marker (entries `current` and, during a rotation,
    /// `previous`); created with a random key when absent. Without it the
    /// key lives only in this process, and probe objects an earlier process
    /// left behind are not recognised as the operator's.
    #[arg(long, env = "PROBE_KEY_SECRET")]
    probe_key_secret: Option<String>,
    /// Namespace of --probe-key-secret (default: POD_NAMESPACE).
    #[arg(long, env = "PROBE_KEY_NAMESPACE")]
    probe_key_namespace: Option<String>,
    /// Use (and watch) only Secrets labelled `s3connection.dev/credentials:
    /// "true"` for credentials; a connection naming an unlabelled Secret
    /// reports `SecretLabelMissing`. Off by default in this release; on by
    /// default from the next minor release.
    #[arg(long, env = "REQUIRE_CREDENTIALS_LABEL")]
    require_credentials_label: bool,
    /// MiB the assumed-role credential cache may hold (the least recently
    /// used sessions are forgotten first).
    #[arg(long, env = "CREDENTIAL_CACHE_MIB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    credential_cache_mib: u64,
    /// Requests a day (S3, STS and IAM) each connection's validations aim
    /// to stay within, between full validations: it decides how often a
    /// light check also asks IAM to simulate the other permissions' policy
    /// (the light checks' one request each and the full validations come
    /// first).
    #[arg(long, env = "DAILY_REQUEST_BUDGET", default_value_t = s3_connection_operator::reconcile::proofs::DAILY_REQUESTS,
          value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    daily_request_budget: u32,
    /// Dollars per 1,000 S3 PUT, COPY, POST and LIST requests, for the
    /// estimated cost of validating connections (default: S3 Standard in
    /// US East (N. Virginia)).
    #[arg(long, env = "PRICE_TIER1_PER_THOUSAND", default_value = "0.005", value_parser = cost::parse_price)]
    price_tier1_per_thousand: f64,
    /// Dollars per 1,000 S3 GET, HEAD and other requests (DELETE is free).
    #[arg(long, env = "PRICE_TIER2_PER_THOUSAND", default_value = "0.0004", value_parser = cost::parse_price)]
    price_tier2_per_thousand: f64,
}

pub async fn run(args: RunArgs) -> anyhow_free::Result {
    // One TLS crypto provider for kube and the AWS SDK.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    telemetry::init_logging(args.log_format, &args.log_level);
    telemetry::log_panics();
    if args.namespace_concurrency.is_some() {
        tracing::warn!(
            "--namespace-concurrency (NAMESPACE_CONCURRENCY) was removed and is ignored: the line of --concurrency waiting validations is shared fairly by namespace and endpoint; drop the flag"
        );
    }
    let allowed_endpoints = Allowlist::parse(&args.allowed_endpoints)?;
    let shard = Shard::parse(&args.watch_label_selector).map_err(|e| e.to_string())?;

    let metrics = Metrics::default();
    metrics.set_prices(cost::Prices::new(
        args.price_tier1_per_thousand,
        args.price_tier2_per_thousand,
    ));
    let client = kube::client::ClientBuilder::try_from(kube::Config::infer().await?)?
        .with_layer(&metrics.kube_request_layer())
        .build();
    let cluster_name = match (&args.cluster_name, args.allow_operator_identity) {
        (Some(name), true) => Some(name.clone()),
        (None, true) => Some(
            role::kube_system_uid(&client, std::time::Duration::from_secs(30))
                .await
                .map_err(|e| {
                    format!(
                        "--allow-operator-identity needs a cluster name for the ExternalId: set --cluster-name, or let the operator read the kube-system namespace (get namespaces/kube-system): {e}"
                    )
                })?,
        ),
        (_, false) => None,
    };
    let aws = SdkFactory::new(Timeouts::default(), args.allow_operator_identity, |k| {
        std::env::var(k).ok()
    })
    .await
    .with_metrics(metrics.clone())
    .with_allowlist(allowed_endpoints.clone());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    let serving = http::Serving {
        health_addr: args.health_addr,
        metrics_addr: args.metrics_addr,
        secure: args.metrics_secure,
        cert_dir: args.metrics_cert_dir.clone(),
        cert_names: vec!["localhost".into(), "127.0.0.1".into(), hostname()],
    };
    let mut server = tokio::spawn(http::serve(serving, client.clone(), state));
    let stopped = shutdown_signal();

    let probe_keys = probe_keys(&args, &client).await?;
    let config = reconcile::Config {
        default_interval: args.default_interval,
        allow_operator_identity: args.allow_operator_identity,
        cluster_name,
        concurrency: args.concurrency,
        namespaces: args.namespaces.clone(),
        shard: shard.clone(),
        allowed_endpoints,
        validation_timeout: args.validation_timeout,
        probe_keys,
        require_credentials_label: args.require_credentials_label,
        credential_cache: s3_connection_operator::credentials::CacheLimits {
            bytes: usize::try_from(args.credential_cache_mib << 20).unwrap_or(usize::MAX),
            ..Default::default()
        },
        daily_requests: args.daily_request_budget,
        ..Default::default()
    };
    tracing::info!(
        allow_operator_identity = config.allow_operator_identity,
        cluster_name = config.cluster_name.as_deref().unwrap_or(""),
        namespaces = if config.namespaces.is_empty() {
            "<all>".to_string()
        } else {
            config.namespaces.join(",")
        },
        watch_label_selector = %config.shard,
        allowed_endpoints = %config.allowed_endpoints,
        concurrency = config.concurrency,
        default_interval_s = config.default_interval.as_secs(),
        leader_election = args.leader_election,
        require_credentials_label = config.require_credentials_label,
        "starting s3-connection-operator {}",
        env!("CARGO_PKG_VERSION")
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics.clone(),
        Arc::new(aws),
        config,
    ));

    let work = async {
        if !args.leader_election {
            metrics.set_leader(true);
            reconcile::run(ctx, ready, stopped()).await;
            return Ok(Ended::Shutdown);
        }
        let cfg = leader_config(&args, &shard);
        leader::lead(client, &cfg, ready.clone(), &metrics, stopped, |until| {
            reconcile::run(ctx, ready, until)
        })
        .await
    };

    tokio::select! {
        ended = work => {
            if ended? == Ended::LostLeadership {
                return Err("lost leadership; exiting so a fresh process competes again".into());
            }
        }
        res = &mut server => {
            match res {
                Ok(Err(e)) => return Err(format!("health/metrics server failed: {e}").into()),
                Err(e) => return Err(format!("health/metrics server panicked: {e}").into()),
                Ok(Ok(())) => {}
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The Lease: named by flag (else after the shard), in the pod's namespace
/// unless told otherwise, held under the pod's name.
fn leader_config(args: &RunArgs, shard: &Shard) -> LeaderConfig {
    LeaderConfig {
        lease_name: lease_name(args.lease_name.as_deref(), shard),
        namespace: args
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(|| args.namespaces.first().cloned())
            .unwrap_or_else(|| "default".into()),
        identity: std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id())),
        duration_secs: args.lease_duration,
    }
}

/// The Lease's name: `given`, else one of the shard's own, as Flux names
/// its controllers' leases: installs that serve different shards must not
/// elect one leader among them.
fn lease_name(given: Option<&str>, shard: &Shard) -> String {
    const DEFAULT: &str = "s3-connection-operator";
    match (given, shard.id()) {
        (Some(name), _) => name.to_string(),
        (None, Some(id)) => format!("{DEFAULT}-{id}"),
        (None, None) => DEFAULT.to_string(),
    }
}

/// One shutdown signal (SIGTERM or Ctrl-C), observed by every stage: each
/// call returns a future that resolves once it arrived.
fn shutdown_signal() -> impl Fn() -> leader::Signal {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        signalled().await;
        let _ = stop_tx.send(true);
    });
    move || -> leader::Signal {
        let mut rx = stop_rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    }
}

/// The keys of the probe marker: from --probe-key-secret (read, or created
/// when absent, and read again every minute), else this process's own.
async fn probe_keys(
    args: &RunArgs,
    client: &kube::Client,
) -> anyhow_free::Result<probe::SharedKeys> {
    let Some(name) = &args.probe_key_secret else {
        tracing::warn!(
            "no --probe-key-secret: the probe marker key lives only in this process; probe objects left by an earlier process are not recognised as the operator's"
        );
        return Ok(probe::SharedKeys::default());
    };
    let namespace = args
        .probe_key_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .ok_or("--probe-key-secret needs --probe-key-namespace or POD_NAMESPACE")?;
    let secret = probe::keys::KeySecret {
        namespace,
        name: name.clone(),
    };
    let keys = probe::SharedKeys::new(secret.load_or_create(client).await.map_err(|e| {
        format!("the probe marker key: {e} (the operator needs get and create on this Secret)")
    })?);
    secret.refresh(client.clone(), keys.clone());
    Ok(keys)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "s3-connection-operator".into())
}

async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested; finishing in-flight validations");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

    fn run_args(args: &[&str]) -> RunArgs {
        let argv = ["s3-connection-operator", "run"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Run(args) => *args,
            _ => unreachable!("run"),
        }
    }

    #[test]
    fn the_watch_label_selector_flag_and_the_lease_it_implies() {
        let all = run_args(&[]);
        assert_eq!(all.watch_label_selector, "");
        let all = Shard::parse(&all.watch_label_selector).unwrap();
        assert!(all.selects_all());
        assert_eq!(lease_name(None, &all), "s3-connection-operator");

        let args = run_args(&[
            "--watch-label-selector",
            "sharding.s3connection.dev/key=shard1",
        ]);
        let shard1 = Shard::parse(&args.watch_label_selector).unwrap();
        let main = Shard::parse("!sharding.s3connection.dev/key").unwrap();
        let (l1, lm) = (lease_name(None, &shard1), lease_name(None, &main));
        assert!(
            l1.starts_with("s3-connection-operator-") && l1.len() == 31,
            "{l1}"
        );
        assert_ne!(l1, lm, "each shard elects its own leader");
        // A name given wins.
        let args = run_args(&["--watch-label-selector=a", "--lease-name", "mine"]);
        assert_eq!(lease_name(args.lease_name.as_deref(), &shard1), "mine");
    }

    #[test]
    fn a_hostile_selector_passes_clap_and_is_refused_by_the_shard_parser() {
        // clap takes any text; the parser refuses it in one line, without
        // repeating it.
        let huge = "a".repeat(10 * 1024);
        for bad in [huge.as_str(), "a=b\nc=d", "a=\u{1b}[2J"] {
            let args = run_args(&["--watch-label-selector", bad]);
            let err = Shard::parse(&args.watch_label_selector)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--watch-label-selector: "), "{err}");
            assert!(
                !err.contains('\n') && !err.contains('\u{1b}') && err.len() < 300,
                "{err:?}"
            );
        }
    }
}
