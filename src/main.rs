use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};
use prometheus_client::registry::Registry;
use s3_connection_operator::aws::{SdkFactory, Timeouts};
use s3_connection_operator::controller::{self, Context};
use s3_connection_operator::http::{self, HttpState};
use s3_connection_operator::telemetry::{self, LogFormat, Metrics};
use s3_connection_operator::validation::parse_interval;

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
    Run(RunArgs),
    /// Print the S3Connection CRD as YAML.
    Crd,
}

#[derive(Args)]
struct RunArgs {
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Let connections with `iamRole` but no `serviceAccountName` assume roles
    /// with the operator's own identity. Off by default: in a shared cluster it
    /// lets any namespace borrow the operator's identity.
    #[arg(long, env = "ALLOW_OPERATOR_IDENTITY")]
    allow_operator_identity: bool,
    /// Re-validation interval for connections without `validationInterval`.
    #[arg(long, env = "DEFAULT_INTERVAL", default_value = "10m", value_parser = parse_interval)]
    default_interval: std::time::Duration,
    /// How many connections are validated at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Log level when RUST_LOG is not set.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
}

fn main() -> anyhow_free::Result {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", s3_connection_operator::crd_yaml());
            Ok(())
        }
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(args)),
    }
}

async fn run(args: RunArgs) -> anyhow_free::Result {
    // One TLS crypto provider for kube and the AWS SDK.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    telemetry::init_logging(args.log_format, &args.log_level);

    let client = kube::Client::try_default().await?;
    let aws = SdkFactory::new(Timeouts::default(), args.allow_operator_identity, |k| {
        std::env::var(k).ok()
    })
    .await;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));

    let state = HttpState {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    let addr = args.metrics_addr;
    let server = tokio::spawn(async move { http::serve(addr, state).await });

    let config = controller::Config {
        default_interval: args.default_interval,
        allow_operator_identity: args.allow_operator_identity,
        concurrency: args.concurrency,
        namespace: args.namespace,
        ..Default::default()
    };
    tracing::info!(
        allow_operator_identity = config.allow_operator_identity,
        namespace = config.namespace.as_deref().unwrap_or("<all>"),
        default_interval_s = config.default_interval.as_secs(),
        "starting s3-connection-operator {}",
        env!("CARGO_PKG_VERSION")
    );
    let ctx = Arc::new(Context::new(client, metrics, Arc::new(aws), config));
    tokio::select! {
        _ = controller::run(ctx, ready, shutdown_signal()) => {}
        res = server => {
            match res {
                Ok(Err(e)) => return Err(format!("metrics server failed: {e}").into()),
                Err(e) => return Err(format!("metrics server panicked: {e}").into()),
                Ok(Ok(())) => {}
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested; finishing in-flight validations");
}

/// A boxed error is enough for a binary's `main`.
mod anyhow_free {
    pub type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> =
        std::result::Result<T, E>;
}
