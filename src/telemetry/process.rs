//! The `process_*` metrics of this process (CPU time, resident memory, open
//! file descriptors, start time), read from /proc at scrape time.
//!
//! /proc is read with the `procfs` crate rather than by hand: CPU and start
//! times are counted in clock ticks and resident memory in pages, and
//! `procfs` asks the kernel for both sizes (`sysconf(_SC_CLK_TCK)` and
//! `_SC_PAGESIZE`, through `rustix`: safe code, where this crate forbids
//! `unsafe`) instead of assuming 100 ticks a second. It is small (with
//! `rustix` and `hex`, no default features) and maintained.
//!
//! Linux only: elsewhere the collector encodes nothing.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `process_*` metrics of this process, from /proc (Linux).
#[derive(Debug)]
pub(super) struct ProcessCollector;

/// One reading of this process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    /// User and system CPU time, in seconds.
    cpu_seconds: f64,
    resident_bytes: f64,
    open_fds: f64,
    /// Unix time the process started.
    start_time: f64,
}

impl Sample {
    /// This process now, when /proc is readable.
    #[cfg(target_os = "linux")]
    fn read() -> Option<Sample> {
        // Counted by hand, before `me` holds a descriptor of its own:
        // `Process::fd_count` counts `.` and `..` too on kernels before 6.2
        // (Amazon Linux 2 and 2023 among them). Like every count from
        // inside, this one includes the descriptor that reads the folder.
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        let me = procfs::process::Process::myself().ok()?;
        let stat = me.stat().ok()?;
        let tick = procfs::ticks_per_second() as f64;
        let boot = procfs::boot_time_secs().ok()? as f64;
        Some(Sample {
            cpu_seconds: (stat.utime + stat.stime) as f64 / tick,
            resident_bytes: stat.rss as f64 * procfs::page_size() as f64,
            open_fds,
            start_time: boot + stat.starttime as f64 / tick,
        })
    }

    /// No /proc: no sample.
    #[cfg(not(target_os = "linux"))]
    fn read() -> Option<Sample> {
        None
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let Some(s) = Sample::read() else {
            return Ok(());
        };
        let mut one = |name: &str, help: &str, kind: MetricType, value: f64| {
            let family = encoder.encode_descriptor(name, help, None, kind)?;
            if kind == MetricType::Counter {
                ConstCounter::new(value).encode(family)
            } else {
                ConstGauge::new(value).encode(family)
            }
        };
        one(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            MetricType::Counter,
            s.cpu_seconds,
        )?;
        one(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            MetricType::Gauge,
            s.resident_bytes,
        )?;
        one(
            "process_open_fds",
            "Open file descriptors",
            MetricType::Gauge,
            s.open_fds,
        )?;
        one(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            MetricType::Gauge,
            s.start_time,
        )
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The reading agrees with what the process can see for itself.
    #[test]
    fn this_process_is_read_from_proc() {
        let s = Sample::read().expect("/proc is readable");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // The test binary started moments ago: a wrong clock tick would put
        // the start hours (the system's uptime, scaled) away.
        assert!(s.start_time <= now + 1.0, "{s:?}");
        assert!(s.start_time > now - 600.0, "{s:?}");
        assert!(s.cpu_seconds >= 0.0, "{s:?}");
        // At least a MiB resident, and stdin, stdout and stderr open.
        assert!(s.resident_bytes > 1024.0 * 1024.0, "{s:?}");
        assert!(s.open_fds >= 3.0, "{s:?}");
        // The same as the kernel's VmRSS line (the hand parser's source).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        let again = Sample::read().unwrap().resident_bytes;
        let kib = |b: f64| b / 1024.0;
        assert!(
            (kib(again) - vm_rss_kib).abs() < 4096.0,
            "{again} vs {vm_rss_kib} KiB"
        );
    }
}
