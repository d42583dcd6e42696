//! Logs and Prometheus metrics, one job a file:
//! - [`logging`]: the log subscriber and the panic hook
//! - [`metrics`]: the operator's counters and histograms ([`Metrics`]), and
//!   their registration
//! - [`connections`]: the per-connection gauges, read from the controller's
//!   cache at scrape time ([`ConnectionView`])
//! - [`process`]: the `process_*` metrics of this process, from /proc
//!
//! - [`scrape`]: `/metrics`, encoded chunk by chunk as the scraper reads it
//!
//! [`encode`] renders a registry in one String (the tests' reading of it).

pub mod connections;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod scrape;

use prometheus_client::registry::Registry;

pub use connections::ConnectionView;
pub use logging::{LogFormat, init_logging, log_panics};
pub use metrics::{
    AwsLabels, AwsOperationLabels, BuildLabels, ErrorLabels, Metrics, PatchLabels, PatchOutcome,
    ResultLabels, VerbLabels, WatchLabels,
};

/// Encode a registry in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::crd::CondStatus;
    use crate::outcome::Reason;

    #[test]
    fn metrics_are_exported_with_prefix_and_labels() {
        let m = Metrics::default();
        let mut reg = Registry::default();
        m.register(&mut reg);
        m.validated(Reason::Validated, Duration::from_millis(120));
        m.validated(Reason::PermissionDenied, Duration::from_millis(80));
        m.reconcile_error("kube_forbidden");
        m.status_patch(PatchOutcome::Conflict, Some(Duration::from_millis(3)));
        let view = |name: &'static str, ready: CondStatus| ConnectionView {
            namespace: "ns",
            name,
            ready,
            reason: if ready == CondStatus::True {
                "Validated"
            } else {
                "Transient"
            },
            last_success: (ready == CondStatus::True).then_some(1_700_000_000.0),
            interval_seconds: 600.0,
            suspended: name == "c",
            // a: 2 tier-1, 2 tier-2, 1 free request each validation; b and
            // c the same but b was not validated since the start.
            // A day of 5 S3 requests every 10 minutes.
            requests: (name != "b").then_some(crate::cost::ByClass([288, 288, 144])),
        };
        m.set_ready_source(move |each| {
            for (name, ready) in [
                ("a", CondStatus::True),
                ("b", CondStatus::True),
                ("c", CondStatus::Unknown),
            ] {
                each(&view(name, ready));
            }
        });
        m.aws_call(
            "S3",
            "ListObjectsV2",
            "denied",
            Some(Duration::from_millis(20)),
        );
        let text = encode(&reg);
        assert!(
            text.contains("s3connection_validations_total{result=\"Validated\"} 1"),
            "{text}"
        );
        assert!(text.contains("s3connection_validations_total{result=\"PermissionDenied\"} 1"));
        assert!(text.contains("s3connection_validation_duration_seconds_count 2"));
        assert!(text.contains("s3connection_reconcile_errors_total{error=\"kube_forbidden\"} 1"));
        assert!(text.contains("s3connection_status_patches_total{outcome=\"conflict\"} 1"));
        assert!(text.contains("s3connection_status_patch_duration_seconds_count 1"));
        assert!(
            text.contains("s3connection_connections{ready=\"True\"} 2"),
            "{text}"
        );
        assert!(text.contains("s3connection_connections{ready=\"Unknown\"} 1"));
        assert!(
            text.contains("s3connection_ready{namespace=\"ns\",name=\"a\",reason=\"Validated\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("s3connection_ready{namespace=\"ns\",name=\"c\",reason=\"Transient\"} 0")
        );
        assert!(text.contains(
            "s3connection_last_success_timestamp_seconds{namespace=\"ns\",name=\"a\"} 1700000000"
        ));
        assert!(
            !text.contains(
                "s3connection_last_success_timestamp_seconds{namespace=\"ns\",name=\"c\"}"
            )
        );
        assert!(
            text.contains(
                "s3connection_validation_interval_seconds{namespace=\"ns\",name=\"b\"} 600"
            )
        );
        assert!(text.contains(
            "s3connection_aws_requests_total{service=\"S3\",operation=\"ListObjectsV2\",outcome=\"denied\"} 1"
        ));
        assert!(text.contains("s3connection_aws_request_duration_seconds_count{service=\"S3\",operation=\"ListObjectsV2\"} 1"));
        assert!(text.contains("s3connection_suspended{namespace=\"ns\",name=\"c\"} 1"));
        // Every 10 minutes: 144 validations a day of 5 S3 requests.
        assert!(
            text.contains("s3connection_requests_per_day{namespace=\"ns\",name=\"a\"} 720"),
            "{text}"
        );
        assert!(!text.contains("s3connection_requests_per_day{namespace=\"ns\",name=\"b\"}"));
        assert!(text.contains("s3connection_requests_per_day{namespace=\"ns\",name=\"c\"} 0"));
        // 4320 validations a month: 8640 tier-1 at $0.005 and 8640 tier-2
        // at $0.0004 per 1,000.
        let value = |series: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
                .unwrap_or_else(|| panic!("no {series} in {text}"));
            line[series.len()..].trim().parse().unwrap()
        };
        let cost = "s3connection_estimated_monthly_cost_dollars";
        let near = |x: f64, y: f64| (x - y).abs() < 1e-9;
        assert!(near(
            value(&format!("{cost}{{namespace=\"ns\",name=\"a\"}}")),
            0.046656
        ));
        assert_eq!(
            value(&format!("{cost}{{namespace=\"ns\",name=\"c\"}}")),
            0.0
        );
        let all = "s3connection_all_requests_per_day";
        assert_eq!(value(&format!("{all}{{class=\"tier1\"}}")), 288.0);
        assert_eq!(value(&format!("{all}{{class=\"tier2\"}}")), 288.0);
        assert_eq!(value(&format!("{all}{{class=\"free\"}}")), 144.0);
        assert!(near(
            value("s3connection_all_estimated_monthly_cost_dollars"),
            0.046656
        ));
        assert!(text.contains("s3connection_suspended{namespace=\"ns\",name=\"a\"} 0"));
        assert!(text.contains("s3connection_watch_restarts_total{watch=\"secrets\"} 0"));
        assert!(text.contains("s3connection_kube_requests_total{verb=\"patch\"} 0"));
        assert!(text.contains("s3connection_build_info{version="));
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
    }
}
