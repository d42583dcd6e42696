//! The environment the benchmark runs in: what `make bench` started
//! (hack/dev-up.sh in its own state dir), the admin clients for setup, and
//! the relays in front of moto and the API server. The objects, IAM calls
//! and clients are the testkit's, as the integration tests make them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use testkit::aws::{ALL, create_role, create_user, iam_client, irsa_trust, s3_client, s3_policy};
use testkit::objects;

use testkit::counting::{Flavor, Relay, Upstream};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*).into()) };
}
pub(crate) use bail;

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

impl Env {
    pub async fn load() -> Result<Env> {
        let moto = var("AWS_ENDPOINT_URL")?;
        let creds = Credentials::new(
            var("AWS_ACCESS_KEY_ID")?,
            var("AWS_SECRET_ACCESS_KEY")?,
            None,
            None,
            "s3c-bench-admin",
        );
        let mut cfg = kube::Config::infer().await?;
        // 20,000 creates and a watch of 10,000 objects: the defaults are fine,
        // but no request should hang the benchmark.
        cfg.read_timeout = Some(Duration::from_secs(295));
        Ok(Env {
            kube: Client::try_from(cfg)?,
            s3: s3_client(&moto, creds.clone()),
            iam: iam_client(&moto, creds),
            moto,
            dev_dir: PathBuf::from(var("S3C_DEV_DIR")?),
            oidc_provider: var("S3C_OIDC_PROVIDER")?,
            account: var("S3C_AWS_ACCOUNT")?,
            apiserver: var("S3C_APISERVER_URL")?,
            operator_bin: PathBuf::from(var("BENCH_OPERATOR_BIN")?),
        })
    }

    /// Namespace `name`, labelled as the bench's (there already: fine).
    pub async fn namespace(&self, name: &str) -> Result<()> {
        let ns = objects::namespace(name, ("s3connection.dev/bench", "true"));
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
        let user = create_user(&self.iam, name, s3_policy(bucket, "", &ALL)).await?;
        Ok((user.access_key_id, user.secret_access_key))
    }

    /// A role that exactly one ServiceAccount may assume by web identity
    /// (the trust policy the integration tests use too), with the bucket
    /// policy; returns its ARN.
    pub async fn irsa_role(&self, name: &str, ns: &str, sa: &str, bucket: &str) -> Result<String> {
        let trust = irsa_trust(&self.account, &self.oidc_provider, ns, sa);
        Ok(create_role(&self.iam, name, &trust, s3_policy(bucket, "", &ALL)).await?)
    }

    pub async fn secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) -> Result<()> {
        Api::<Secret>::namespaced(self.kube.clone(), ns)
            .create(&PostParams::default(), &objects::secret(name, data))
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
