//! The pods suite: the operator as users run it. Its image is built here
//! from the release recipe (`make image`), imported into a real node's
//! containerd (hack/node-up.sh: kubelet, containerd, runc, the controller
//! manager and the scheduler) and started by the kubelet from the pod spec
//! the Helm chart renders, then failed over, upgraded and uninstalled.
//! `make e2e` (which `make test` runs after the integration tests) brings
//! the node up, builds the images and runs it; it needs the environment of
//! `make test` and a node.

// The integration tests' harness: this suite uses part of it.
#[allow(dead_code)]
#[path = "../shared/chart.rs"]
mod chart;
#[allow(dead_code)]
#[path = "../integration/harness.rs"]
mod harness;
#[path = "../shared/http_get.rs"]
mod http_get;
#[path = "../shared/objects.rs"]
mod objects;

mod admission;
mod lifecycle;
mod node;
mod release;
