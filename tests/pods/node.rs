//! The local node (hack/node-up.sh) as the pods suite uses it: the operator
//! images `make e2e` built, importing them into the node's containerd, the
//! chart values a hostNetwork install on this node needs, and the process a
//! container runs, read from /proc.

use std::process::Command;

use crate::harness::var;

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

/// The port the operator's pod serves /metrics, /healthz and /readyz on,
/// on 127.0.0.1 of the node (hostNetwork).
pub fn metrics_port() -> u16 {
    var("S3C_E2E_METRICS_PORT")
        .parse()
        .expect("S3C_E2E_METRICS_PORT is a port")
}

/// `--set`/`--set-string` arguments for an install on this node: one
/// replica on the host network (the node has no pod network), everything on
/// 127.0.0.1, the old pod stopped before the new one starts (it holds the
/// host port), the API server and the S3/STS/IAM endpoint named through
/// `extraEnv` (there is no kube-proxy behind the Service IP), the image
/// imported, never pulled.
pub fn values(image: &Image, tenants: &[&str], endpoint: &str) -> Vec<String> {
    let port = metrics_port();
    let sets = vec![
        "replicaCount=1".to_string(),
        "hostNetwork=true".into(),
        "metricsBindAddress=127.0.0.1".into(),
        format!("metricsPort={port}"),
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

/// What the kernel says of a container's process.
#[derive(Debug)]
pub struct Process {
    /// Real, effective, saved and filesystem UIDs (and GIDs).
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
    /// Effective and bounding capability sets.
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub no_new_privs: bool,
    /// Whether `/` is mounted read-only in its mount namespace.
    pub root_read_only: bool,
    pub cmdline: Vec<String>,
}

/// The process of container `container_id` (as the pod's status names it:
/// `containerd://<id>`): the one whose cgroup ends in that id.
pub fn container_process(container_id: &str) -> Process {
    let id = container_id
        .rsplit("://")
        .next()
        .expect("a container id")
        .to_string();
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&format!("/{id}"))))
        })
        .collect();
    assert_eq!(pids.len(), 1, "processes of container {id}: {pids:?}");
    let pid = pids[0];
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let ids = |name| field(name).iter().map(|v| v.parse().unwrap()).collect();
    let caps = |name| u64::from_str_radix(&field(name)[0], 16).unwrap();
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    // Fields: id parent major:minor root mount-point options ...; the
    // last mount on / is the one the process sees.
    let root_read_only = mountinfo
        .lines()
        .rev()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&"/"))
        .is_some_and(|f| f[5].split(',').any(|o| o == "ro"));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    Process {
        uids: ids("Uid"),
        gids: ids("Gid"),
        cap_eff: caps("CapEff"),
        cap_bnd: caps("CapBnd"),
        no_new_privs: field("NoNewPrivs") == ["1"],
        root_read_only,
        cmdline: cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    }
}
