//! The pods suite: the operator as users run it. Its image is built here
//! from the release recipe (`make image`), imported into a real node's
//! containerd (hack/node-up.sh: kubelet, containerd, runc, the controller
//! manager and the scheduler) and started by the kubelet from the pod spec
//! the Helm chart renders, then failed over, upgraded and uninstalled.
//! `make e2e` (which `make test` runs after the integration tests) brings
//! the node up, builds the images and runs it; it needs the environment of
//! `make test` and a node. The harness is the `testkit` crate (testkit/).

/// The operator binary cargo built for this target (the testkit's
/// environment is made with it, though this suite runs the image instead).
const OPERATOR: &str = env!("CARGO_BIN_EXE_s3-connection-operator");

mod admission;
mod lifecycle;
mod node;
mod release;
