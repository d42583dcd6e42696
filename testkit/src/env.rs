//! The environment `make test` starts (hack/dev-up.sh) as a test sees it:
//! what the exported variables name, the admin clients, a test's turn on
//! the shared environment, and the Kubernetes objects a test makes there.
//!
//! Every test works in its own namespace, with its own buckets, IAM users and
//! roles, and runs its own operator process watching only that namespace.
//! What a test creates through its [`TestEnv`] is removed when the `TestEnv`
//! is dropped, also when the test fails ([`crate::cleanup`]). Tests wait on
//! conditions with timeouts, never on fixed sleeps ([`crate::wait`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use s3_connection_operator::crd::S3Connection;
use serde::Serialize;
use serde_json::json;

use crate::aws::{admin_credentials, iam_client, s3_client};
use crate::cleanup::Created;
use crate::objects;

/// The region of every bucket and client here.
pub const REGION: &str = "us-east-1";
/// How long a test waits for a condition unless it says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// An environment variable of `make test`'s environment; panics naming the
/// way to get it when it is not set.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: integration tests need the environment of `make test` (hack/dev-up.sh writes it; `source .dev-test/env`)")
    })
}

/// A name unique to this test run: `<prefix>-<pid><n>`, DNS- and bucket-safe.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}{n}-{}",
        std::process::id() % 100_000,
        nanos % 10_000
    )
}

/// Tests share the environment; a test that disrupts it (restarts a part)
/// takes it exclusively, so no other test runs while the API server is away.
static ENVIRONMENT: RwLock<()> = RwLock::new(());

/// A test's hold on the environment; released when the test ends.
enum Turn {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// The test environment, and the guard that removes what a test created.
pub struct TestEnv {
    pub kube: Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    /// moto: S3, STS and IAM on one endpoint.
    pub endpoint: String,
    pub kubeconfig: String,
    pub oidc_provider: String,
    pub account: String,
    /// The operator binary the test target was built with.
    pub operator: PathBuf,
    pub(crate) created: Arc<Mutex<Vec<Created>>>,
    _turn: Turn,
}

impl TestEnv {
    /// The environment, shared with other tests running at the same time;
    /// `operator` is the binary [`crate::Operator::start`] runs (the test
    /// target's `env!("CARGO_BIN_EXE_s3-connection-operator")`).
    pub async fn new(operator: &str) -> Self {
        let turn = || Turn::Shared(ENVIRONMENT.read().unwrap_or_else(|e| e.into_inner()));
        Self::with(operator, turn).await
    }

    /// The environment for a test that restarts parts of it: no other test
    /// runs meanwhile.
    pub async fn exclusive(operator: &str) -> Self {
        let turn = || Turn::Exclusive(ENVIRONMENT.write().unwrap_or_else(|e| e.into_inner()));
        Self::with(operator, turn).await
    }

    async fn with(operator: &str, turn: impl FnOnce() -> Turn) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let endpoint = var("AWS_ENDPOINT_URL");
        let kubeconfig = var("KUBECONFIG");
        let kube = Client::try_default()
            .await
            .expect("kube client from KUBECONFIG");
        Self {
            kube,
            s3: s3_client(&endpoint, admin_credentials()),
            iam: iam_client(&endpoint, admin_credentials()),
            endpoint,
            kubeconfig,
            oidc_provider: var("S3C_OIDC_PROVIDER"),
            account: var("S3C_AWS_ACCOUNT"),
            operator: PathBuf::from(operator),
            created: Arc::default(),
            _turn: turn(),
        }
    }

    pub(crate) fn remember(&self, c: Created) {
        self.created.lock().unwrap().push(c);
    }

    /// Uninstall the helm release `name` from `namespace` when the test ends.
    /// Call it before `helm install` is judged: a failed install may still
    /// have left objects behind.
    pub fn remember_helm_release(&self, name: &str, namespace: &str) {
        self.remember(Created::HelmRelease {
            name: name.into(),
            namespace: namespace.into(),
        });
    }

    /// Stop, kill or start one part of the environment (`etcd`,
    /// `kube-apiserver`, `moto`, `minio`) with hack/dev-up.sh; `start`
    /// returns once it is healthy again.
    pub fn control(&self, action: &str, component: &str) {
        let ctl = var("S3C_DEV_CTL");
        let out = Command::new(&ctl)
            .args([action, component])
            .output()
            .expect("run S3C_DEV_CTL");
        assert!(
            out.status.success(),
            "{ctl} {action} {component} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A kubeconfig like the test's, but reaching the API server at `addr`
    /// (a [`crate::Relay`] in front of it).
    pub fn kubeconfig_via(&self, addr: std::net::SocketAddr, dir: &Path) -> PathBuf {
        let direct = format!("127.0.0.1:{}", var("APISERVER_PORT"));
        let text = std::fs::read_to_string(&self.kubeconfig).expect("read kubeconfig");
        assert!(text.contains(&direct), "kubeconfig does not name {direct}");
        let path = dir.join("kubeconfig-via-relay");
        std::fs::write(&path, text.replace(&direct, &addr.to_string())).unwrap();
        path
    }

    /// Run kubectl against the test API server.
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl on PATH")
    }

    /// A new namespace named after `prefix`, labelled as a test's.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique(prefix);
        let ns = objects::namespace(&name, ("s3connection.dev/test", "true"));
        Api::<Namespace>::all(self.kube.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        self.remember(Created::Namespace(name.clone()));
        name
    }

    /// A namespace with Pod Security `enforce` and `warn` levels.
    pub async fn pod_security_namespace(&self, prefix: &str, enforce: &str, warn: &str) -> String {
        let ns = self.namespace(prefix).await;
        let labels = json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": enforce,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": warn,
        }}});
        Api::<Namespace>::all(self.kube.clone())
            .patch(&ns, &PatchParams::default(), &Patch::Merge(labels))
            .await
            .expect("label namespace");
        ns
    }

    /// Secret `name` in `ns` holding exactly `data` (replacing one there).
    pub async fn secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
        let _ = api.delete(name, &DeleteParams::default()).await;
        api.create(&PostParams::default(), &objects::secret(name, data))
            .await
            .expect("create secret");
    }

    /// Merge `data` into Secret `name`.
    pub async fn update_secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
        let string_data: BTreeMap<&str, &str> = data.iter().copied().collect();
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": string_data})),
        )
        .await
        .expect("update secret");
    }

    /// Set label `key` of Secret `name` to `value`, or remove it (`None`).
    pub async fn label_secret(&self, ns: &str, name: &str, key: &str, value: Option<&str>) {
        Api::<Secret>::namespaced(self.kube.clone(), ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .expect("label secret");
    }

    pub async fn service_account(&self, ns: &str, name: &str, annotations: &[(&str, &str)]) {
        let sa = objects::service_account(name, annotations);
        Api::<ServiceAccount>::namespaced(self.kube.clone(), ns)
            .create(&PostParams::default(), &sa)
            .await
            .expect("create service account");
    }

    /// A token of ServiceAccount `sa` in `ns` for the API server's own
    /// audience, valid for an hour (a TokenRequest).
    pub async fn token(&self, ns: &str, sa: &str) -> String {
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                expiration_seconds: Some(3600),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(self.kube.clone(), ns)
            .create_token_request(sa, &PostParams::default(), &request)
            .await
            .expect("a ServiceAccount token")
            .status
            .expect("a TokenRequest status")
            .token
    }

    pub fn connections(&self, ns: &str) -> Api<S3Connection> {
        Api::namespaced(self.kube.clone(), ns)
    }

    /// Server-side apply S3Connection `name` with `spec` (a [`crate::Spec`],
    /// or any JSON for specs the API server is to refuse).
    pub async fn apply_connection(&self, ns: &str, name: &str, spec: impl Serialize) {
        self.apply_labelled_connection(ns, name, &[], spec).await
    }

    /// [`Self::apply_connection`] with `labels` (and no others: applying it
    /// again with other labels replaces them).
    pub async fn apply_labelled_connection(
        &self,
        ns: &str,
        name: &str,
        labels: &[(&str, &str)],
        spec: impl Serialize,
    ) {
        self.connections(ns)
            .patch(
                name,
                &PatchParams::apply("integration-test").force(),
                &Patch::Apply(objects::connection(name, labels, spec)),
            )
            .await
            .expect("apply S3Connection");
    }

    pub async fn events(&self, ns: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.kube.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
    }
}

/// `kubectl annotate --overwrite` one S3Connection.
pub fn annotate(env: &TestEnv, ns: &str, name: &str, key: &str, value: &str) {
    let out = env.kubectl(&[
        "annotate",
        "--overwrite",
        "-n",
        ns,
        &format!("s3connection/{name}"),
        &format!("{key}={value}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
