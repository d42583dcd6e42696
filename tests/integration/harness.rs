//! Shared harness for integration tests: a real kube-apiserver and etcd and a
//! real S3/STS/IAM endpoint (moto with IAM enforcement), started by
//! `make test` (hack/dev-up.sh) and described by the environment it exports.
//!
//! Every test works in its own namespace, with its own buckets, IAM users and
//! roles, and runs its own operator process watching only that namespace.
//! What a test creates through its [`TestEnv`] is removed when the `TestEnv`
//! is dropped, also when the test fails. Tests wait on conditions with
//! timeouts, never on fixed sleeps.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use s3_connection_operator::crd::S3Connection;
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
pub const TIMEOUT: Duration = Duration::from_secs(60);

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

/// Something a test created, to remove afterwards.
#[derive(Debug, Clone)]
enum Created {
    Namespace(String),
    Bucket(String),
    MinioBucket(String),
    /// A MinIO user and the canned policy of the same name.
    MinioUser(String),
    User(String),
    Role(String),
    HelmRelease {
        name: String,
        namespace: String,
    },
}

/// The local MinIO (`make test` starts it): TLS with a CA of its own that
/// the environment generated (`S3C_MINIO_CA_CERT`), OpenID web identity.
pub struct Minio {
    /// `https://127.0.0.1:<port>`.
    pub endpoint: String,
    pub root_user: String,
    pub root_password: String,
    /// PEM of the CA that signed MinIO's certificate.
    pub ca_pem: String,
    /// A root client trusting that CA.
    pub s3: aws_sdk_s3::Client,
}

impl Minio {
    pub fn from_env() -> Self {
        let endpoint = var("S3C_MINIO_ENDPOINT");
        let ca_path = var("S3C_MINIO_CA_CERT");
        let ca_pem = std::fs::read_to_string(&ca_path).expect("read S3C_MINIO_CA_CERT");
        let (root_user, root_password) =
            (var("S3C_MINIO_ROOT_USER"), var("S3C_MINIO_ROOT_PASSWORD"));
        let http = s3_connection_operator::aws::https_client(Some(ca_pem.as_bytes()))
            .expect("an HTTPS client trusting the MinIO CA");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .http_client(http)
            .credentials_provider(Credentials::new(
                &root_user,
                &root_password,
                None,
                None,
                "minio-root",
            ))
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(conf),
            endpoint,
            root_user,
            root_password,
            ca_pem,
        }
    }

    /// `self.endpoint` with `localhost` for `127.0.0.1` (the certificate
    /// names both).
    pub fn endpoint_by_name(&self) -> String {
        self.endpoint.replace("127.0.0.1", "localhost")
    }
}

/// The test environment, and the guard that removes what a test created.
pub struct TestEnv {
    pub kube: Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub endpoint: String,
    pub kubeconfig: String,
    pub oidc_provider: String,
    pub account: String,
    created: Arc<Mutex<Vec<Created>>>,
    _turn: Turn,
}

/// A namespace, a bucket, and a user with some actions on it whose access
/// key is in Secret `creds` of the namespace.
pub struct Setup {
    pub ns: String,
    pub bucket: String,
    pub user: IamUser,
}

/// An IAM user with an access key.
pub struct IamUser {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub fn s3_client(endpoint: &str, creds: Credentials) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn admin_credentials() -> Credentials {
    Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test-admin",
    )
}

fn iam_client(endpoint: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(admin_credentials())
            .build(),
    )
}

impl TestEnv {
    /// The environment, shared with other tests running at the same time.
    pub async fn new() -> Self {
        Self::with(|| Turn::Shared(ENVIRONMENT.read().unwrap_or_else(|e| e.into_inner()))).await
    }

    /// The environment for a test that restarts parts of it: no other test
    /// runs meanwhile.
    pub async fn exclusive() -> Self {
        Self::with(|| Turn::Exclusive(ENVIRONMENT.write().unwrap_or_else(|e| e.into_inner()))).await
    }

    async fn with(turn: impl FnOnce() -> Turn) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let endpoint = var("AWS_ENDPOINT_URL");
        let kubeconfig = var("KUBECONFIG");
        let kube = Client::try_default()
            .await
            .expect("kube client from KUBECONFIG");
        Self {
            kube,
            s3: s3_client(&endpoint, admin_credentials()),
            iam: iam_client(&endpoint),
            endpoint,
            kubeconfig,
            oidc_provider: var("S3C_OIDC_PROVIDER"),
            account: var("S3C_AWS_ACCOUNT"),
            created: Arc::default(),
            _turn: turn(),
        }
    }

    fn remember(&self, c: Created) {
        self.created.lock().unwrap().push(c);
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
    /// (a [`Relay`] in front of it).
    pub fn kubeconfig_via(&self, addr: std::net::SocketAddr, dir: &std::path::Path) -> PathBuf {
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

    /// Uninstall the helm release `name` from `namespace` when the test ends.
    pub fn remember_helm_release(&self, name: &str, namespace: &str) {
        self.remember(Created::HelmRelease {
            name: name.into(),
            namespace: namespace.into(),
        });
    }

    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique(prefix);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    "s3connection.dev/test".into(),
                    "true".into(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
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

    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        self.remember(Created::Bucket(name.clone()));
        name
    }

    /// A [`Setup`]: the user may do `actions` on `bucket/prefix`.
    pub async fn setup(&self, name: &str, prefix: &str, actions: &[&str]) -> Setup {
        let ns = self.namespace(name).await;
        let bucket = self.bucket(name).await;
        let user = self.user(name, s3_policy(&bucket, prefix, actions)).await;
        self.secret(
            &ns,
            "creds",
            &[
                ("AWS_ACCESS_KEY_ID", &user.access_key_id),
                ("AWS_SECRET_ACCESS_KEY", &user.secret_access_key),
            ],
        )
        .await;
        Setup { ns, bucket, user }
    }

    /// A bucket on the local MinIO, removed (with every version) afterwards.
    pub async fn minio_bucket(&self, minio: &Minio, prefix: &str) -> String {
        let name = unique(prefix);
        minio
            .s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create MinIO bucket");
        self.remember(Created::MinioBucket(name.clone()));
        name
    }

    /// A MinIO user whose canned policy (of the same name) holds
    /// `statements`; removed with its policy afterwards.
    pub async fn minio_user(&self, prefix: &str, statements: Value) -> IamUser {
        let name = unique(prefix);
        // MinIO: secret keys of 8 to 40 characters.
        let secret: String = format!("{}{}", unique("sk"), std::process::id())
            .chars()
            .rev()
            .take(40)
            .collect();
        let policy = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        self.remember(Created::MinioUser(name.clone()));
        minio_admin(&[
            "user-add",
            &name,
            &secret,
            "--",
            "policy-add",
            &name,
            &policy,
            "--",
            "policy-attach",
            &name,
            &name,
        ])
        .await
        .unwrap_or_else(|e| panic!("MinIO user {name}: {e}"));
        IamUser {
            access_key_id: name.clone(),
            name,
            secret_access_key: secret,
        }
    }

    /// An IAM user with one inline policy and an access key.
    pub async fn user(&self, prefix: &str, statements: Value) -> IamUser {
        let name = unique(prefix);
        self.iam
            .create_user()
            .user_name(&name)
            .send()
            .await
            .expect("create user");
        self.remember(Created::User(name.clone()));
        self.iam
            .put_user_policy()
            .user_name(&name)
            .policy_name("s3")
            .policy_document(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
            .await
            .expect("put user policy");
        let key = self
            .iam
            .create_access_key()
            .user_name(&name)
            .send()
            .await
            .expect("create access key")
            .access_key
            .unwrap();
        IamUser {
            name,
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
        }
    }

    /// Replace the inline policy of a user made by [`Self::user`].
    pub async fn set_user_policy(&self, user: &IamUser, statements: Value) {
        self.iam
            .put_user_policy()
            .user_name(&user.name)
            .policy_name("s3")
            .policy_document(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
            .await
            .expect("put user policy");
    }

    /// An IAM role with a trust policy and one inline permission policy.
    pub async fn role(&self, prefix: &str, trust: Value, statements: Value) -> String {
        let name = unique(prefix);
        let role = self
            .iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("create role")
            .role
            .unwrap();
        self.remember(Created::Role(name.clone()));
        self.iam
            .put_role_policy()
            .role_name(&name)
            .policy_name("s3")
            .policy_document(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
            .await
            .expect("put role policy");
        role.arn
    }

    /// A trust policy letting exactly one ServiceAccount assume a role by web
    /// identity, the way EKS IRSA trust policies read.
    pub fn irsa_trust(&self, ns: &str, sa: &str) -> Value {
        crate::objects::irsa_trust(&self.account, &self.oidc_provider, ns, sa)
    }

    pub async fn secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let string_data: BTreeMap<String, String> = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(string_data),
            ..Default::default()
        };
        // Replace the whole data map: apply by this field manager owns it.
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
        let _ = api.delete(name, &DeleteParams::default()).await;
        api.create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

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

    pub async fn service_account(&self, ns: &str, name: &str, annotations: &[(&str, &str)]) {
        let sa = crate::objects::service_account(name, annotations);
        Api::<ServiceAccount>::namespaced(self.kube.clone(), ns)
            .create(&PostParams::default(), &sa)
            .await
            .expect("create service account");
    }

    /// A connection to `bucket` on the test endpoint with the access key in
    /// Secret `secret`.
    pub fn access_key_spec(&self, bucket: &str, secret: &str) -> Value {
        json!({
            "bucket": bucket,
            "region": REGION,
            "endpoint": self.endpoint,
            "forcePathStyle": true,
            "auth": {"accessKey": {"secretName": secret}},
        })
    }

    pub fn connections(&self, ns: &str) -> Api<S3Connection> {
        Api::namespaced(self.kube.clone(), ns)
    }

    pub async fn apply_connection(&self, ns: &str, name: &str, spec: Value) {
        let obj = json!({
            "apiVersion": "s3connection.dev/v1alpha1",
            "kind": "S3Connection",
            "metadata": {"name": name},
            "spec": spec,
        });
        self.connections(ns)
            .patch(
                name,
                &PatchParams::apply("integration-test").force(),
                &Patch::Apply(obj),
            )
            .await
            .expect("apply S3Connection");
    }

    /// Wait until the connection's Ready condition has `status` (and, if
    /// given, `reason`) for its current generation.
    pub async fn wait_ready(
        &self,
        ns: &str,
        name: &str,
        status: &str,
        reason: Option<&str>,
    ) -> S3Connection {
        self.wait_ready_within(ns, name, status, reason, TIMEOUT)
            .await
    }

    pub async fn wait_ready_within(
        &self,
        ns: &str,
        name: &str,
        status: &str,
        reason: Option<&str>,
        timeout: Duration,
    ) -> S3Connection {
        let api = self.connections(ns);
        let want_status = status.to_string();
        let want_reason = reason.map(str::to_string);
        let cond = move |c: Option<&S3Connection>| {
            let Some(c) = c else { return false };
            ready_of(c).is_some_and(|r| {
                r.status == want_status
                    && want_reason.as_deref().is_none_or(|w| w == r.reason)
                    && r.observed_generation == c.metadata.generation
            })
        };
        let what = format!("{ns}/{name}: Ready={status} reason={reason:?}");
        await_object(&api, name, &what, timeout, cond)
            .await
            .expect("the connection")
    }

    pub async fn events(&self, ns: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.kube.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
    }

    /// Wait until an event of `type_` with `reason` exists in `ns` (events
    /// are published just after the status write a test waits for).
    pub async fn wait_event(&self, ns: &str, type_: &str, reason: &str) -> Event {
        let api = Api::<Event>::namespaced(self.kube.clone(), ns);
        let matches =
            |e: &Event| e.type_.as_deref() == Some(type_) && e.reason.as_deref() == Some(reason);
        let events = watcher(api, watcher::Config::default()).applied_objects();
        let found = tokio::time::timeout(TIMEOUT, async {
            futures::pin_mut!(events);
            while let Some(e) = events.next().await {
                if let Ok(e) = e
                    && matches(&e)
                {
                    return Some(e);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(e)) => e,
            _ => {
                let seen: Vec<_> = self
                    .events(ns)
                    .await
                    .into_iter()
                    .map(|e| (e.type_, e.reason))
                    .collect();
                panic!("no {type_} event {reason} in {ns} within {TIMEOUT:?}; events: {seen:?}")
            }
        }
    }

    /// All object keys and versions (with delete markers) in a bucket.
    pub async fn versions(&self, bucket: &str) -> Vec<String> {
        versions_in(&self.s3, bucket).await
    }

    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list objects")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

/// One condition of a connection, as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
}

fn find_condition(c: &S3Connection, type_: &str) -> Option<Cond> {
    let s = c.status.as_ref()?;
    let r = s.conditions.iter().find(|c| c.type_ == type_)?;
    Some(Cond {
        status: r.status.to_string(),
        reason: r.reason.to_string(),
        message: r.message.to_string(),
        observed_generation: r.observed_generation,
    })
}

/// The Ready condition, if the connection has one.
/// Wait until `cond` holds for object `name` (a missing object is `None`),
/// for at most `timeout`; otherwise panic naming `what`, with the object as
/// it is then.
pub async fn await_object<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(Option<&K>) -> bool + Send + 'static,
) -> Option<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(found)) => found,
        other => {
            let now = api.get_opt(name).await.ok().flatten();
            panic!(
                "{what}: not within {timeout:?} ({:?}); {name} now: {}",
                other.map(|r| r.map(|_| ())),
                serde_json::to_string_pretty(&now).unwrap()
            );
        }
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

/// Sum of the samples of a metric family in a /metrics text; `family` may
/// go on into the labels (`name{service="S3"`) to pick some series.
pub fn total(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The operator's /metrics text.
pub async fn metrics(op: &Operator) -> String {
    let (code, body) = op.get("/metrics").await.expect("GET /metrics");
    assert_eq!(code, 200);
    body
}

pub fn ready_of(c: &S3Connection) -> Option<Cond> {
    find_condition(c, "Ready")
}

/// Whether the connection has a condition of `type_` at all.
pub fn has_condition(c: &S3Connection, type_: &str) -> bool {
    find_condition(c, type_).is_some()
}

pub fn condition(c: &S3Connection, type_: &str) -> Cond {
    find_condition(c, type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

pub fn permission(c: &S3Connection, action: &str) -> String {
    let s = c.status.as_ref().expect("status");
    s.permissions
        .iter()
        .find(|p| p.action == action)
        .map(|p| p.result.as_str().to_string())
        .unwrap_or_else(|| panic!("no result for {action}: {:?}", s.permissions))
}

/// Statements granting the five actions on a bucket (optionally a prefix).
pub fn s3_policy(bucket: &str, prefix: &str, actions: &[&str]) -> Value {
    let objects: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| *a != "s3:ListBucket")
        .collect();
    let mut st = vec![];
    if actions.contains(&"s3:ListBucket") {
        st.push(json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")}));
    }
    if !objects.is_empty() {
        st.push(json!({"Effect": "Allow", "Action": objects, "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*")}));
    }
    json!(st)
}

pub const ALL: [&str; 5] = [
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ReplicateObject",
];

/// An operator process for one test, watching one namespace, logging JSON
/// to a file the test can read.
pub struct Operator {
    child: Child,
    pub log_path: PathBuf,
    pub metrics_addr: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Operator {
    /// Start the operator binary against the test API server, with the admin
    /// kubeconfig, STS/IAM endpoints from the environment and no AWS
    /// credentials of its own.
    pub async fn start(env: &TestEnv, ns: &str, extra: &[&str]) -> Self {
        Self::start_with(
            env,
            Some(ns),
            extra,
            &[("KUBECONFIG", env.kubeconfig.as_str())],
        )
        .await
    }

    pub async fn start_with(
        env: &TestEnv,
        ns: Option<&str>,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Self {
        let op = Self::spawn(env, ns, extra, vars);
        op.wait_until_ready().await;
        op
    }

    /// Start without waiting for readiness.
    pub fn spawn(env: &TestEnv, ns: Option<&str>, extra: &[&str], vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("operator.log");
        let log = File::create(&log_path).unwrap();
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3-connection-operator"));
        // The test endpoint is allowed; tests add their own endpoints.
        cmd.arg("run")
            .args(["--metrics-addr", &metrics_addr, "--log-format", "json"])
            .args(["--allowed-endpoint", &env.endpoint])
            .args(extra)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("KUBECONFIG")
            .env("AWS_ENDPOINT_URL", &env.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info,s3_connection_operator=debug")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(ns) = ns {
            cmd.args(["--namespace", ns]);
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start operator");
        Self {
            child,
            log_path,
            metrics_addr,
            _dir: dir,
        }
    }

    /// Wait until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "log never showed {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the log as a whole satisfies `matches`.
    pub async fn wait_for_log_matching(&self, matches: impl Fn(&str) -> bool, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !matches(&self.log()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "log never matched within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "operator did not exit within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Poll /readyz until the operator's caches are synced.
    pub async fn wait_until_ready(&self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if self
                .get("/readyz")
                .await
                .map(|(code, _)| code == 200)
                .unwrap_or(false)
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "operator not ready within {TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A plain HTTP GET against the operator's metrics/health server.
    pub async fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        crate::http_get::http_get(&self.metrics_addr, path).await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM and wait for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("operator exits")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for TestEnv {
    /// Remove what the test created, on a thread of its own with fresh
    /// clients (the test's runtime may be unwinding from a failed assertion).
    fn drop(&mut self) {
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if created.is_empty() {
            return;
        }
        let endpoint = self.endpoint.clone();
        let kubeconfig = self.kubeconfig.clone();
        let cleaner = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            rt.block_on(async {
                let work = remove_all(created, &endpoint, &kubeconfig);
                if tokio::time::timeout(Duration::from_secs(60), work)
                    .await
                    .is_err()
                {
                    eprintln!("cleanup did not finish within 60s");
                }
            });
        });
        let _ = cleaner.join();
    }
}

async fn remove_all(mut created: Vec<Created>, endpoint: &str, kubeconfig: &str) {
    let kube = Client::try_default().await.ok();
    let s3 = s3_client(endpoint, admin_credentials());
    let iam = iam_client(endpoint);
    // Releases first: they own cluster-wide RBAC objects.
    created.sort_by_key(|c| !matches!(c, Created::HelmRelease { .. }));
    for c in created {
        let res = match &c {
            Created::HelmRelease { name, namespace } => {
                let out = Command::new("helm")
                    .args(["uninstall", name, "--namespace", namespace])
                    .env("KUBECONFIG", kubeconfig)
                    .output();
                match out {
                    Ok(o) if o.status.success() => Ok(()),
                    Ok(o) if String::from_utf8_lossy(&o.stderr).contains("not found") => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
            Created::Namespace(name) => match &kube {
                Some(k) => Api::<Namespace>::all(k.clone())
                    .delete(name, &DeleteParams::default())
                    .await
                    .map(|_| ())
                    .or_else(ignore_not_found),
                None => Err("no Kubernetes client".into()),
            },
            Created::Bucket(name) => remove_bucket(&s3, name).await,
            Created::MinioBucket(name) => remove_bucket(&Minio::from_env().s3, name).await,
            Created::MinioUser(name) => {
                minio_admin(&["user-remove", name, "--", "policy-remove", name])
                    .await
                    .map(|_| ())
            }
            Created::User(name) => remove_user(&iam, name).await,
            Created::Role(name) => remove_role(&iam, name).await,
        };
        if let Err(e) = res {
            eprintln!("cleanup of {c:?} failed: {e}");
        }
    }
}

/// Run hack/minio-admin (`$S3C_MINIO_ADMIN`) with `args`; its stdout.
pub async fn minio_admin(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(var("S3C_MINIO_ADMIN"))
        .args(args)
        .output()
        .await
        .map_err(debug)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ignore_not_found(e: kube::Error) -> Result<(), String> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e.to_string()),
    }
}

fn debug(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// Every version and delete marker in `bucket` as `version:<key>` and
/// `delete-marker:<key>`, on any S3 endpoint.
pub async fn versions_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("list object versions");
    let mut all: Vec<String> = out
        .versions()
        .iter()
        .map(|v| format!("version:{}", v.key().unwrap_or_default()))
        .collect();
    all.extend(
        out.delete_markers()
            .iter()
            .map(|m| format!("delete-marker:{}", m.key().unwrap_or_default())),
    );
    all
}

async fn remove_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    let listed = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .map_err(debug)?;
    let versions = listed
        .versions()
        .iter()
        .map(|v| (v.key(), v.version_id()))
        .chain(
            listed
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id())),
        );
    for (key, version) in versions {
        s3.delete_object()
            .bucket(bucket)
            .key(key.unwrap_or_default())
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(debug)?;
    }
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}

async fn remove_user(iam: &aws_sdk_iam::Client, user: &str) -> Result<(), String> {
    let keys = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(debug)?;
    for k in keys.access_key_metadata() {
        iam.delete_access_key()
            .user_name(user)
            .set_access_key_id(k.access_key_id().map(str::to_string))
            .send()
            .await
            .map_err(debug)?;
    }
    let policies = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .map_err(debug)?;
    for p in policies.policy_names() {
        iam.delete_user_policy()
            .user_name(user)
            .policy_name(p)
            .send()
            .await
            .map_err(debug)?;
    }
    iam.delete_user()
        .user_name(user)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}

async fn remove_role(iam: &aws_sdk_iam::Client, role: &str) -> Result<(), String> {
    let policies = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(debug)?;
    for p in policies.policy_names() {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(p)
            .send()
            .await
            .map_err(debug)?;
    }
    iam.delete_role()
        .role_name(role)
        .send()
        .await
        .map(|_| ())
        .map_err(debug)
}

/// A TCP relay owned by a test, between the operator and a server: stopping
/// it cuts every connection and refuses new ones, as if the server were
/// gone, while the server itself keeps running.
pub struct Relay {
    pub addr: std::net::SocketAddr,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    /// Relay a free local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut relay = Self {
            addr,
            target: target.to_string(),
            task: None,
        };
        relay.resume().await;
        relay
    }

    /// Cut all connections and refuse new ones.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Accept and relay connections again, on the same address.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind relay");
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A TCP relay that accepts connections but holds them, unanswered, until
/// opened: a validation that reaches it waits there, so a test can look at
/// the status written while a validation is in flight, then let it finish.
pub struct Gate {
    /// `http://127.0.0.1:<port>`, to use as `spec.endpoint`.
    pub url: String,
    open: tokio::sync::watch::Sender<bool>,
    accepted: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// A closed gate in front of `target` (`http://host:port`).
    pub async fn closed(target: &str) -> Self {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (open, is_open) = tokio::sync::watch::channel(false);
        let (count, accepted) = tokio::sync::watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                let (target, mut is_open) = (target.clone(), is_open.clone());
                conns.spawn(async move {
                    if is_open.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            url,
            open,
            accepted,
            task,
        }
    }

    /// Relay held and new connections.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Wait until more than `n` connections have arrived; returns how many.
    pub async fn wait_accepted_more_than(&self, n: usize) -> usize {
        let mut rx = self.accepted.clone();
        let seen = tokio::time::timeout(TIMEOUT, rx.wait_for(|c| *c > n))
            .await
            .unwrap_or_else(|_| panic!("no connection beyond {n} reached the gate in {TIMEOUT:?}"))
            .expect("gate task alive");
        *seen
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
