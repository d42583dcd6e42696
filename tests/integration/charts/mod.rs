//! The Helm chart without a cluster: it lints, renders least-privilege RBAC
//! ([`rbac`]), turns its values into the operator's flags and refuses bad
//! ones by name ([`values`]), renders the monitoring objects from the files
//! the alerts tests check ([`monitoring`]), puts the pod on the network and
//! labels as asked ([`pod`]), and says in its NOTES what an install does
//! ([`notes`]); /metrics over HTTPS with its RBAC, ServiceMonitor and
//! NetworkPolicy ([`metrics`]); a main install and a shard side by side
//! ([`shards`]).

mod metrics;
mod monitoring;
mod notes;
mod pod;
mod rbac;
mod shards;
mod values;
