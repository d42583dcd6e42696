//! `why NAME [-n NS]`: read a live S3Connection through the current
//! kubeconfig and print [`super::explain`]. Exit code 0 when it is Ready,
//! 1 when it definitely is not, 2 when that is not known (or the object
//! cannot be read).

use std::process::ExitCode;
use std::time::Duration;

use kube::Api;

use super::{State, explain};
use crate::cli::{EXIT_NOT_READY, EXIT_OK, EXIT_UNKNOWN, one_line};
use crate::crd::S3Connection;
use crate::messages::why as text;

/// How long the API server may take to answer.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// The arguments of `why`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The S3Connection's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
}

/// Run `why`; `program` is how the user called us.
pub fn run(args: Args, program: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    match runtime.block_on(read(&args)) {
        Ok(conn) => {
            let explained = explain(&conn, program);
            for line in &explained.lines {
                println!("{line}");
            }
            ExitCode::from(match explained.state {
                State::Ready => EXIT_OK,
                State::NotReady => EXIT_NOT_READY,
                State::Unknown => EXIT_UNKNOWN,
            })
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("error: {}", one_line(e));
    ExitCode::from(EXIT_UNKNOWN)
}

/// The live object.
async fn read(args: &Args) -> Result<S3Connection, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = kube::Config::infer()
        .await
        .map_err(|e| format!("no usable kubeconfig: {e}"))?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|e| format!("kubeconfig: {e}"))?;
    let api: Api<S3Connection> = Api::namespaced(client, &ns);
    let got = tokio::time::timeout(API_TIMEOUT, api.get_opt(&args.name))
        .await
        .map_err(|_| format!("the API server did not answer within {API_TIMEOUT:?}"))?
        .map_err(|e| format!("get s3connection {}/{}: {e}", ns, args.name))?;
    got.ok_or_else(|| text::not_found(&ns, &args.name))
}
