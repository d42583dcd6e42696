//! What the kernel says of a process and of the machine, from /proc (read
//! by the `procfs` crate): memory, CPU time, and the identity, capabilities
//! and root mount of a container's process.

use std::path::Path;

use procfs::process::{Process, all_processes};
use procfs::{Current, CurrentSI, KernelStats, Meminfo};
use serde::Serialize;

/// Resident memory of a process, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    pub vm_rss_kib: u64,
    /// The peak ("high water mark").
    pub vm_hwm_kib: u64,
    pub rss_anon_kib: u64,
    pub rss_file_kib: u64,
}

/// The memory of `pid`, if its status can be read.
pub fn memory(pid: u32) -> Option<Memory> {
    let s = Process::new(pid as i32).ok()?.status().ok()?;
    Some(Memory {
        vm_rss_kib: s.vmrss.unwrap_or(0),
        vm_hwm_kib: s.vmhwm.unwrap_or(0),
        rss_anon_kib: s.rssanon.unwrap_or(0),
        rss_file_kib: s.rssfile.unwrap_or(0),
    })
}

fn seconds(ticks: u64) -> f64 {
    ticks as f64 / procfs::ticks_per_second() as f64
}

/// utime + stime of one process, seconds (0 if it cannot be read).
pub fn cpu_seconds(pid: u32) -> f64 {
    Process::new(pid as i32)
        .and_then(|p| p.stat())
        .map(|s| seconds(s.utime + s.stime))
        .unwrap_or(0.0)
}

/// One process as /proc/PID/stat describes it.
#[derive(Debug, Clone)]
pub struct ProcessCpu {
    pub pid: u32,
    /// The command name.
    pub comm: String,
    /// The process group.
    pub pgrp: u32,
    /// utime + stime, seconds. Not cutime: a reaped child's time lands in
    /// its parent's cutime (all of it, also from before a measurement; for
    /// orphans that parent is init), so cutime would mislead.
    pub cpu_s: f64,
}

/// Every process there is.
pub fn processes() -> Vec<ProcessCpu> {
    let Ok(all) = all_processes() else {
        return vec![];
    };
    all.filter_map(|p| {
        let s = p.ok()?.stat().ok()?;
        Some(ProcessCpu {
            pid: u32::try_from(s.pid).ok()?,
            comm: s.comm,
            pgrp: u32::try_from(s.pgrp).ok()?,
            cpu_s: seconds(s.utime + s.stime),
        })
    })
    .collect()
}

/// CPU seconds of every process in process group `pgid`.
pub fn group_cpu_seconds(pgid: u32) -> f64 {
    processes()
        .iter()
        .filter(|p| p.pgrp == pgid)
        .map(|p| p.cpu_s)
        .sum()
}

/// The whole machine's CPU time since boot, seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    /// user, nice, system, irq, softirq, steal (guest is counted in user).
    pub busy: f64,
    /// busy + idle + iowait.
    pub total: f64,
    /// irq + softirq alone: work on behalf of no process (e.g. loopback
    /// networking).
    pub irq: f64,
}

pub fn machine_cpu() -> MachineCpu {
    let Ok(k) = KernelStats::current() else {
        return MachineCpu::default();
    };
    let t = k.total;
    let (irq, softirq) = (t.irq.unwrap_or(0), t.softirq.unwrap_or(0));
    let idle = t.idle + t.iowait.unwrap_or(0);
    let busy = t.user + t.nice + t.system + irq + softirq + t.steal.unwrap_or(0);
    MachineCpu {
        busy: seconds(busy),
        total: seconds(busy + idle),
        irq: seconds(irq + softirq),
    }
}

/// MemTotal, KiB (0 if unknown).
pub fn mem_total_kib() -> u64 {
    Meminfo::current().map(|m| m.mem_total / 1024).unwrap_or(0)
}

/// /proc/loadavg as it reads.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// What the kernel says of a container's process.
#[derive(Debug)]
pub struct Confined {
    /// Real, effective, saved and filesystem UIDs (and GIDs).
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
    /// Effective and bounding capability sets.
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub no_new_privs: bool,
    /// Whether `/` is mounted read-only in its mount namespace.
    pub root_read_only: bool,
    pub cmdline: Vec<String>,
}

/// The process of container `container_id` (as a pod's status names it:
/// `containerd://<id>`): the one whose cgroup ends in that id.
pub fn container_process(container_id: &str) -> Confined {
    let id = container_id
        .rsplit("://")
        .next()
        .expect("a container id")
        .to_string();
    let suffix = format!("/{id}");
    let pids: Vec<Process> = all_processes()
        .expect("read /proc")
        .filter_map(Result::ok)
        .filter(|p| {
            p.cgroups()
                .is_ok_and(|c| c.0.iter().any(|g| g.pathname.ends_with(&suffix)))
        })
        .collect();
    let found: Vec<i32> = pids.iter().map(Process::pid).collect();
    assert_eq!(found.len(), 1, "processes of container {id}: {found:?}");
    let p = &pids[0];
    let pid = p.pid();
    let s = p
        .status()
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    // The last mount on / is the one the process sees.
    let mounts = p
        .mountinfo()
        .unwrap_or_else(|e| panic!("/proc/{pid}/mountinfo: {e}"));
    let root_read_only = mounts
        .0
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))
        .is_some_and(|m| m.mount_options.contains_key("ro"));
    Confined {
        uids: vec![s.ruid, s.euid, s.suid, s.fuid],
        gids: vec![s.rgid, s.egid, s.sgid, s.fgid],
        cap_eff: s.capeff,
        cap_bnd: s
            .capbnd
            .unwrap_or_else(|| panic!("no CapBnd in /proc/{pid}/status")),
        no_new_privs: s
            .nonewprivs
            .unwrap_or_else(|| panic!("no NoNewPrivs in /proc/{pid}/status"))
            == 1,
        root_read_only,
        cmdline: p
            .cmdline()
            .unwrap_or_else(|e| panic!("/proc/{pid}/cmdline: {e}")),
    }
}
