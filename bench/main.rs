//! `make bench`: a benchmark of the operator (not a test; never part of
//! `make test` or CI). `make bench` starts a private environment (etcd,
//! kube-apiserver, moto) in its own state dir and ports, builds the operator
//! with `cargo build --release`, builds this driver (a `[[bench]]` target with
//! `harness = false`) and runs it with `--bench`; this program then starts
//! the operator binary as a process per part, measures, and prints a
//! human-readable table followed by ONE JSON line (report.rs, table.rs).
//!
//! Parts (`BENCH=all` or a comma-separated list), one file each:
//! - `single` (single.rs): apply-to-Ready of one connection at a time (p50
//!   of 20).
//! - `throughput` (throughput.rs, round.rs, baseline.rs): N connections
//!   sharing one Secret and one bucket in one namespace, applied at once;
//!   then the Kubernetes floor (floor.rs) and the bare client (bare.rs)
//!   doing the same S3/STS/IAM requests with the same SDK.
//! - `irsa` (irsa.rs): M connections through 10 IRSA ServiceAccounts; STS
//!   AssumeRoleWithWebIdentity calls per ServiceAccount/role, after a first
//!   validation and after a spec change re-validates all of them.
//! - `cost` (cost.rs): N connections with the default settings; requests
//!   per validation by operation and S3 price class, per connection-day,
//!   and dollars a month for 1, 1,000 and 10,000 connections, beside what
//!   the operator reports (status.requestsPerDay, the cost metrics).
//! - `memory` (memory.rs): 10,000 connections naming missing Secrets plus
//!   10,000 unrelated Secrets and 1,000 IRSA ServiceAccounts; time to
//!   settle and RSS.
//! - `restart` (restart.rs): N connections with a 1-minute interval, one
//!   operator until the re-validations are steady, then a fresh one: its
//!   validations per 10-second window against the steady rate.
//! - `handover` (handover.rs): two replicas with leader election; from the
//!   leader's SIGTERM to the standby leading (5 times).
//!
//! Between the operator and moto (and between the bare client and moto)
//! sits a counting relay (the testkit's `counting`); the operator reaches the API server
//! through another one (plain HTTP to the relay, TLS with the admin client
//! certificate from the relay on), which counts its Kubernetes API requests.
//! The operator process, the objects and /proc readings are the testkit's
//! (testkit/), shared with the integration tests.
//!
//! Parameters come from the environment (the Makefile sets them; params.rs):
//! BENCH_N, BENCH_CONCURRENCY, BENCH_PARTS, BENCH_ROUNDS,
//! BENCH_IRSA_M, BENCH_IRSA_SERVICE_ACCOUNTS, BENCH_SINGLE_RUNS,
//! BENCH_MEMORY_N, BENCH_MEMORY_NAMESPACES, BENCH_MEMORY_SERVICE_ACCOUNTS,
//! BENCH_CREATE_CONCURRENCY,
//! BENCH_HANDOVER_RUNS,
//! BENCH_TIMEOUT (seconds per wait), BENCH_KUBE_RELAY (1/0),
//! BENCH_OPERATOR_BIN, BENCH_BUILD_INFO, BENCH_RESULTS.

mod bare;
mod baseline;
mod cost;
mod cpu;
mod env;
mod floor;
mod handover;
mod irsa;
mod memory;
mod params;
mod report;
mod restart;
mod round;
mod running;
mod single;
mod stats;
mod table;
mod throughput;
mod watch;

use std::time::Instant;

use env::Env;
use params::{ALL_PARTS, Params};
use report::Report;
use running::Shared;
use testkit::process::loadavg;

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("s3c-bench: a benchmark, run it with `make bench` (skipped)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        tokio::select! {
            r = run() => match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("\n[bench] FAILED: {e}");
                    1
                }
            },
            s = interrupted() => {
                eprintln!("\n[bench] {s}: stopping the operator and giving up");
                130
            }
        }
    });
    // Dropping the runtime drops the operator processes (killed on drop).
    drop(rt);
    std::process::exit(code);
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

async fn run() -> env::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let p = Params::load()?;
    let env = Env::load().await?;
    let mut report = Report::new(&p);

    let bucket = format!("s3c-bench-{}", p.run_id);
    env.bucket(&bucket).await?;
    let (key_id, secret_key) = env
        .user(&format!("s3c-bench-{}", p.run_id), &bucket)
        .await?;
    let shared = Shared {
        bucket,
        key_id,
        secret_key,
    };

    let result = async {
        for part in ALL_PARTS {
            if !p.wants(part) {
                continue;
            }
            eprintln!("[bench] ---- {part}");
            let started = Instant::now();
            match part {
                "single" => report.single = Some(single::single(&env, &p, &shared).await?),
                "throughput" => {
                    report.throughput = Some(throughput::throughput(&env, &p, &shared).await?)
                }
                "irsa" => report.irsa = Some(irsa::irsa(&env, &p, &shared).await?),
                "cost" => report.cost = Some(cost::cost(&env, &p, &shared).await?),
                "memory" => report.memory = Some(memory::memory(&env, &p).await?),
                "restart" => report.restart = Some(restart::restart(&env, &p, &shared).await?),
                "handover" => report.handover = Some(handover::handover(&env, &p).await?),
                _ => unreachable!(),
            }
            eprintln!(
                "[bench] ---- {part} done in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok::<_, env::Error>(())
    }
    .await;
    if let Err(e) = &result {
        report.failed = Some(e.to_string());
    }
    report.machine.loadavg_end = Some(loadavg());
    report.publish(&env.dev_dir)?;
    result
}
