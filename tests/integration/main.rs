//! Integration tests: a real kube-apiserver and etcd, a real S3/STS/IAM
//! endpoint with IAM enforcement, the operator binary as a process. One test
//! binary (one link, one harness); `make test` starts the environment.

#[path = "../shared/chart.rs"]
mod chart;
mod harness;
#[path = "../shared/http_get.rs"]
mod http_get;
#[path = "../shared/objects.rs"]
mod objects;

mod access_key;
mod alerts;
mod argocd;
mod charts;
mod control;
mod crd;
mod ha;
mod hostile;
mod install;
mod irsa;
mod kstatus;
mod minio;
mod outage;
mod restart;
mod tls;
