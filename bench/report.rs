//! The benchmark's result: one typed report, printed as a table (table.rs)
//! and as ONE JSON line, appended to `BENCH_RESULTS` and written to the
//! environment's logs.

use std::path::PathBuf;

use serde::Serialize;
use testkit::process::{loadavg, mem_total_kib};

use crate::cost::CostReport;
use crate::env::var_or;
use crate::handover::HandoverReport;
use crate::irsa::IrsaReport;
use crate::memory::MemoryReport;
use crate::params::Params;
use crate::restart::RestartReport;
use crate::single::SingleReport;
use crate::stats::Ordered;
use crate::throughput::ThroughputReport;

/// What was built: the lines `key=value` of `BENCH_BUILD_INFO` (make's
/// record of the commit and of src/ at build time).
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    #[serde(flatten)]
    pub info: Ordered<String>,
    pub git_status_src_before_build: Vec<String>,
    pub git_status_src_after_build: Vec<String>,
}

impl Build {
    pub fn read() -> Build {
        let path = var_or("BENCH_BUILD_INFO", "");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut b = Build {
            info: Ordered::default(),
            git_status_src_before_build: vec![],
            git_status_src_after_build: vec![],
        };
        for line in text.lines() {
            match line.split_once('=') {
                Some(("src_before_build", v)) => b.git_status_src_before_build.push(v.into()),
                Some(("src_after_build", v)) => b.git_status_src_after_build.push(v.into()),
                Some((k, v)) => b.info.0.push((k.into(), v.into())),
                None => {}
            }
        }
        b
    }
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_kib: u64,
    pub loadavg_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadavg_end: Option<String>,
}

impl Machine {
    pub fn now() -> Machine {
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            mem_total_kib: mem_total_kib(),
            loadavg_start: loadavg(),
            loadavg_end: None,
        }
    }
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bench: &'static str,
    pub time: String,
    pub build: Build,
    pub machine: Machine,
    pub params: Params,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single: Option<SingleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<ThroughputReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irsa: Option<IrsaReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover: Option<HandoverReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Report {
    pub fn new(params: &Params) -> Report {
        Report {
            bench: "s3-connection-operator",
            time: jiff::Timestamp::now().to_string(),
            build: Build::read(),
            machine: Machine::now(),
            params: params.clone(),
            single: None,
            throughput: None,
            irsa: None,
            cost: None,
            memory: None,
            restart: None,
            handover: None,
            failed: None,
        }
    }

    /// Print the table and the JSON line; append the line to
    /// `BENCH_RESULTS` (if set) and write it to `<dev dir>/logs`.
    pub fn publish(&self, dev_dir: &std::path::Path) -> serde_json::Result<()> {
        println!();
        crate::table::print(self);
        let line = serde_json::to_string(self)?;
        println!("{line}");
        let results = PathBuf::from(var_or("BENCH_RESULTS", ""));
        if !results.as_os_str().is_empty() {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&results)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        let _ = std::fs::write(dev_dir.join("logs").join("bench-result.json"), &line);
        Ok(())
    }
}
