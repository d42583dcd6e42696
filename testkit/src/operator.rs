//! One operator process, for a test or for the bench: its command line
//! (`run`, free metrics and health ports, JSON logs to a file), its
//! readiness (`/readyz`), its log and /metrics, and stopping it. Killed when
//! dropped.
//!
//! /metrics is served in plain HTTP (`--metrics-secure=false`) unless the
//! command already says otherwise: the tests read what the operator
//! counts, and a TokenReview per scrape would add API calls to what the
//! bench measures. The secure mode has its own test
//! (tests/integration/install/metrics.rs, with [`crate::net::https_get`]).
//!
//! [`Launch`] is the part both use; [`Operator::start`] and friends start
//! one the way the integration tests do, against a [`TestEnv`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::env::{REGION, TIMEOUT, TestEnv, var};
use crate::net::{free_port, http_get};

/// How often a wait on the process or its log looks again.
const POLL: Duration = Duration::from_millis(50);

/// The command line of one operator process, before it starts.
pub struct Launch {
    cmd: Command,
    metrics_addr: String,
    health_addr: String,
    log_path: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Launch {
    /// `<binary> run --metrics-addr 127.0.0.1:<free port> --health-addr
    /// 127.0.0.1:<another> --log-format json`, stdout and stderr to the file
    /// `log`, nothing on stdin. Add arguments and environment with
    /// [`Self::command`].
    pub fn new(binary: &Path, log: PathBuf) -> std::io::Result<Self> {
        let file = File::create(&log)?;
        let metrics_addr = format!("127.0.0.1:{}", free_port()?);
        let mut health_addr = format!("127.0.0.1:{}", free_port()?);
        while health_addr == metrics_addr {
            health_addr = format!("127.0.0.1:{}", free_port()?);
        }
        let mut cmd = Command::new(binary);
        cmd.arg("run")
            .args(["--metrics-addr", &metrics_addr])
            .args(["--health-addr", &health_addr, "--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        Ok(Self {
            cmd,
            metrics_addr,
            health_addr,
            log_path: log,
            dir: None,
        })
    }

    /// The same, logging to a temporary directory that goes with the process.
    pub fn in_temp_dir(binary: &Path) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut launch = Self::new(binary, dir.path().join("operator.log"))?;
        launch.dir = Some(dir);
        Ok(launch)
    }

    /// The command, for more arguments and the environment.
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Start it; plain /metrics unless a `--metrics-secure` argument was
    /// given.
    pub fn spawn(mut self) -> std::io::Result<Operator> {
        let told = self
            .cmd
            .get_args()
            .any(|a| a.to_string_lossy().starts_with("--metrics-secure"));
        if !told {
            self.cmd.arg("--metrics-secure=false");
        }
        let child = self.cmd.spawn()?;
        Ok(Operator {
            pid: child.id(),
            child,
            metrics_addr: self.metrics_addr,
            health_addr: self.health_addr,
            log_path: self.log_path,
            started: Instant::now(),
            _dir: self.dir,
        })
    }
}

/// Why an operator did not become ready.
#[derive(Debug)]
pub enum NotReady {
    /// It exited first.
    Exited(ExitStatus),
    /// `/readyz` did not answer 200 in time.
    TimedOut,
}

/// A running operator process.
pub struct Operator {
    child: Child,
    pid: u32,
    /// `127.0.0.1:<port>` of /metrics.
    pub metrics_addr: String,
    /// `127.0.0.1:<port>` of /healthz and /readyz.
    pub health_addr: String,
    pub log_path: PathBuf,
    /// When the process was started.
    pub started: Instant,
    _dir: Option<tempfile::TempDir>,
}

impl Operator {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A plain HTTP GET of `path` from the server that serves it:
    /// `/healthz` and `/readyz` from the health port, anything else from the
    /// metrics port.
    pub async fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let addr = match path {
            "/healthz" | "/readyz" => &self.health_addr,
            _ => &self.metrics_addr,
        };
        http_get(addr, path).await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait until `/readyz` answers 200 (the caches are synced); how long
    /// after the start that was.
    pub async fn ready(&mut self, within: Duration) -> Result<Duration, NotReady> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok((200, _)) = self.get("/readyz").await {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.try_wait() {
                return Err(NotReady::Exited(status));
            }
            if Instant::now() > deadline {
                return Err(NotReady::TimedOut);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
    }

    /// Send SIGTERM and wait for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal_term();
        self.child.wait().expect("operator exits")
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`.
    pub async fn stop(mut self, grace: Duration) -> std::io::Result<()> {
        self.signal_term();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "operator did not exit within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Wait until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Wait until the log as a whole satisfies `matches`.
    pub async fn wait_for_log_matching(&self, matches: impl Fn(&str) -> bool, within: Duration) {
        let deadline = Instant::now() + within;
        while !matches(&self.log()) {
            assert!(
                Instant::now() < deadline,
                "log never matched within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The operator as the integration tests run it.
impl Operator {
    /// Start the operator binary against the test API server, with the admin
    /// kubeconfig, STS/IAM endpoints from the environment and no AWS
    /// credentials of its own, watching `ns`; returns once it is ready.
    pub async fn start(env: &TestEnv, ns: &str, extra: &[&str]) -> Self {
        Self::start_with(
            env,
            Some(ns),
            extra,
            &[("KUBECONFIG", env.kubeconfig.as_str())],
        )
        .await
    }

    /// [`Self::start`] with `--allow-operator-identity` and the
    /// environment's admin keys (IAM user `admin`,
    /// [`TestEnv::admin_principal`]) as the operator's own AWS identity.
    /// Without --cluster-name it names the cluster by the kube-system
    /// namespace's UID.
    pub async fn start_as_admin(env: &TestEnv, ns: &str) -> Self {
        Self::start_as_admin_with(env, ns, &[]).await
    }

    /// [`Self::start_as_admin`] with `extra` arguments.
    pub async fn start_as_admin_with(env: &TestEnv, ns: &str, extra: &[&str]) -> Self {
        let key = var("AWS_ACCESS_KEY_ID");
        let secret = var("AWS_SECRET_ACCESS_KEY");
        let args: Vec<&str> = ["--allow-operator-identity"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        Self::start_with(
            env,
            Some(ns),
            &args,
            &[
                ("KUBECONFIG", env.kubeconfig.as_str()),
                ("AWS_ACCESS_KEY_ID", key.as_str()),
                ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
                ("AWS_REGION", REGION),
            ],
        )
        .await
    }

    /// [`Self::spawn`], then wait until it is ready.
    pub async fn start_with(
        env: &TestEnv,
        ns: Option<&str>,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Self {
        let mut op = Self::spawn(env, ns, extra, vars);
        op.wait_until_ready().await;
        op
    }

    /// Start without waiting for readiness: the test endpoint allowed (tests
    /// add their own with `extra`), no AWS credentials and no kubeconfig but
    /// what `vars` gives it.
    pub fn spawn(env: &TestEnv, ns: Option<&str>, extra: &[&str], vars: &[(&str, &str)]) -> Self {
        let mut launch = Launch::in_temp_dir(&env.operator).expect("an operator command");
        let cmd = launch.command();
        cmd.args(["--allowed-endpoint", &env.endpoint])
            .args(extra)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("KUBECONFIG")
            .env("AWS_ENDPOINT_URL", &env.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info,s3_connection_operator=debug");
        if let Some(ns) = ns {
            cmd.args(["--namespace", ns]);
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        launch.spawn().expect("start operator")
    }

    /// Wait until the operator's caches are synced (`/readyz`); panics with
    /// its log otherwise.
    pub async fn wait_until_ready(&mut self) {
        match self.ready(TIMEOUT).await {
            Ok(_) => {}
            Err(NotReady::TimedOut) => panic!(
                "operator not ready within {TIMEOUT:?}; log:\n{}",
                self.log()
            ),
            Err(NotReady::Exited(status)) => panic!(
                "operator exited ({status}) before it was ready; log:\n{}",
                self.log()
            ),
        }
    }
}
