//! The local node (hack/node-up.sh) as the pods suite uses it: the operator
//! images `make e2e` built, importing them into the node's containerd, and
//! the chart values a hostNetwork install on this node needs. (What the
//! kernel says of a container's process: `testkit::process`.)

use std::process::Command;

use testkit::var;

/// One operator image: its reference and the OCI archive `make image` wrote.
pub struct Image {
    pub repository: String,
    pub tag: String,
    pub archive: String,
}

impl Image {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// Import the archive into the node's containerd (`ctr images import`,
    /// never a pull).
    pub fn import(&self) {
        let import = var("S3C_NODE_IMPORT");
        let out = Command::new(&import)
            .arg(&self.archive)
            .output()
            .expect("run S3C_NODE_IMPORT");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{import} {}:\n{text}", self.archive);
        assert!(text.contains(&self.reference()), "imported as:\n{text}");
    }
}

/// The two images of the suite: the one installed, and the one upgraded to
/// (the same build under another tag).
pub fn images() -> (Image, Image) {
    let repository = var("S3C_E2E_IMAGE_REPOSITORY");
    let image = |tag, archive| Image {
        repository: repository.clone(),
        tag: var(tag),
        archive: var(archive),
    };
    (
        image("S3C_E2E_TAG", "S3C_E2E_ARCHIVE"),
        image("S3C_E2E_NEXT_TAG", "S3C_E2E_NEXT_ARCHIVE"),
    )
}

/// The port the operator's pod serves /metrics on (HTTPS, the chart's
/// default), on 127.0.0.1 of the node (hostNetwork).
pub fn metrics_port() -> u16 {
    var("S3C_E2E_METRICS_PORT")
        .parse()
        .expect("S3C_E2E_METRICS_PORT is a port")
}

/// The port of /healthz and /readyz (plain HTTP), on 127.0.0.1 of the node.
pub fn health_port() -> u16 {
    var("S3C_E2E_HEALTH_PORT")
        .parse()
        .expect("S3C_E2E_HEALTH_PORT is a port")
}

/// The ServiceAccount, in the release namespace, that scrapes /metrics:
/// the chart binds it to its reader ClusterRole (`metrics.reader`).
pub const SCRAPER: &str = "scraper";

/// `--set`/`--set-string` arguments for an install on this node: one
/// replica on the host network (the node has no pod network), everything on
/// 127.0.0.1, the old pod stopped before the new one starts (it holds the
/// host port), the API server and the S3/STS/IAM endpoint named through
/// `extraEnv` (there is no kube-proxy behind the Service IP), the image
/// imported, never pulled; /metrics over HTTPS (the default) for the
/// [`SCRAPER`] of `release_namespace`.
pub fn values(
    image: &Image,
    tenants: &[&str],
    endpoint: &str,
    release_namespace: &str,
) -> Vec<String> {
    let port = metrics_port();
    let sets = vec![
        "replicaCount=1".to_string(),
        "hostNetwork=true".into(),
        "metricsBindAddress=127.0.0.1".into(),
        format!("metricsPort={port}"),
        format!("healthPort={}", health_port()),
        format!("metrics.reader.serviceAccounts[0].name={SCRAPER}"),
        format!("metrics.reader.serviceAccounts[0].namespace={release_namespace}"),
        "probes.host=127.0.0.1".into(),
        "updateStrategy.rollingUpdate.maxSurge=0".into(),
        "updateStrategy.rollingUpdate.maxUnavailable=1".into(),
        format!("image.repository={}", image.repository),
        format!("image.tag={}", image.tag),
        "image.pullPolicy=Never".into(),
        format!("allowedEndpoints={{{endpoint}}}"),
        format!("watchNamespaces={{{}}}", tenants.join(",")),
        "extraEnv[0].name=KUBERNETES_SERVICE_HOST".into(),
        "extraEnv[1].name=KUBERNETES_SERVICE_PORT".into(),
        "extraEnv[2].name=AWS_ENDPOINT_URL".into(),
        "extraEnv[3].name=AWS_EC2_METADATA_DISABLED".into(),
    ];
    let strings = [
        format!("extraEnv[0].value={}", var("S3C_NODE_APISERVER_HOST")),
        format!("extraEnv[1].value={}", var("S3C_NODE_APISERVER_PORT")),
        format!("extraEnv[2].value={endpoint}"),
        "extraEnv[3].value=true".into(),
    ];
    let mut args: Vec<String> = sets.into_iter().flat_map(|s| ["--set".into(), s]).collect();
    args.extend(strings.into_iter().flat_map(|s| ["--set-string".into(), s]));
    args
}
