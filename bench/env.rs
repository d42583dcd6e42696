//! The environment the benchmark runs in: what `make bench` started
//! (hack/dev-up.sh in its own state dir), the admin clients for setup, the
//! operator process, and readings from /proc and /metrics.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::relay::{Flavor, Relay, Upstream};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*).into()) };
}
pub(crate) use bail;

pub const REGION: &str = "us-east-1";

pub fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| {
        format!("{name} is not set: run the benchmark with `make bench` (it starts the environment and sets it)").into()
    })
}

pub fn var_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

pub fn num_var(name: &str, default: u64) -> Result<u64> {
    let v = var_or(name, &default.to_string());
    v.trim()
        .parse()
        .map_err(|_| format!("{name}={v:?} is not a number").into())
}

/// What `source $S3C_DEV_DIR/env` provides, plus the admin clients.
pub struct Env {
    pub kube: Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    /// moto, reached directly (setup only; the operator goes through a relay)
    pub moto: String,
    pub dev_dir: PathBuf,
    pub oidc_provider: String,
    pub account: String,
    pub apiserver: String,
    pub operator_bin: PathBuf,
}

fn admin_credentials() -> Result<Credentials> {
    Ok(Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        None,
        None,
        "s3c-bench-admin",
    ))
}

impl Env {
    pub async fn load() -> Result<Env> {
        let moto = var("AWS_ENDPOINT_URL")?;
        let creds = admin_credentials()?;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(&moto)
                .force_path_style(true)
                .credentials_provider(creds.clone())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(&moto)
                .credentials_provider(creds)
                .build(),
        );
        let mut cfg = kube::Config::infer().await?;
        // 20,000 creates and a watch of 10,000 objects: the defaults are fine,
        // but no request should hang the benchmark.
        cfg.read_timeout = Some(Duration::from_secs(295));
        let kube = Client::try_from(cfg)?;
        Ok(Env {
            kube,
            s3,
            iam,
            moto,
            dev_dir: PathBuf::from(var("S3C_DEV_DIR")?),
            oidc_provider: var("S3C_OIDC_PROVIDER")?,
            account: var("S3C_AWS_ACCOUNT")?,
            apiserver: var("S3C_APISERVER_URL")?,
            operator_bin: PathBuf::from(var("BENCH_OPERATOR_BIN")?),
        })
    }

    pub async fn namespace(&self, name: &str) -> Result<()> {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("s3connection.dev/bench".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match Api::<Namespace>::all(self.kube.clone())
            .create(&PostParams::default(), &ns)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(format!("create namespace {name}: {e}").into()),
        }
    }

    pub async fn bucket(&self, name: &str) -> Result<()> {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| format!("create bucket {name}: {e:?}"))?;
        Ok(())
    }

    /// An IAM user allowed everything a validation needs on `bucket`, and
    /// its access key.
    pub async fn user(&self, name: &str, bucket: &str) -> Result<(String, String)> {
        self.iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .map_err(|e| format!("create user {name}: {e:?}"))?;
        self.iam
            .put_user_policy()
            .user_name(name)
            .policy_name("s3")
            .policy_document(s3_policy(bucket).to_string())
            .send()
            .await
            .map_err(|e| format!("put user policy: {e:?}"))?;
        let key = self
            .iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .map_err(|e| format!("create access key: {e:?}"))?
            .access_key
            .ok_or("no access key")?;
        Ok((key.access_key_id, key.secret_access_key))
    }

    /// A role that exactly one ServiceAccount may assume by web identity
    /// (the trust policy the integration tests use too), with the bucket
    /// policy; returns its ARN.
    pub async fn irsa_role(&self, name: &str, ns: &str, sa: &str, bucket: &str) -> Result<String> {
        let trust = objects::irsa_trust(&self.account, &self.oidc_provider, ns, sa);
        let role = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| format!("create role {name}: {e:?}"))?
            .role
            .ok_or("no role")?;
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name("s3")
            .policy_document(s3_policy(bucket).to_string())
            .send()
            .await
            .map_err(|e| format!("put role policy: {e:?}"))?;
        Ok(role.arn)
    }

    pub async fn secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) -> Result<()> {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.kube.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| format!("create secret {ns}/{name}: {e}"))?;
        Ok(())
    }

    pub async fn service_account(&self, ns: &str, name: &str, role_arn: &str) -> Result<()> {
        let sa = objects::service_account(name, &[("eks.amazonaws.com/role-arn", role_arn)]);
        Api::<ServiceAccount>::namespaced(self.kube.clone(), ns)
            .create(&PostParams::default(), &sa)
            .await
            .map_err(|e| format!("create service account {ns}/{name}: {e}"))?;
        Ok(())
    }

    /// A relay in front of moto, counting requests.
    pub async fn moto_relay(&self) -> Result<Relay> {
        let addr = self
            .moto
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Ok(Relay::start(Upstream::Plain(addr), Flavor::Aws).await?)
    }

    /// A relay in front of the API server that the operator reaches over
    /// plain HTTP; the relay speaks TLS to the API server with the admin
    /// client certificate (like `kubectl proxy`), so it can count the
    /// operator's requests. Returns the relay and a kubeconfig naming it.
    pub async fn kube_relay(&self, tag: &str) -> Result<(Relay, PathBuf)> {
        let pki = self.dev_dir.join("pki");
        let config = tls_client_config(
            &pki.join("ca.crt"),
            &pki.join("admin.crt"),
            &pki.join("admin.key"),
        )?;
        let addr = self
            .apiserver
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&addr);
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("server name {host}: {e}"))?;
        let relay = Relay::start(
            Upstream::Tls {
                addr: addr.clone(),
                server_name,
                config: Arc::new(config),
            },
            Flavor::Kube,
        )
        .await?;
        let path = self.dev_dir.join(format!("bench-kubeconfig-{tag}"));
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: relay\n  cluster:\n    server: {}\nusers:\n- name: relay\n  user: {{}}\ncontexts:\n- name: relay\n  context:\n    cluster: relay\n    user: relay\n    namespace: default\ncurrent-context: relay\n",
            relay.url()
        );
        std::fs::write(&path, kc)?;
        Ok((relay, path))
    }
}

pub fn s3_policy(bucket: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ReplicateObject"],
         "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]})
}

fn tls_client_config(ca: &Path, cert: &Path, key: &Path) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?)
}

/// Run `f` over `items` with at most `limit` in flight; the first error wins.
pub async fn concurrently<T, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Result<()>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    futures::stream::iter(items.into_iter().map(f))
        .buffer_unordered(limit.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Delete every object of a namespaced kind in `ns` (no finalizers here:
/// the API server removes them at once).
pub async fn delete_all<K>(api: &Api<K>) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    Ok(())
}

// ------------------------------------------------------------------ operator

/// One operator process, started from the release binary.
pub struct Operator {
    child: tokio::process::Child,
    pub pid: u32,
    pub metrics_addr: String,
    pub log: PathBuf,
    pub started: Instant,
}

pub struct OperatorArgs<'a> {
    pub tag: &'a str,
    pub endpoint: &'a str,
    pub kubeconfig: &'a Path,
    pub concurrency: u64,
    pub namespace_concurrency: u64,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Operator {
    /// Start the operator with a clean environment: no AWS credentials, STS
    /// and IAM at `endpoint`, the API server through `kubeconfig`.
    pub fn spawn(env: &Env, a: &OperatorArgs) -> Result<Operator> {
        let log = env
            .dev_dir
            .join("logs")
            .join(format!("bench-operator-{}.log", a.tag));
        let file = std::fs::File::create(&log)?;
        let metrics_addr = format!("127.0.0.1:{}", free_port()?);
        let mut cmd = tokio::process::Command::new(&env.operator_bin);
        cmd.arg("run")
            .args(["--allowed-endpoint", a.endpoint])
            .args(["--metrics-addr", &metrics_addr])
            .args(["--log-format", "json"])
            .args(["--concurrency", &a.concurrency.to_string()])
            .args([
                "--namespace-concurrency",
                &a.namespace_concurrency.to_string(),
            ])
            .env_clear()
            .env("PATH", var_or("PATH", "/usr/bin:/bin"))
            .env("HOME", var_or("HOME", "/tmp"))
            .env("KUBECONFIG", a.kubeconfig)
            .env("AWS_ENDPOINT_URL", a.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", env.operator_bin.display()))?;
        let pid = child.id().ok_or("operator exited at once")?;
        // make's cleanup kills what is listed here if the benchmark dies.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.dev_dir.join("bench-operator.pids"))?
            .write_all(format!("{pid}\n").as_bytes())?;
        Ok(Operator {
            child,
            pid,
            metrics_addr,
            log,
            started: Instant::now(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        http_get(&self.metrics_addr, path).await
    }

    /// Wait until /readyz answers 200 (the caches are synced).
    pub async fn wait_ready(&mut self, within: Duration) -> Result<Duration> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok((200, _)) = self.get("/readyz").await {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "operator exited ({status}) before it was ready; log {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 30)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "operator not ready within {within:?}; log {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fail if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "operator exited ({status}); log {}:\n{}",
                self.log.display(),
                tail(&self.log, 30)
            );
        }
        Ok(())
    }

    pub async fn metrics(&self) -> Result<Metrics> {
        let (code, body) = self.get("/metrics").await?;
        if code != 200 {
            bail!("GET /metrics: {code}");
        }
        Ok(Metrics::parse(&body))
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) -> Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[path = "../tests/shared/objects.rs"]
mod objects;
#[path = "../tests/shared/http_get.rs"]
mod shared_http;

pub async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    Ok(shared_http::http_get(addr, path).await?)
}

/// A Prometheus text exposition: `name{labels}` → value.
#[derive(Debug, Default, Clone)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            // the value follows the last space outside the label set
            let split = match line.rfind('}') {
                Some(i) => line[i..].find(' ').map(|j| i + j),
                None => line.find(' '),
            };
            let Some(at) = split else { continue };
            let (key, rest) = line.split_at(at);
            if let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) {
                m.insert(key.to_string(), v);
            }
        }
        Metrics(m)
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// Every series of `name`, by its label set.
    pub fn family(&self, name: &str) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let labels = k.strip_prefix(name)?;
                (labels.is_empty() || labels.starts_with('{')).then(|| (labels.to_string(), *v))
            })
            .collect()
    }

    /// `self - before` for each series.
    pub fn since(&self, before: &Metrics) -> Metrics {
        Metrics(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - before.get(k)))
                .collect(),
        )
    }
}

// ---------------------------------------------------------------- /proc

const CLK_TCK: f64 = 100.0;

/// utime + stime of one process, seconds.
pub fn cpu_of(pid: u32) -> f64 {
    stat_fields(pid)
        .map(|f| (f.utime + f.stime) as f64 / CLK_TCK)
        .unwrap_or(0.0)
}

struct StatFields {
    pgrp: u32,
    utime: u64,
    stime: u64,
}

fn stat_fields(pid: u32) -> Option<StatFields> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt
    // cminflt majflt cmajflt utime stime
    Some(StatFields {
        pgrp: f.get(2)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
    })
}

/// CPU seconds of every process in process group `pgid` (dev-up starts each
/// component as its own group).
pub fn cpu_of_group(pgid: u32) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat_fields)
        .filter(|f| f.pgrp == pgid)
        .map(|f| (f.utime + f.stime) as f64 / CLK_TCK)
        .sum()
}

/// CPU seconds of the whole machine since boot: busy (user, nice, system,
/// irq, softirq, steal), total (busy + idle + iowait), and irq + softirq
/// alone (work on behalf of no process, e.g. loopback networking).
pub fn machine_cpu() -> (f64, f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0, 0.0);
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest counted in user)
    let get = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (
        busy / CLK_TCK,
        (busy + idle) / CLK_TCK,
        (get(5) + get(6)) / CLK_TCK,
    )
}

/// Every process: pid → (command name, process group, CPU seconds).
fn processes() -> HashMap<u32, (String, u32, f64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let comm = s[s.find('(')? + 1..s.rfind(')')?].to_string();
            let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let pgrp = f.get(2)?.parse().ok()?;
            // utime + stime only: a reaped child's time lands in its
            // parent's cutime (all of it, also from before the phase; for
            // orphans that parent is init), so cutime would mislead here.
            let cpu = (n(11) + n(12)) as f64 / CLK_TCK;
            Some((pid, (comm, pgrp, cpu)))
        })
        .collect()
}

/// VmRSS, VmHWM, RssAnon and RssFile in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    )
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The pid dev-up recorded for a component (the leader of its group).
pub fn component_pid(dev_dir: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(dev_dir.join("run").join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// CPU seconds used by each part during a phase, and by everything else.
pub struct CpuMeter {
    parts: Vec<(String, CpuSource)>,
    start: Vec<f64>,
    machine: (f64, f64, f64),
    procs: HashMap<u32, (String, u32, f64)>,
    wall: Instant,
}

#[derive(Clone, Copy)]
pub enum CpuSource {
    Pid(u32),
    Group(u32),
}

impl CpuSource {
    fn read(self) -> f64 {
        match self {
            CpuSource::Pid(p) => cpu_of(p),
            CpuSource::Group(g) => cpu_of_group(g),
        }
    }

    fn covers(self, pid: u32, pgrp: u32) -> bool {
        match self {
            CpuSource::Pid(p) => p == pid,
            CpuSource::Group(g) => g == pgrp,
        }
    }
}

impl CpuMeter {
    pub fn start(env: &Env, operator: Option<u32>) -> CpuMeter {
        let mut parts = vec![(
            "bench_driver".to_string(),
            CpuSource::Pid(std::process::id()),
        )];
        if let Some(p) = operator {
            parts.push(("operator".into(), CpuSource::Pid(p)));
        }
        for (name, key) in [
            ("moto", "moto"),
            ("kube_apiserver", "kube-apiserver"),
            ("etcd", "etcd"),
        ] {
            if let Some(p) = component_pid(&env.dev_dir, key) {
                parts.push((name.into(), CpuSource::Group(p)));
            }
        }
        let start = parts.iter().map(|(_, s)| s.read()).collect();
        CpuMeter {
            parts,
            start,
            machine: machine_cpu(),
            procs: processes(),
            wall: Instant::now(),
        }
    }

    /// Seconds of CPU per part; the machine's busy and available seconds;
    /// irq + softirq; "other": busy time of neither these parts nor
    /// interrupts (other work on the machine, e.g. a concurrent build or test
    /// run), and the commands that used the most of it.
    pub fn read(&self) -> Value {
        let mut out = serde_json::Map::new();
        let mut ours = 0.0;
        for ((name, src), start) in self.parts.iter().zip(&self.start) {
            let used = src.read() - start;
            ours += used;
            out.insert(name.clone(), json!(round3(used)));
        }
        let (busy, total, irq) = machine_cpu();
        let busy = busy - self.machine.0;
        let total = total - self.machine.1;
        let irq = irq - self.machine.2;
        out.insert("machine_busy".into(), json!(round3(busy)));
        out.insert("machine_total".into(), json!(round3(total)));
        out.insert("irq_softirq".into(), json!(round3(irq)));
        out.insert("other".into(), json!(round3((busy - ours - irq).max(0.0))));
        let mut others: HashMap<String, f64> = HashMap::new();
        for (pid, (comm, pgrp, cpu)) in processes() {
            if self.parts.iter().any(|(_, s)| s.covers(pid, pgrp)) {
                continue;
            }
            let before = match self.procs.get(&pid) {
                Some((c, _, b)) if *c == comm => *b,
                _ => 0.0,
            };
            if cpu - before >= 0.01 {
                *others.entry(comm).or_default() += cpu - before;
            }
        }
        let mut top: Vec<(String, f64)> = others.into_iter().collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(5);
        out.insert(
            "other_top".into(),
            Value::Object(
                top.into_iter()
                    .map(|(k, v)| (k, json!(round3(v))))
                    .collect(),
            ),
        );
        out.insert(
            "wall".into(),
            json!(round3(self.wall.elapsed().as_secs_f64())),
        );
        Value::Object(out)
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
