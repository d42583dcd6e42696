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
                    obj["status"] = body["status"].clone();
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
fn nth_retry(n: u32) -> kube::runtime::controller::Action {
    kube::runtime::controller::Action::requeue(super::requeue::spread_backoff(
        std::time::Duration::from_secs(5),
        n,
        crate::crd::rules::DEFAULT_INTERVAL,
        "uid-1",
    ))
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

#[tokio::test]
async fn secret_credentials_validate_and_write_ready_status_and_no_event() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    let ready = condition(&patch, "Ready");
    assert_eq!(ready["status"], "True", "{patch}");
    assert_eq!(ready["reason"], "Validated");
    assert_eq!(condition(&patch, "Failed")["status"], "False");
    assert_eq!(condition(&patch, "PermissionsGranted")["status"], "Unknown");
    assert_eq!(patch["status"]["observedGeneration"], 2);
    assert_eq!(patch["status"]["auth"], "AccessKey");
    assert_eq!(
        patch["status"]["identity"],
        "arn:aws:iam::123456789012:user/sync"
    );
    assert_eq!(patch["status"]["permissions"].as_array().unwrap().len(), 5);
    assert!(patch["status"].get("lastValidationTime").is_none());
    assert_eq!(patch["kind"], "S3Connection");
    // The credentials handed to S3 came from the Secret.
    assert_eq!(h.aws.used.lock().unwrap()[0].access_key_id(), ACCESS_KEY);
    // A first result that is Ready: the status says it, no event repeats it.
    assert_eq!(h.api.events(), Vec::<serde_json::Value>::new());
    assert_no_secret_in(&h, &[ACCESS_KEY, SECRET_KEY]);
}

#[tokio::test]
async fn status_is_applied_server_side_on_the_status_subresource() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    reconcile(Arc::new(connection(access_key_spec())), h.ctx.clone())
        .await
        .unwrap();
    let patch = h
        .api
        .requests()
        .into_iter()
        .find(|s| s.method == Method::PATCH)
        .unwrap();
    assert_eq!(
        patch.path,
        "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn/status"
    );
}

#[tokio::test]
async fn a_spec_edit_is_announced_before_the_new_generation_is_validated() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut first = reconcile_once(&h, connection(access_key_spec())).await;
    // That result, as if it had been for generation 1; the object is now at 2.
    first["status"]["observedGeneration"] = json!(1);
    for c in first["status"]["conditions"].as_array_mut().unwrap() {
        c["observedGeneration"] = json!(1);
    }
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(first["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let patches = h.api.status_patches();
    assert_eq!(
        patches.len(),
        3,
        "result, announcement, result: {patches:?}"
    );
    assert_progressing(&patches[1]);
    let ready = condition(&patches[2], "Ready");
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["observedGeneration"].as_i64()
        ),
        (Some("True"), Some(2))
    );
    assert!(
        patches[2]["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Reconciling"),
        "{}",
        patches[2]
    );
}

#[tokio::test]
async fn unchanged_result_writes_no_status_and_no_event() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    // The object now carries the status the first reconcile wrote.
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    assert_eq!(
        h.api.status_patches().len(),
        1,
        "second validation must not rewrite status nor announce itself"
    );
    assert_eq!(
        h.api.events().len(),
        0,
        "no event without a Ready transition (nor for the first Ready)"
    );
    // But it did validate again, and the metrics know it.
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 2);
    let uid = connection(access_key_spec()).metadata.uid.unwrap();
    let first = h.ctx.freshness.last_success(&uid);
    assert!(first.is_some());
    assert_eq!(h.ctx.freshness.last_validation(&uid), first);
}

#[tokio::test]
async fn missing_secret_is_secret_not_found() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "SecretNotFound");
    assert_eq!(condition(&patch, "Authenticated")["status"], "False");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(
        msg.contains("\"creds\"") && msg.contains("\"team\""),
        "{msg}"
    );
    let events = h.api.events();
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "SecretNotFound");
}

#[tokio::test]
async fn a_recovery_is_a_normal_event() {
    let failing = harness(vec![], World::default(), None, Config::default());
    let failed = reconcile_once(&failing, connection(access_key_spec())).await;
    assert_failed(&failed, "SecretNotFound");
    // The Secret exists now; the object carries the failed result.
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(failed["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let events = h.api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["reason"].as_str()),
        (Some("Normal"), Some("Validated"))
    );
}

#[tokio::test]
async fn secret_without_the_key_is_secret_key_missing() {
    let h = harness(
        vec![(
            Method::GET,
            SECRET_PATH,
            200,
            secret(&[("AWS_ACCESS_KEY_ID", ACCESS_KEY)]),
        )],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "SecretKeyMissing");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("AWS_SECRET_ACCESS_KEY")
    );
    assert_no_secret_in(&h, &[ACCESS_KEY]);
}

#[tokio::test]
async fn invalid_spec_is_reported_without_calling_anything() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(
        &h,
        connection(json!({"bucket": "Bad_Bucket", "region": "us-east-1", "auth": {"accessKey": {"secretName": "creds"}}})),
    )
    .await;
    assert_failed(&patch, "InvalidSpec");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("Bad_Bucket")
    );
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 0);
    assert!(h.aws.used.lock().unwrap().is_empty());
}

#[tokio::test]
async fn irsa_exchanges_the_service_account_token_and_caches_the_role() {
    let role = "arn:aws:iam::123456789012:role/sync";
    let h = harness(
        vec![
            (
                Method::GET,
                SA_PATH,
                200,
                service_account(json!({"eks.amazonaws.com/role-arn": role})),
            ),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World {
            caller: Ok("arn:aws:sts::123456789012:assumed-role/sync/s3connection-team-conn".into()),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa_spec(None))).await;
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
    assert_eq!(patch["status"]["auth"], "IRSA");
    assert!(
        patch["status"]["identity"]
            .as_str()
            .unwrap()
            .contains("assumed-role/sync")
    );
    assert_eq!(h.aws.used.lock().unwrap()[0].access_key_id(), "ASIAASSUMED");
    let token_req = h.api.request(TOKEN_PATH);
    assert_eq!(token_req.body["spec"]["audiences"][0], "sts.amazonaws.com");

    // A second validation reuses the assumed-role credentials.
    reconcile(Arc::new(connection(irsa_spec(None))), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 1);
    assert_no_secret_in(
        &h,
        &[
            "eyJ.web-identity-token.sig",
            "assumed-secret",
            "assumed-token",
        ],
    );
}

#[tokio::test]
async fn irsa_audience_annotation_is_used() {
    let h = harness(
        vec![
            (
                Method::GET,
                SA_PATH,
                200,
                service_account(json!({"eks.amazonaws.com/audience": "custom-aud"})),
            ),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        None,
        Config::default(),
    );
    reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    let token_req = h.api.request(TOKEN_PATH);
    assert_eq!(token_req.body["spec"]["audiences"][0], "custom-aud");
}

#[tokio::test]
async fn refused_web_identity_is_assume_role_failed() {
    let refuse: HttpResponseFn = Arc::new(|| query_error(403, "AccessDenied"));
    let h = harness(
        vec![
            (Method::GET, SA_PATH, 200, service_account(json!({}))),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        Some(refuse),
        Config::default(),
    );
    let patch = reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    assert_failed(&patch, "AssumeRoleFailed");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(msg.contains("system:serviceaccount:team:s3-sync"), "{msg}");
    assert!(h.aws.used.lock().unwrap().is_empty());
}

#[tokio::test]
async fn missing_service_account_is_service_account_not_found() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    assert_failed(&patch, "ServiceAccountNotFound");
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 0);
}

#[tokio::test]
async fn no_role_arn_anywhere_is_role_arn_missing() {
    let h = harness(
        vec![(Method::GET, SA_PATH, 200, service_account(json!({})))],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa_spec(None))).await;
    assert_failed(&patch, "RoleArnMissing");
}

#[tokio::test]
async fn operator_identity_is_off_by_default() {
    let h = harness(vec![], World::default(), None, Config::default());
    // A tenant's own externalId (a removed field) is ignored: the operator
    // chooses it.
    let spec = json!({"bucket": "output", "region": "us-east-1", "auth": {"iamRole": {"roleArn": "arn:aws:iam::123456789012:role/sync", "externalId": "borrowed"}}});
    let patch = reconcile_once(&h, connection(spec.clone())).await;
    assert_failed(&patch, "OperatorIdentityDisabled");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("--allow-operator-identity")
    );

    // Allowed, the operator's own STS client assumes the role.
    let (client, api) = ApiServer::start(vec![]);
    let mut aws = FakeAws::new(World::default(), None);
    aws.operator_identity = true;
    let aws = Arc::new(aws);
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        aws.clone(),
        Config {
            allow_operator_identity: true,
            cluster_name: Some("cluster-uid".into()),
            ..Config::default()
        },
    ));
    reconcile(Arc::new(connection(spec)), ctx).await.unwrap();
    let patch = api.status_patches().pop().unwrap();
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
    assert_eq!(patch["status"]["auth"], "OperatorRole");
    assert_eq!(aws.used.lock().unwrap()[0].access_key_id(), "ASIAASSUMED");
    // The ExternalId is the operator's `<cluster>:<namespace>`, shown in
    // status; the session names the namespace.
    assert_eq!(patch["status"]["externalId"], "cluster-uid:team");
    let calls = aws.world.lock().unwrap().assume_role_calls.clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].external_id.as_deref(), Some("cluster-uid:team"));
    assert_eq!(calls[0].session_name, "s3c-team-conn");
}

#[tokio::test]
async fn forbidden_secret_read_is_an_operator_error_with_a_hint() {
    let h = harness(
        vec![(Method::GET, SECRET_PATH, 403, forbidden())],
        World::default(),
        None,
        Config::default(),
    );
    let err = reconcile(Arc::new(connection(access_key_spec())), h.ctx.clone())
        .await
        .expect_err("RBAC problems are operator errors");
    assert_eq!(err.metric_label(), "kube_forbidden");
    assert!(err.to_string().contains("get Secret team/creds"), "{err}");
    assert!(err.hint().unwrap().contains("RBAC"));
    assert!(matches!(err, Error::Kube { .. }));
    assert!(h.api.status_patches().is_empty());
}

#[tokio::test]
async fn leftover_probe_is_recorded_and_survives_an_early_failure() {
    let h = harness(
        valid_secret(),
        World {
            deny: ["delete"].into_iter().collect(),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "PermissionDenied");
    assert_eq!(
        patch["status"]["leftoverProbeObject"],
        "customers/.s3connection-probe/uid-1"
    );
    assert_eq!(patch["status"]["leftoverProbeBucket"], "output");

    // The Secret disappears: the status still names the leftover object.
    let (client, api) = ApiServer::start(vec![]);
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        h.aws.clone(),
        Config::default(),
    ));
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    reconcile(Arc::new(conn), ctx).await.unwrap();
    let patch = api.status_patches().pop().unwrap();
    assert_failed(&patch, "SecretNotFound");
    assert_eq!(
        patch["status"]["leftoverProbeObject"],
        "customers/.s3connection-probe/uid-1"
    );
    // What only the probes could tell is removed, whoever wrote it.
    let removal = api.status_removals().pop().expect("a removal");
    assert_eq!(removal["status"].get("identity"), Some(&Value::Null));
    assert!(removal["status"].get("leftoverProbeObject").is_none());
}

#[tokio::test]
async fn transient_problems_requeue_with_growing_backoff() {
    let h = harness(
        valid_secret(),
        World {
            throttled: true,
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let conn = Arc::new(connection(access_key_spec()));
    let first = reconcile(conn.clone(), h.ctx.clone()).await.unwrap();
    let second = reconcile(conn.clone(), h.ctx.clone()).await.unwrap();
    assert_eq!(first, nth_retry(1));
    assert_eq!(second, nth_retry(2));
    let patch = &h.api.status_patches()[0];
    assert_eq!(condition(patch, "Ready")["status"], "Unknown");
    assert_eq!(condition(patch, "Failed")["status"], "Unknown");
    assert_eq!(condition(patch, "Ready")["reason"], "Transient");
    let _ = conn.name_any();
}

#[tokio::test]
async fn an_endpoint_that_is_not_allowed_reads_no_secret_and_mints_no_token() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut spec = access_key_spec();
    spec["endpoint"] = json!("https://collector.attacker.example:8443");
    let patch = reconcile_once(&h, connection(spec.clone())).await;
    assert_failed(&patch, "EndpointNotAllowed");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(
        msg.contains("https://collector.attacker.example:8443")
            && msg.contains("--allowed-endpoint https://collector.attacker.example:8443"),
        "{msg}"
    );
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 0, "no Secret read");
    assert!(h.aws.used.lock().unwrap().is_empty(), "no S3 client");

    let mut irsa = irsa_spec(Some("arn:aws:iam::123456789012:role/sync"));
    irsa["endpoint"] = json!("http://10.0.0.1:9000");
    let h = harness(
        vec![
            (Method::GET, SA_PATH, 200, service_account(json!({}))),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa)).await;
    assert_failed(&patch, "EndpointNotAllowed");
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 0, "no token minted");
    assert_eq!(h.api.count(Method::GET, SA_PATH), 0);

    // Allowed, the same connection is validated.
    let config = Config {
        allowed_endpoints: crate::allowlist::Allowlist::parse(&[
            "https://collector.attacker.example:8443",
        ])
        .unwrap(),
        ..Config::default()
    };
    let h = harness(valid_secret(), World::default(), None, config);
    let patch = reconcile_once(&h, connection(spec)).await;
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
}

#[tokio::test]
async fn a_panic_in_a_validation_becomes_that_connections_internal_error() {
    let (client, api) = ApiServer::start(valid_secret());
    let mut aws = FakeAws::new(World::default(), None);
    aws.panic_in_s3 = true;
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        Arc::new(aws),
        Config::default(),
    ));
    let action = reconcile(Arc::new(connection(access_key_spec())), ctx.clone())
        .await
        .expect("the reconcile itself does not fail");
    assert_eq!(action, nth_retry(1), "retried with backoff");
    let patch = api.status_patches().pop().unwrap();
    let ready = condition(&patch, "Ready");
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "InternalError");
    assert_eq!(ctx.metrics.panics.get(), 1);
}

fn named(name: &str, uid: &str, spec: Value) -> S3Connection {
    let mut c = connection(spec);
    c.metadata.name = Some(name.into());
    c.metadata.uid = Some(uid.into());
    c
}

#[tokio::test]
async fn connections_sharing_credentials_ask_sts_who_they_are_once() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    for (name, uid) in [("a", "uid-a"), ("b", "uid-b"), ("c", "uid-c")] {
        reconcile(Arc::new(named(name, uid, access_key_spec())), h.ctx.clone())
            .await
            .unwrap();
    }
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 3);
    for p in &patches {
        assert_eq!(condition(p, "Ready")["status"], "True", "{p}");
        assert_eq!(
            condition(p, "Authenticated")["status"],
            "True",
            "S3 accepted the credentials: {p}"
        );
        assert_eq!(
            p["status"]["identity"],
            "arn:aws:iam::123456789012:user/sync"
        );
    }
    // Every validation sent its S3 requests; only the first asked STS.
    let w = h.aws.world.lock().unwrap();
    assert_eq!(w.caller_calls, 1);
    assert_eq!(w.writes, 3);
}

#[tokio::test]
async fn credentials_s3_rejects_are_asked_about_again() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let run = |name: &'static str| {
        let ctx = h.ctx.clone();
        async move {
            reconcile(Arc::new(named(name, name, access_key_spec())), ctx)
                .await
                .unwrap()
        }
    };
    run("a").await;
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    // The key was deactivated: S3 says so though STS is not asked.
    h.aws.world.lock().unwrap().unknown_key = true;
    run("b").await;
    let rejected = h.api.status_patches().pop().unwrap();
    assert_failed(&rejected, "InvalidCredentials");
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    // Active again: who the key belongs to is asked anew.
    h.aws.world.lock().unwrap().unknown_key = false;
    run("c").await;
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 2);
}

#[tokio::test]
async fn an_identity_that_echoes_the_secret_is_kept_and_shown_scrubbed() {
    // A hostile STS answers with an "ARN" that carries the secret key.
    let h = harness(
        valid_secret(),
        World {
            caller: Ok(format!("arn:aws:iam::123456789012:user/{SECRET_KEY}")),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    for (name, uid) in [("a", "uid-a"), ("b", "uid-b")] {
        reconcile(Arc::new(named(name, uid, access_key_spec())), h.ctx.clone())
            .await
            .unwrap();
    }
    assert_eq!(h.api.status_patches().len(), 2);
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    assert_no_secret_in(&h, &[ACCESS_KEY, SECRET_KEY]);
}

const CONN_PATH: &str = "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn";
const STATUS_PATH: &str =
    "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn/status";

fn at_version(mut conn: S3Connection, rv: &str, status: Option<&Value>) -> S3Connection {
    conn.metadata.resource_version = Some(rv.into());
    conn.status = status.map(|s| serde_json::from_value(s.clone()).unwrap());
    conn
}

#[tokio::test]
async fn a_reconcile_whose_cache_missed_the_last_write_reads_the_object_first() {
    // What a first validation proved, as the API server holds it at "12".
    let proved = reconcile_once(
        &harness(valid_secret(), World::default(), None, Config::default()),
        connection(access_key_spec()),
    )
    .await;
    let mut stored = serde_json::to_value(at_version(
        connection(access_key_spec()),
        "12",
        Some(&proved["status"]),
    ))
    .unwrap();
    stored["kind"] = json!("S3Connection");
    let mut routes = valid_secret();
    routes.push((Method::GET, CONN_PATH, 200, stored));
    // The endpoint fails now, transiently.
    let world = World {
        throttled: true,
        ..Default::default()
    };
    let h = harness(routes, world, None, Config::default());
    // This process wrote "12"; its cache still has "11", without a status.
    h.ctx.latest.note("uid-1", "12");
    let stale = at_version(connection(access_key_spec()), "11", None);
    reconcile(Arc::new(stale), h.ctx.clone()).await.unwrap();

    assert_eq!(h.api.count(Method::GET, CONN_PATH), 1, "read once");
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch = &patches[0];
    assert_eq!(patch["metadata"]["resourceVersion"], "12", "{patch}");
    assert_eq!(condition(patch, "Ready")["status"], "Unknown");
    // What was proved before stays visible through the transient problem.
    assert_eq!(
        patch["status"]["permissions"],
        proved["status"]["permissions"]
    );
    assert_eq!(patch["status"]["identity"], proved["status"]["identity"]);
    // The transition is from the stored Ready=True, not from nothing.
    let events = h.api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "Warning");

    // The cache caught up with the write: no read.
    let caught_up = at_version(connection(access_key_spec()), "13", Some(&patch["status"]));
    reconcile(Arc::new(caught_up), h.ctx.clone()).await.unwrap();
    assert_eq!(h.api.count(Method::GET, CONN_PATH), 1, "still one read");
}

#[tokio::test]
async fn a_write_that_finds_the_object_changed_is_retried_soon_without_an_event() {
    let failed = reconcile_once(
        &harness(vec![], World::default(), None, Config::default()),
        connection(access_key_spec()),
    )
    .await;
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified"});
    let mut routes = valid_secret();
    routes.push((Method::PATCH, STATUS_PATH, 409, conflict));
    let h = harness(routes, World::default(), None, Config::default());
    let conn = at_version(connection(access_key_spec()), "5", Some(&failed["status"]));
    let action = reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();

    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(super::conflict_retry("uid-1"))
    );
    let patch = &h.api.status_patches()[0];
    assert_eq!(patch["metadata"]["resourceVersion"], "5");
    assert!(h.api.events().is_empty(), "nothing was written: no event");
    let conflicts = crate::telemetry::PatchLabels {
        outcome: "conflict",
    };
    assert_eq!(
        h.ctx.metrics.status_patches.get_or_create(&conflicts).get(),
        1
    );
}

#[tokio::test]
async fn a_spec_edits_result_is_written_at_the_version_its_announcement_made() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut first = reconcile_once(&h, connection(access_key_spec())).await;
    first["status"]["observedGeneration"] = json!(1);
    for c in first["status"]["conditions"].as_array_mut().unwrap() {
        c["observedGeneration"] = json!(1);
    }
    let conn = at_version(connection(access_key_spec()), "40", Some(&first["status"]));
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 3, "{patches:?}");
    assert_progressing(&patches[1]);
    assert_eq!(patches[1]["metadata"]["resourceVersion"], "40");
    assert_eq!(patches[2]["metadata"]["resourceVersion"], "41");
}
