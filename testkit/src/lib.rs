//! The test harness of the operator's package, shared by the integration
//! tests (tests/integration), the pods suite (tests/pods) and `make bench`'s
//! driver (bench/). Each module has one job:
//!
//! - [`mod@env`]: the environment `make test` started (hack/dev-up.sh), a
//!   test's turn on it, and the Kubernetes objects a test makes there
//! - [`objects`]: the Kubernetes objects the tests and the bench both make
//! - [`aws`]: clients of the S3/STS/IAM endpoint, buckets, IAM users and
//!   roles, policies
//! - [`cleanup`]: removing what a test created, also when it fails
//! - [`minio`]: the second S3 implementation (MinIO, TLS, web identity)
//! - [`operator`]: one operator process: its command line, log, readiness
//! - [`net`]: free ports and a plain HTTP GET
//! - [`relay`]: TCP relays a test owns in front of a server ([`Relay`],
//!   [`Gate`]); [`counting`]: an HTTP/1.1 relay that counts each request
//!   by operation and response status
//! - [`spec`]: a typed S3Connection spec builder ([`Spec`])
//! - [`status`]: reading a connection's conditions and permissions
//! - [`wait`]: waiting on conditions with timeouts (never fixed sleeps)
//! - [`mod@metrics`]: reading the operator's /metrics
//! - [`process`]: what /proc says of a process and of the machine
//! - [`chart`]: the Helm chart: `helm`, rendered documents
//!
//! The operator binary is not the testkit's to find: `CARGO_BIN_EXE_*`
//! exists only in the main package's test and bench targets, so those pass
//! it in ([`TestEnv::new`], [`operator::Launch::new`]).

pub mod aws;
pub mod chart;
pub mod cleanup;
pub mod counting;
pub mod env;
pub mod jwt;
pub mod metrics;
pub mod minio;
pub mod net;
pub mod objects;
pub mod operator;
pub mod process;
pub mod relay;
pub mod spec;
pub mod status;
pub mod wait;

pub use aws::{ALL, IamUser, PROVABLE, Setup, s3_policy};
pub use env::{REGION, TIMEOUT, TestEnv, annotate, unique, var};
pub use metrics::{metrics, total};
pub use minio::Minio;
pub use operator::Operator;
pub use relay::{Gate, Relay};
pub use spec::Spec;
pub use status::{
    Cond, assert_allowed, condition, has_condition, permission, permission_message, ready_of,
};
pub use wait::await_object;
