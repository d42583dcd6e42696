//! The operator of one part, started from the release binary with the
//! testkit's launcher, with its relays; and what every part applies: the
//! shared Secret and labelled connections.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use testkit::metrics::Metrics;
use testkit::objects;
use testkit::operator::{Launch, NotReady, Operator};

use crate::env::{Env, Result, bail, delete_all, var, var_or};
use crate::params::Params;
use crate::watch::{Tracker, connection_resource, key};
use testkit::counting::{Counts, Relay};

/// The Secret every access-key connection names.
pub const SECRET: &str = "s3-creds";
/// The label naming the part a connection belongs to.
pub const LABEL: &str = "s3connection.dev/bench";

/// What every part shares: the bucket and the IAM user's key.
pub struct Shared {
    pub bucket: String,
    pub key_id: String,
    pub secret_key: String,
}

impl Shared {
    /// The shared user's keys, for the bare client and the floor.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.key_id, &self.secret_key, None, None, "s3c-bench")
    }
}

pub fn conn_api(env: &Env, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(env.kube.clone(), ns, &connection_resource())
}

/// Server-side apply connection `name`, labelled with its part.
pub async fn apply(
    api: &Api<DynamicObject>,
    name: &str,
    part: &str,
    spec: testkit::Spec,
) -> Result<()> {
    let obj = objects::connection(name, &[(LABEL, part)], spec);
    api.patch(
        name,
        &PatchParams::apply("s3c-bench").force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|e| format!("apply S3Connection {name}: {e}"))?;
    Ok(())
}

/// Server-side apply connections `names` of part `part` in `ns` with
/// `spec` (`create_concurrency` at a time), and wait until the watch of
/// `tracker` saw every one Ready for `generation`.
#[allow(clippy::too_many_arguments)]
pub async fn apply_until_ready(
    env: &Env,
    p: &Params,
    run: &mut Running,
    tracker: &Tracker,
    (ns, part): (&str, &str),
    names: &[String],
    spec: &testkit::Spec,
    generation: i64,
) -> Result<()> {
    let api = conn_api(env, ns);
    let started = Instant::now();
    crate::env::concurrently(names.to_vec(), p.create_concurrency as usize, |name| {
        let (api, spec) = (api.clone(), spec.clone());
        async move { apply(&api, &name, part, spec).await }
    })
    .await?;
    let keys: Vec<String> = names.iter().map(|n| key(ns, n)).collect();
    tracker
        .wait_all(
            part,
            &keys,
            Some(generation),
            started,
            p.timeout_for(names.len() as u64),
            &mut || run.check_alive(),
        )
        .await?;
    Ok(())
}

/// The shared user's key in Secret [`SECRET`] of `ns`.
pub async fn shared_secret(env: &Env, ns: &str, s: &Shared) -> Result<()> {
    env.secret(
        ns,
        SECRET,
        &[
            ("AWS_ACCESS_KEY_ID", &s.key_id),
            ("AWS_SECRET_ACCESS_KEY", &s.secret_key),
        ],
    )
    .await
}

pub async fn clean_connections(env: &Env, ns: &str) -> Result<()> {
    delete_all(&conn_api(env, ns)).await
}

/// The operator of one part, with its relays.
pub struct Running {
    pub op: Operator,
    pub moto: Relay,
    pub kube: Option<Relay>,
    pub ready_after: Duration,
}

/// Start the operator of a part, with fresh relays (or the moto relay the
/// part's connections already name).
pub async fn start_operator(
    env: &Env,
    p: &Params,
    tag: &str,
    moto: Option<Relay>,
) -> Result<Running> {
    start_operator_with(env, p, tag, moto, &[]).await
}

/// [`start_operator`] with `extra` arguments to `run`.
pub async fn start_operator_with(
    env: &Env,
    p: &Params,
    tag: &str,
    moto: Option<Relay>,
    extra: &[&str],
) -> Result<Running> {
    let moto = match moto {
        Some(m) => m,
        None => env.moto_relay().await?,
    };
    let (kube, kubeconfig) = if p.kube_relay {
        let (r, path) = env.kube_relay(tag).await?;
        (Some(r), path)
    } else {
        (None, PathBuf::from(var("KUBECONFIG")?))
    };
    let mut op = spawn(env, p, tag, &moto.url(), &kubeconfig, extra)?;
    let ready_after = match op.ready(Duration::from_secs(120)).await {
        Ok(after) => after,
        Err(NotReady::Exited(status)) => bail!(
            "operator exited ({status}) before it was ready; log {}:\n{}",
            op.log_path.display(),
            op.tail(30)
        ),
        Err(NotReady::TimedOut) => bail!(
            "operator not ready within 120s; log {}:\n{}",
            op.log_path.display(),
            op.tail(30)
        ),
    };
    eprintln!(
        "[bench] operator pid {} ready after {:.2}s (log {})",
        op.pid(),
        ready_after.as_secs_f64(),
        op.log_path.display()
    );
    Ok(Running {
        op,
        moto,
        kube,
        ready_after,
    })
}

/// The operator with a clean environment: no AWS credentials, STS and IAM
/// at `endpoint`, the API server through `kubeconfig`; its pid recorded for
/// make's cleanup, should the benchmark die.
fn spawn(
    env: &Env,
    p: &Params,
    tag: &str,
    endpoint: &str,
    kubeconfig: &std::path::Path,
    extra: &[&str],
) -> Result<Operator> {
    let log = env
        .dev_dir
        .join("logs")
        .join(format!("bench-operator-{tag}.log"));
    let mut launch = Launch::new(&env.operator_bin, log)?;
    launch
        .command()
        .args(["--allowed-endpoint", endpoint])
        .args(["--concurrency", &p.concurrency.to_string()])
        .args(extra)
        .env_clear()
        .env("PATH", var_or("PATH", "/usr/bin:/bin"))
        .env("HOME", var_or("HOME", "/tmp"))
        .env("KUBECONFIG", kubeconfig)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let op = launch
        .spawn()
        .map_err(|e| format!("start {}: {e}", env.operator_bin.display()))?;
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.dev_dir.join("bench-operator.pids"))?
        .write_all(format!("{}\n", op.pid()).as_bytes())?;
    Ok(op)
}

/// Fail if the operator has exited.
pub fn alive(op: &mut Operator) -> Result<()> {
    if let Some(status) = op.try_wait() {
        bail!(
            "operator exited ({status}); log {}:\n{}",
            op.log_path.display(),
            op.tail(30)
        );
    }
    Ok(())
}

/// The operator's /metrics.
pub async fn metrics(op: &Operator) -> Result<Metrics> {
    let (code, body) = op.get("/metrics").await?;
    if code != 200 {
        bail!("GET /metrics: {code}");
    }
    Ok(Metrics::parse(&body))
}

/// The operator's count of its validations.
pub const VALIDATIONS: &str = "s3connection_validations_total";

impl Running {
    /// The operator's validations so far (its /metrics).
    pub async fn validations(&self) -> Result<f64> {
        Ok(metrics(&self.op).await?.sum(VALIDATIONS))
    }

    /// Wait until the operator has validated `n` more times than `base`
    /// (a [`Running::validations`] reading), for at most `within`; `what`
    /// names the wait in the error.
    pub async fn validated(
        &mut self,
        base: f64,
        n: u64,
        within: Duration,
        what: &str,
    ) -> Result<()> {
        let t0 = Instant::now();
        loop {
            let done = self.validations().await? - base;
            if done >= n as f64 {
                return Ok(());
            }
            if t0.elapsed() > within {
                bail!("{what}: {done} of {n} in {within:?}");
            }
            self.check_alive()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn kube_counts(&self) -> Counts {
        self.kube.as_ref().map(|k| k.counts()).unwrap_or_default()
    }

    /// Fail if the operator has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        alive(&mut self.op)
    }

    /// Wait until neither relay has seen a request for `quiet` (events are
    /// published just after the status write the watch saw).
    pub async fn quiesce(&self, quiet: Duration, max: Duration) {
        let deadline = Instant::now() + max;
        let mut last = (self.moto.counts().requests, self.kube_counts().requests);
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = (self.moto.counts().requests, self.kube_counts().requests);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }
}
