//! The chart's alerts (files/prometheus-rules.yaml) and Grafana dashboard
//! (files/grafana-dashboard.json) ask only for what the operator serves:
//! every expression is parsed by a real PromQL parser ([`queries`]), and
//! every metric, label and matched label value it names is compared with a
//! scrape of /metrics ([`scrape`]) from the operator binary after it
//! validated a connection ([`served`]). The chart renders these two files
//! unchanged (charts/monitoring.rs checks that), so they are the one source.

mod queries;
mod scrape;
mod served;
