//! The benchmark's parameters, from the environment the Makefile sets;
//! they are also the report's `params` (in this field order).

use std::time::Duration;

use serde::Serialize;

use crate::env::{Result, bail, num_var, var_or};

/// The parts, in the order they run.
pub const ALL_PARTS: [&str; 7] = [
    "single",
    "throughput",
    "irsa",
    "cost",
    "memory",
    "restart",
    "handover",
];

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub n: u64,
    pub concurrency: u64,
    pub parts: Vec<String>,
    pub irsa_m: u64,
    pub irsa_service_accounts: u64,
    pub single_runs: u64,
    pub memory_n: u64,
    pub memory_namespaces: u64,
    pub memory_service_accounts: u64,
    pub create_concurrency: u64,
    /// Leader hand-overs in the handover part.
    pub handover_runs: u64,
    /// Applies in flight in the throughput part (operator and floor):
    /// 1, as `kubectl apply -f` sends a file's objects.
    pub apply_concurrency: u64,
    pub kube_relay: bool,
    /// Also run the Kubernetes floor in each throughput round (floor.rs).
    pub floor: bool,
    /// Connections in an unreported warm-up round before the throughput
    /// rounds (operator, then bare client); 0: none.
    pub warmup: u64,
    #[serde(rename = "timeout_s")]
    pub timeout: Option<u64>,
    /// Throughput rounds (operator, floor and bare client each), alternating
    /// whether the operator or the bare client goes first.
    #[serde(skip)]
    pub rounds: u64,
    #[serde(skip)]
    pub run_id: String,
}

impl Params {
    pub fn load() -> Result<Params> {
        let n = num_var("BENCH_N", 500)?;
        let concurrency = num_var("BENCH_CONCURRENCY", 16)?;
        let parts_raw = var_or("BENCH_PARTS", "all");
        let mut parts = vec![];
        for p in parts_raw.split([',', '|', ' ']).filter(|p| !p.is_empty()) {
            match p {
                "all" => parts.extend(ALL_PARTS.iter().map(|s| s.to_string())),
                p if ALL_PARTS.contains(&p) => parts.push(p.to_string()),
                p => bail!("BENCH={p:?}: choose from all, {}", ALL_PARTS.join(", ")),
            }
        }
        if n == 0 || concurrency == 0 {
            bail!("N and CONCURRENCY must be at least 1");
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        Ok(Params {
            n,
            concurrency,
            parts,
            rounds: num_var("BENCH_ROUNDS", 1)?.max(1),
            irsa_m: num_var("BENCH_IRSA_M", n.min(100))?,
            irsa_service_accounts: num_var("BENCH_IRSA_SERVICE_ACCOUNTS", 10)?.max(1),
            single_runs: num_var("BENCH_SINGLE_RUNS", 20)?.max(1),
            memory_n: num_var("BENCH_MEMORY_N", 10_000)?,
            memory_namespaces: num_var("BENCH_MEMORY_NAMESPACES", 5)?.max(1),
            memory_service_accounts: num_var(
                "BENCH_MEMORY_SERVICE_ACCOUNTS",
                num_var("BENCH_MEMORY_N", 10_000)? / 10,
            )?,
            create_concurrency: num_var("BENCH_CREATE_CONCURRENCY", 32)?.max(1),
            handover_runs: num_var("BENCH_HANDOVER_RUNS", 5)?.max(1),
            apply_concurrency: num_var("BENCH_APPLY_CONCURRENCY", 1)?.max(1),
            timeout: std::env::var("BENCH_TIMEOUT")
                .ok()
                .and_then(|v| v.parse().ok()),
            kube_relay: var_or("BENCH_KUBE_RELAY", "1") != "0",
            floor: var_or("BENCH_FLOOR", "1") != "0",
            warmup: num_var("BENCH_WARMUP", 100)?,
            run_id: format!("{}", secs % 100_000),
        })
    }

    pub fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    /// How long to wait for `n` connections: generous (10 connections/s;
    /// this machine does 30-50 with S3 traffic, over 100 without).
    pub fn timeout_for(&self, n: u64) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(300 + n / 10))
    }
}
