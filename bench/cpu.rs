//! CPU seconds used during a phase by each part (the bench driver, the
//! operator, moto, kube-apiserver, etcd), by the machine, and by anything
//! else that ran meanwhile; read from /proc through the testkit.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use testkit::process::{
    MachineCpu, ProcessCpu, cpu_seconds, group_cpu_seconds, machine_cpu, processes,
};

use crate::env::Env;
use crate::stats::{Ordered, round3};

/// The pid dev-up recorded for a component (the leader of its group).
pub fn component_pid(dev_dir: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(dev_dir.join("run").join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[derive(Clone, Copy)]
enum CpuSource {
    Pid(u32),
    /// Every process of a process group (dev-up starts each component as
    /// its own group).
    Group(u32),
}

impl CpuSource {
    fn read(self) -> f64 {
        match self {
            CpuSource::Pid(p) => cpu_seconds(p),
            CpuSource::Group(g) => group_cpu_seconds(g),
        }
    }

    fn covers(self, p: &ProcessCpu) -> bool {
        match self {
            CpuSource::Pid(pid) => pid == p.pid,
            CpuSource::Group(g) => g == p.pgrp,
        }
    }
}

/// CPU seconds of a phase, as the report has them.
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// Per part, in the order measured.
    #[serde(flatten)]
    pub parts: Ordered<f64>,
    pub machine_busy: f64,
    pub machine_total: f64,
    pub irq_softirq: f64,
    /// Busy time of neither these parts nor interrupts (other work on the
    /// machine, e.g. a concurrent build or test run).
    pub other: f64,
    /// The commands that used the most of it.
    pub other_top: Ordered<f64>,
    pub wall: f64,
}

/// A phase being measured.
pub struct CpuMeter {
    parts: Vec<(String, CpuSource)>,
    start: Vec<f64>,
    machine: MachineCpu,
    /// pid → (command, CPU seconds) at the start.
    procs: HashMap<u32, (String, f64)>,
    wall: Instant,
}

impl CpuMeter {
    pub fn start(env: &Env, operator: Option<u32>) -> CpuMeter {
        let mut parts = vec![(
            "bench_driver".to_string(),
            CpuSource::Pid(std::process::id()),
        )];
        if let Some(p) = operator {
            parts.push(("operator".into(), CpuSource::Pid(p)));
        }
        for (name, key) in [
            ("moto", "moto"),
            ("kube_apiserver", "kube-apiserver"),
            ("etcd", "etcd"),
        ] {
            if let Some(p) = component_pid(&env.dev_dir, key) {
                parts.push((name.into(), CpuSource::Group(p)));
            }
        }
        let start = parts.iter().map(|(_, s)| s.read()).collect();
        CpuMeter {
            parts,
            start,
            machine: machine_cpu(),
            procs: processes()
                .into_iter()
                .map(|p| (p.pid, (p.comm, p.cpu_s)))
                .collect(),
            wall: Instant::now(),
        }
    }

    /// Seconds of CPU per part since the start; the machine's busy and
    /// available seconds; irq + softirq; and everything else.
    pub fn read(&self) -> CpuReport {
        let mut parts = vec![];
        let mut ours = 0.0;
        for ((name, src), start) in self.parts.iter().zip(&self.start) {
            let used = src.read() - start;
            ours += used;
            parts.push((name.clone(), round3(used)));
        }
        let now = machine_cpu();
        let busy = now.busy - self.machine.busy;
        let total = now.total - self.machine.total;
        let irq = now.irq - self.machine.irq;
        let mut others: HashMap<String, f64> = HashMap::new();
        for p in processes() {
            if self.parts.iter().any(|(_, s)| s.covers(&p)) {
                continue;
            }
            let before = match self.procs.get(&p.pid) {
                Some((c, b)) if *c == p.comm => *b,
                _ => 0.0,
            };
            if p.cpu_s - before >= 0.01 {
                *others.entry(p.comm).or_default() += p.cpu_s - before;
            }
        }
        let mut top: Vec<(String, f64)> = others.into_iter().collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(5);
        CpuReport {
            parts: Ordered(parts),
            machine_busy: round3(busy),
            machine_total: round3(total),
            irq_softirq: round3(irq),
            other: round3((busy - ours - irq).max(0.0)),
            other_top: Ordered(top.into_iter().map(|(k, v)| (k, round3(v))).collect()),
            wall: round3(self.wall.elapsed().as_secs_f64()),
        }
    }
}
