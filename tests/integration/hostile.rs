//! A tenant who may create S3Connections, and endpoints that misbehave on
//! purpose: each test runs its own small hostile server on 127.0.0.1 (one
//! that records what it is sent, one that streams an endless body, one that
//! accepts connections and never answers) and checks that no Secret value
//! leaves for an endpoint that is not allowed, the operator never exits, its
//! memory stays bounded, other tenants are still served in time, and objects
//! the operator did not write stay byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::harness::{ALL, Operator, Setup, TestEnv, condition, s3_policy};

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// What a hostile server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Record the request head and answer 403 AccessDenied.
    Record,
    /// Answer 200 and stream a body that never ends.
    Endless,
    /// Accept the connection and never answer.
    Silent,
    /// Answer every request with a 301 whose region header and error code
    /// carry markup and control characters.
    Garbage,
}

struct HostileServer {
    url: String,
    /// Request heads received (Record).
    requests: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileServer {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let connections: Arc<AtomicUsize> = Arc::default();
        let (seen, count) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let mut held = vec![];
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                match behaviour {
                    Behaviour::Silent => held.push(socket),
                    _ => {
                        tokio::spawn(serve(socket, behaviour, seen.clone()));
                    }
                }
            }
        });
        Self {
            url,
            requests,
            connections,
            task,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serve requests on one connection until it closes.
async fn serve(mut socket: TcpStream, behaviour: Behaviour, seen: Arc<Mutex<Vec<String>>>) {
    loop {
        let Some((head, _body)) = read_request(&mut socket).await else {
            return;
        };
        let is_head = head.starts_with("HEAD ");
        seen.lock().unwrap().push(head);
        let ok = match behaviour {
            Behaviour::Record => {
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>denied</Message></Error>";
                let reply = if is_head {
                    "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                socket.write_all(reply.as_bytes()).await.is_ok()
            }
            Behaviour::Garbage => {
                let body = "<?xml version=\"1.0\"?><Error><Code>Perm\u{7}<b>Redirect</b></Code><Message>\u{1b}[31mgo away</Message></Error>";
                let region = "eu-west-1<script>alert(1)</script>";
                let reply = if is_head {
                    format!(
                        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Length: 0\r\n\r\n"
                    )
                } else {
                    format!(
                        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                socket.write_all(reply.as_bytes()).await.is_ok()
            }
            Behaviour::Endless => {
                if is_head {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .is_ok()
                } else {
                    endless(&mut socket).await;
                    false
                }
            }
            Behaviour::Silent => false,
        };
        if !ok {
            return;
        }
    }
}

/// The request head (up to the blank line) and its body (Content-Length).
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    socket.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

/// A 200 response whose chunked body never ends (until the peer hangs up).
async fn endless(socket: &mut TcpStream) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b'A'; 64 * 1024];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    while socket.write_all(&framed).await.is_ok() {}
}

/// Peak resident memory of a process, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// A spec for `bucket` on `endpoint` with the keys of Secret `secret`.
fn spec_at(endpoint: &str, bucket: &str, secret: &str) -> Value {
    json!({
        "bucket": bucket,
        "region": crate::harness::REGION,
        "endpoint": endpoint,
        "forcePathStyle": true,
        "auth": {"accessKey": {"secretName": secret}},
        "validationInterval": "1m",
    })
}

/// Namespace and bucket of a user with full access whose key is in `creds`.
async fn tenant(env: &TestEnv, name: &str) -> (String, String) {
    let Setup { ns, bucket, .. } = env.setup(name, "", &ALL).await;
    (ns, bucket)
}

#[tokio::test]
async fn secret_values_never_reach_an_endpoint_that_is_not_allowed() {
    let env = TestEnv::new().await;
    let ns = env.namespace("exfil").await;
    let password = "p4ssw0rd-of-the-app-database";
    env.secret(&ns, "app-db", &[("password", password)]).await;
    let thief = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(&env, &ns, &[]).await;

    let mut spec = spec_at(&thief.url, "some-bucket", "app-db");
    spec["auth"]["accessKey"]["accessKeyIdKey"] = json!("password");
    spec["auth"]["accessKey"]["secretAccessKeyKey"] = json!("password");
    env.apply_connection(&ns, "steal", spec).await;
    let c = env
        .wait_ready(&ns, "steal", "False", Some("EndpointNotAllowed"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(msg.contains(&thief.url), "names the endpoint: {msg}");
    assert!(msg.contains("--allowed-endpoint"), "says how: {msg}");
    assert_eq!(condition(&c, "Failed").status, "True");
    assert_eq!(
        thief.connections.load(Ordering::SeqCst),
        0,
        "not a single connection to the endpoint"
    );
    let everything = format!(
        "{}{}{}",
        serde_json::to_string(&c).unwrap(),
        serde_json::to_string(&env.events(&ns).await).unwrap(),
        op.log()
    );
    assert!(!everything.contains(password), "the value leaked");
}

#[tokio::test]
async fn an_allowed_endpoint_is_used_and_the_operator_survives_what_it_answers() {
    let env = TestEnv::new().await;
    let ns = env.namespace("recorded").await;
    env.secret(
        &ns,
        "creds",
        &[
            (AK, "AKIARECORDEDKEY00000"),
            (SK, "recorded-secret-key-value"),
        ],
    )
    .await;
    let server = HostileServer::start(Behaviour::Record).await;
    let op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "c", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "c", "False", Some("AccessDenied"))
        .await;
    assert!(
        !server.requests().is_empty(),
        "the allowed endpoint was used"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.contains("recorded-secret-key-value")),
        "the secret key is never sent, only signatures made with it"
    );
    assert!(
        !serde_json::to_string(&c)
            .unwrap()
            .contains("recorded-secret-key-value")
    );
    assert!(!op.log().contains("recorded-secret-key-value"));
}

#[tokio::test]
async fn a_newline_in_a_secret_value_is_reported_and_the_operator_keeps_running() {
    let env = TestEnv::new().await;
    let (ns, bucket) = tenant(&env, "newline").await;
    env.secret(
        &ns,
        "bad",
        &[(AK, "AKIAFIRSTLINE\nX-Injected: 1"), (SK, "secret-key")],
    )
    .await;
    let mut op = Operator::start(&env, &ns, &[]).await;
    let pid = op.pid();
    env.apply_connection(&ns, "bad", spec_at(&env.endpoint, &bucket, "bad"))
        .await;
    let c = env
        .wait_ready(&ns, "bad", "False", Some("SecretValueInvalid"))
        .await;
    let msg = condition(&c, "Ready").message;
    assert!(
        msg.contains("\"bad\"") && msg.contains(AK),
        "names Secret and key: {msg}"
    );
    assert!(
        !msg.contains("FIRSTLINE") && !msg.contains("Injected"),
        "{msg}"
    );

    // Still running, still validating everything else.
    env.apply_connection(&ns, "good", spec_at(&env.endpoint, &bucket, "creds"))
        .await;
    env.wait_ready(&ns, "good", "True", Some("Validated")).await;
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
    assert_eq!(op.pid(), pid);
    assert!(!op.log().contains("FIRSTLINE"));
}

#[tokio::test]
async fn an_endless_body_does_not_grow_the_operators_memory() {
    let env = TestEnv::new().await;
    let (ns, _) = tenant(&env, "endless").await;
    let server = HostileServer::start(Behaviour::Endless).await;
    let mut op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "flood", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    // It concludes (not just "validating"), and not with Ready=True.
    let api = env.connections(&ns);
    let concluded = kube::runtime::wait::await_condition(api, "flood", |c: Option<&_>| {
        c.and_then(crate::harness::ready_of)
            .is_some_and(|r| r.reason != "Progressing")
    });
    let c = tokio::time::timeout(Duration::from_secs(120), concluded)
        .await
        .expect("a status within 120s")
        .unwrap()
        .unwrap();
    assert_ne!(condition(&c, "Ready").status, "True");
    assert!(server.connections.load(Ordering::SeqCst) > 0);
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
    let peak = peak_rss_mib(op.pid());
    eprintln!(
        "endless body: {} after {} connections, peak RSS {peak:.1} MiB",
        condition(&c, "Ready").reason,
        server.connections.load(Ordering::SeqCst)
    );
    assert!(peak < 100.0, "peak RSS {peak:.1} MiB");
}

#[tokio::test]
async fn a_silent_endpoint_does_not_starve_other_namespaces() {
    let env = TestEnv::new().await;
    let (noisy, _) = tenant(&env, "silent").await;
    let (quiet, bucket) = tenant(&env, "healthy").await;
    let hole = HostileServer::start(Behaviour::Silent).await;
    let op = Operator::start_with(
        &env,
        None,
        &[
            "--namespace",
            &format!("{noisy},{quiet}"),
            "--allowed-endpoint",
            &hole.url,
        ],
        &[("KUBECONFIG", env.kubeconfig.as_str())],
    )
    .await;
    for i in 0..10 {
        env.apply_connection(
            &noisy,
            &format!("hole-{i}"),
            spec_at(&hole.url, "some-bucket", "creds"),
        )
        .await;
    }
    // The validations of the ten are running (their connections arrived).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hole.connections.load(Ordering::SeqCst) < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no validation started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (elsewhere, other_bucket) = tenant(&env, "unwatched").await;
    env.apply_connection(
        &elsewhere,
        "x",
        spec_at(&env.endpoint, &other_bucket, "creds"),
    )
    .await;
    let started = tokio::time::Instant::now();
    env.apply_connection(&quiet, "data", spec_at(&env.endpoint, &bucket, "creds"))
        .await;
    env.wait_ready_within(
        &quiet,
        "data",
        "True",
        Some("Validated"),
        Duration::from_secs(30),
    )
    .await;
    eprintln!(
        "healthy connection Ready {:?} after it was created, beside 10 silent ones",
        started.elapsed()
    );
    // Only the two namespaces are watched: the third tenant's connection,
    // created before the healthy one, is not in the cache.
    let (_, metrics) = op.get("/metrics").await.unwrap();
    let cached: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("s3connection_connections{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert_eq!(cached, 11.0, "{metrics}");
}

#[tokio::test]
async fn a_validation_that_hangs_is_stopped_at_the_deadline() {
    let env = TestEnv::new().await;
    let (ns, _) = tenant(&env, "deadline").await;
    let hole = HostileServer::start(Behaviour::Silent).await;
    let _op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &hole.url,
            "--validation-timeout",
            "5s",
        ],
    )
    .await;
    env.apply_connection(&ns, "hang", spec_at(&hole.url, "some-bucket", "creds"))
        .await;
    let c = env
        .wait_ready(&ns, "hang", "Unknown", Some("ValidationTimedOut"))
        .await;
    assert!(condition(&c, "Ready").message.contains("5s"));
}

#[tokio::test]
async fn strings_from_a_hostile_endpoint_are_tamed() {
    let env = TestEnv::new().await;
    let (ns, _) = tenant(&env, "garbage").await;
    let server = HostileServer::start(Behaviour::Garbage).await;
    let op = Operator::start(&env, &ns, &["--allowed-endpoint", &server.url]).await;
    env.apply_connection(&ns, "g", spec_at(&server.url, "some-bucket", "creds"))
        .await;
    let c = env.wait_ready(&ns, "g", "False", Some("WrongRegion")).await;
    let status = serde_json::to_string(&c.status).unwrap();
    for raw in ["<script>", "\u{7}", "\u{1b}", "<b>"] {
        assert!(
            !status.contains(raw),
            "{raw:?} reached the status: {status}"
        );
        assert!(!op.log().contains(raw), "{raw:?} reached the log");
    }
    assert!(
        condition(&c, "Ready").message.contains("eu-west-1"),
        "{status}"
    );
}

#[tokio::test]
async fn objects_the_operator_did_not_write_are_never_deleted() {
    let env = TestEnv::new().await;
    let (ns, bucket) = tenant(&env, "foreign").await;
    let _op = Operator::start(&env, &ns, &[]).await;
    let ledger = b"date,amount\n2026-11-28,100\n".to_vec();
    env.s3
        .put_object()
        .bucket(&bucket)
        .key("finance/ledger.csv")
        .body(ByteStream::from(ledger.clone()))
        .send()
        .await
        .unwrap();
    let ledger_now = |env: &TestEnv| {
        let (s3, bucket) = (env.s3.clone(), bucket.clone());
        async move {
            let o = s3
                .get_object()
                .bucket(bucket)
                .key("finance/ledger.csv")
                .send()
                .await
                .expect("the ledger is still there");
            o.body.collect().await.unwrap().into_bytes().to_vec()
        }
    };

    // (a) A status that names someone else's object as the leftover.
    let mut spec = spec_at(&env.endpoint, &bucket, "creds");
    env.apply_connection(&ns, "tampered", spec.clone()).await;
    env.wait_ready(&ns, "tampered", "True", Some("Validated"))
        .await;
    env.connections(&ns)
        .patch_status(
            "tampered",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "leftoverProbeObject": "finance/ledger.csv",
                "leftoverProbeBucket": bucket,
            }})),
        )
        .await
        .unwrap();
    spec["validationInterval"] = json!("2m");
    env.apply_connection(&ns, "tampered", spec).await;
    let c = env
        .wait_ready(&ns, "tampered", "True", Some("Validated"))
        .await;
    assert_eq!(ledger_now(&env).await, ledger, "byte for byte");
    assert!(c.status.unwrap().leftover_probe_object.is_none());

    // (b) An object already at the connection's probe key.
    let spec = spec_at(&env.endpoint, &bucket, "not-yet");
    env.apply_connection(&ns, "squatted", spec.clone()).await;
    let c = env
        .wait_ready(&ns, "squatted", "False", Some("SecretNotFound"))
        .await;
    let key = format!(".s3connection-probe/{}", c.metadata.uid.clone().unwrap());
    let theirs = b"not the operator's".to_vec();
    env.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from(theirs.clone()))
        .send()
        .await
        .unwrap();
    let user = env.user("foreign2", s3_policy(&bucket, "", &ALL)).await;
    env.secret(
        &ns,
        "not-yet",
        &[(AK, &user.access_key_id), (SK, &user.secret_access_key)],
    )
    .await;
    let c = env
        .wait_ready(&ns, "squatted", "False", Some("ProbeKeyInUse"))
        .await;
    assert!(condition(&c, "Ready").message.contains(&key));
    let body = env
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("their object is still there")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), theirs.as_slice(), "byte for byte");
    assert_eq!(ledger_now(&env).await, ledger);
}
