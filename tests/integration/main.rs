//! Integration tests: a real kube-apiserver and etcd, a real S3/STS/IAM
//! endpoint with IAM enforcement, the operator binary as a process. One test
//! binary (one link); `make test` starts the environment. The harness is the
//! `testkit` crate (testkit/), shared with the pods suite and the bench.

/// The operator binary cargo built for this target. `CARGO_BIN_EXE_*` is
/// set only for the operator package's own tests and benches, so the
/// testkit gets it from here ([`testkit::TestEnv::new`]).
const OPERATOR: &str = env!("CARGO_BIN_EXE_s3-connection-operator");

mod access_key;
mod alerts;
mod argocd;
mod bucket_rules;
mod charts;
mod check;
mod control;
mod cost;
mod crd;
mod emulated_rules;
mod finalizer;
mod ha;
mod hostile;
mod install;
mod irsa;
mod kstatus;
mod light;
mod minio;
mod outage;
mod plugin;
mod policy;
mod restart;
mod shards;
mod simulate;
mod sts_endpoint;
mod tls;
mod trust_policy;
