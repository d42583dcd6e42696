//! Reconciler tests against a mocked Kubernetes API server (`tower-test`)
//! and the fake S3/STS/IAM of [`crate::testing`]. Each test states what the
//! API server holds, runs one reconcile, and checks the requests the
//! operator made: the status it applied, the events it published, the
//! Secrets and tokens it asked for.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::{Config, Context, reconcile};
use crate::crd::S3Connection;
use crate::error::Error;
use crate::telemetry::Metrics;
use crate::testing::{FakeAws, HttpResponseFn, World, query_error};

mod access_key;
mod failures;
mod roles;
mod shard;
mod status;

const ACCESS_KEY: &str = "AKIAFROMSECRET";

const SECRET_KEY: &str = "secret-key-from-the-secret";

/// A request the operator made.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    content_type: String,
    body: Value,
}

/// What the mocked API server holds: path → (status, JSON body).
type Routes = Vec<(Method, &'static str, u16, Value)>;

struct ApiServer {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ApiServer {
    /// Serve `routes`; anything else is a 404. Status patches and event
    /// creations echo success.
    fn start(routes: Routes) -> (Client, ApiServer) {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().clone();
                let path = req.uri().path().to_string();
                let content_type = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    path: path.clone(),
                    content_type,
                    body: body.clone(),
                });
                let (status, reply) = if let Some((_, _, s, v)) = routes
                    .iter()
                    .find(|(m, p, _, _)| *m == method && *p == path)
                {
                    (*s, v.clone())
                } else if method == Method::PATCH && path.ends_with("/status") {
                    // The patched object, as the API server would return it.
                    let mut obj = json!({
                        "apiVersion": "s3connection.dev/v1alpha1",
                        "kind": "S3Connection",
                        "metadata": {"name": "conn", "namespace": "team"},
                        "spec": {"bucket": "output", "region": "us-east-1", "auth": {}},
                    });
                    // A merge patch's nulls remove fields.
                    let mut status = body["status"].clone();
                    if let Some(m) = status.as_object_mut() {
                        m.retain(|_, v| !v.is_null());
                    }
                    obj["status"] = status;
                    // A write at resourceVersion n makes it n + 1.
                    if let Some(v) = body["metadata"]["resourceVersion"].as_str() {
                        let n: u64 = v.parse().expect("a numeric resourceVersion");
                        obj["metadata"]["resourceVersion"] = json!((n + 1).to_string());
                    }
                    (200, obj)
                } else if method == Method::POST && path.contains("/events") {
                    (201, body)
                } else {
                    (404, not_found())
                };
                let resp = Response::builder()
                    .status(StatusCode::from_u16(status).unwrap())
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(resp);
            }
        });
        (Client::new(svc, "default"), ApiServer { seen })
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Server-side applies of a status.
    fn status_patches(&self) -> Vec<Value> {
        self.status_writes("application/apply-patch+yaml")
    }

    /// Merge patches removing status fields the applies no longer carry.
    fn status_removals(&self) -> Vec<Value> {
        self.status_writes("application/merge-patch+json")
    }

    fn status_writes(&self, content_type: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|s| s.method == Method::PATCH && s.path.ends_with("/status"))
            .filter(|s| s.content_type == content_type)
            .map(|s| s.body)
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|s| s.method == Method::POST && s.path.contains("/events"))
            .map(|s| s.body)
            .collect()
    }

    /// The first request to `path`.
    fn request(&self, path: &str) -> Seen {
        self.requests()
            .into_iter()
            .find(|s| s.path == path)
            .unwrap_or_else(|| panic!("no request to {path}"))
    }

    fn count(&self, method: Method, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

fn forbidden() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": "secrets is forbidden"})
}

fn b64(s: &str) -> String {
    use std::fmt::Write;
    // Tiny base64 encoder for test fixtures.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, &x| (acc << 8) | x as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = write!(out, "{}", T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secret(data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(b64(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "team", "resourceVersion": "7"}, "data": data})
}

fn service_account(annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "s3-sync", "namespace": "team", "uid": "sa-uid", "annotations": annotations}})
}

fn token_request() -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["sts.amazonaws.com"]}, "status": {"token": "eyJ.web-identity-token.sig", "expirationTimestamp": "2030-01-01T00:00:00Z"}})
}

fn connection(spec: Value) -> S3Connection {
    serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": "conn", "namespace": "team", "uid": "uid-1", "generation": 2},
        "spec": spec
    }))
    .unwrap()
}

fn access_key_spec() -> Value {
    json!({"bucket": "output/customers", "region": "us-east-1", "auth": {"accessKey": {"secretName": "creds"}}})
}

fn irsa_spec(role_arn: Option<&str>) -> Value {
    let mut role = json!({"serviceAccountName": "s3-sync"});
    if let Some(a) = role_arn {
        role["roleArn"] = json!(a);
    }
    json!({"bucket": "output", "region": "us-east-1", "auth": {"iamRole": role}})
}

const SECRET_PATH: &str = "/api/v1/namespaces/team/secrets/creds";

/// The API server holds Secret `creds` with both keys.
fn valid_secret() -> Routes {
    vec![(
        Method::GET,
        SECRET_PATH,
        200,
        secret(&[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ]),
    )]
}

const SA_PATH: &str = "/api/v1/namespaces/team/serviceaccounts/s3-sync";

const TOKEN_PATH: &str = "/api/v1/namespaces/team/serviceaccounts/s3-sync/token";

struct Harness {
    api: ApiServer,
    ctx: Arc<Context>,
    aws: Arc<FakeAws>,
}

fn harness(
    routes: Routes,
    world: World,
    assume: Option<HttpResponseFn>,
    config: Config,
) -> Harness {
    let (client, api) = ApiServer::start(routes);
    let aws = Arc::new(FakeAws::new(world, assume));
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        aws.clone(),
        config,
    ));
    // A controller for all namespaces: wakeups are kept.
    drop(ctx.wakeups.open(None, 64));
    Harness { api, ctx, aws }
}

fn condition<'a>(patch: &'a Value, type_: &str) -> &'a Value {
    patch["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {patch}"))
}

/// Reconcile a new connection once and return the one status patch it
/// wrote (a first validation writes status exactly once).
async fn reconcile_once(h: &Harness, conn: S3Connection) -> Value {
    reconcile(Arc::new(conn), h.ctx.clone())
        .await
        .expect("reconcile succeeds");
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 1, "exactly one status patch: {patches:?}");
    patches[0].clone()
}

/// The patch announcing that generation 2 is being validated.
fn assert_progressing(patch: &Value) {
    let ready = condition(patch, "Ready");
    assert_eq!(ready["status"], "Unknown", "{patch}");
    assert_eq!(ready["reason"], "Progressing", "{patch}");
    assert_eq!(ready["observedGeneration"], 2, "{patch}");
    assert_eq!(condition(patch, "Reconciling")["status"], "True", "{patch}");
    assert_eq!(patch["status"]["observedGeneration"], 2, "{patch}");
}

/// The requeue after the `n`th transient failure in a row of the test
/// connection: 5 s doubling, spread per object (see requeue.rs).
fn nth_retry(n: u32) -> std::time::Duration {
    super::requeue::spread_backoff(
        std::time::Duration::from_secs(5),
        n,
        crate::crd::rules::DEFAULT_INTERVAL,
        "uid-1",
    )
}

/// The reconcile of connection `uid-1` ended with `action`: it waits for
/// a change or for its wakeup ([`super::wakeups`]), due `expected` after
/// the reconcile returned (give or take the test's own time since).
#[track_caller]
fn assert_again_after(
    ctx: &Context,
    action: kube::runtime::controller::Action,
    expected: std::time::Duration,
) {
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    let left = ctx.wakeups.due_in("uid-1").expect("a wakeup for uid-1");
    assert!(
        left <= expected && expected - left < std::time::Duration::from_secs(2),
        "due in {left:?}, expected {expected:?}"
    );
}

fn assert_failed(patch: &Value, reason: &str) {
    let ready = condition(patch, "Ready");
    assert_eq!(ready["status"], "False", "{patch}");
    assert_eq!(ready["reason"], reason, "{patch}");
    let failed = condition(patch, "Failed");
    assert_eq!(failed["status"], "True");
    assert_eq!(failed["reason"], reason);
    assert!(!ready["message"].as_str().unwrap().is_empty());
}

fn assert_no_secret_in(h: &Harness, secrets: &[&str]) {
    for s in h.api.requests() {
        let text = s.body.to_string();
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{secret:?} leaked into {} {}",
                s.method,
                s.path
            );
        }
    }
}

fn named(name: &str, uid: &str, spec: Value) -> S3Connection {
    let mut c = connection(spec);
    c.metadata.name = Some(name.into());
    c.metadata.uid = Some(uid.into());
    c
}

const CONN_PATH: &str = "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn";

const STATUS_PATH: &str =
    "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn/status";

fn at_version(mut conn: S3Connection, rv: &str, status: Option<&Value>) -> S3Connection {
    conn.metadata.resource_version = Some(rv.into());
    conn.status = status.map(|s| serde_json::from_value(s.clone()).unwrap());
    conn
}
