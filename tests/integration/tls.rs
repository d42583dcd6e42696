//! Private S3 endpoints: the local MinIO serves TLS with a CA the test
//! environment generated (not one the operator's platform roots know), so a
//! connection needs `spec.caSecretRef`; and an egress proxy named by
//! `HTTPS_PROXY` carries S3 traffic unless `NO_PROXY` names the host.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use testkit::{Minio, Operator, Spec, TestEnv, condition};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::OPERATOR;

const AK: &str = "AWS_ACCESS_KEY_ID";
const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// `bucket` at `endpoint` with the key in Secret `creds`, validated hourly,
/// trusting the CA in Secret `ca` if given.
fn spec(endpoint: &str, bucket: &str, ca: Option<&str>) -> Spec {
    let s = Spec::access_key(bucket, endpoint, "creds").interval("1h");
    match ca {
        Some(ca) => s.ca(ca),
        None => s,
    }
}

/// A Secret holding `pem` under `ca.crt`.
async fn ca_secret(env: &TestEnv, ns: &str, name: &str, pem: &[u8]) {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "ca.crt".to_string(),
            ByteString(pem.to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(env.kube.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create CA Secret");
}

/// The API server's CA: a real CA, but not the one that signed MinIO's
/// certificate.
fn another_ca(env: &TestEnv) -> Vec<u8> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&env.kubeconfig).unwrap();
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    let data = cluster.certificate_authority_data.clone().unwrap();
    // Base64, as Secret data is in JSON.
    let pem: ByteString = serde_json::from_value(json!(data)).unwrap();
    pem.0
}

/// A namespace with the MinIO root key in Secret `creds` and the MinIO CA
/// in Secret `s3-ca`; (namespace, bucket).
async fn tenant(env: &TestEnv, minio: &Minio, name: &str) -> (String, String) {
    let ns = env.namespace(name).await;
    let bucket = env.minio_bucket(minio, name).await;
    env.secret(
        &ns,
        "creds",
        &[(AK, &minio.root_user), (SK, &minio.root_password)],
    )
    .await;
    ca_secret(env, &ns, "s3-ca", minio.ca_pem.as_bytes()).await;
    (ns, bucket)
}

#[tokio::test]
async fn a_private_ca_named_in_ca_secret_ref_is_trusted_for_that_connection() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, bucket) = tenant(&env, &minio, "privateca").await;
    ca_secret(&env, &ns, "other-ca", &another_ca(&env)).await;
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &minio.endpoint]).await;
    let at = &minio.endpoint;

    env.apply_connection(&ns, "trusted", spec(at, &bucket, Some("s3-ca")))
        .await;
    env.apply_connection(&ns, "untrusted", spec(at, &bucket, None))
        .await;
    env.apply_connection(&ns, "wrong-ca", spec(at, &bucket, Some("other-ca")))
        .await;
    env.apply_connection(&ns, "later", spec(at, &bucket, Some("late-ca")))
        .await;

    let c = env
        .wait_ready(&ns, "trusted", "True", Some("Validated"))
        .await;
    assert_eq!(condition(&c, "BucketAccessible").status, "True");
    assert!(
        minio
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .contents()
            .is_empty(),
        "probe object left behind"
    );

    // Without the CA, or with a CA that did not sign the certificate: a
    // definite failure naming TLS and the way out. No credentials were
    // sent: the handshake failed first.
    for name in ["untrusted", "wrong-ca"] {
        let c = env.wait_ready(&ns, name, "False", Some("TlsError")).await;
        let ready = condition(&c, "Ready");
        assert!(
            ready.message.contains(&format!("TLS to {at} failed"))
                && ready.message.contains("spec.caSecretRef"),
            "{name}: {}",
            ready.message
        );
        assert_eq!(condition(&c, "Stalled").reason, "TlsError");
    }

    // A CA Secret that does not exist yet, then is created: validated
    // again at once (the interval is an hour).
    let c = env
        .wait_ready(&ns, "later", "False", Some("SecretNotFound"))
        .await;
    assert!(condition(&c, "Ready").message.contains("spec.caSecretRef"));
    ca_secret(&env, &ns, "late-ca", minio.ca_pem.as_bytes()).await;
    env.wait_ready_within(
        &ns,
        "later",
        "True",
        Some("Validated"),
        std::time::Duration::from_secs(20),
    )
    .await;
}

/// A forward proxy that answers CONNECT and records each target.
struct ConnectProxy {
    url: String,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let targets: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = targets.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                        if client.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let mut words = head.split_whitespace();
                    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                        let _ = client
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                            .await;
                        return;
                    };
                    seen.lock().unwrap().push(target.to_string());
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    if client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Self { url, targets, task }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn https_proxy_carries_s3_traffic_and_no_proxy_bypasses_it() {
    let env = TestEnv::new(OPERATOR).await;
    let minio = Minio::from_env();
    let (ns, bucket) = tenant(&env, &minio, "proxy").await;
    let proxy = ConnectProxy::start().await;
    let by_name = minio.endpoint_by_name();
    // The API server is at 127.0.0.1 too: NO_PROXY keeps it direct, as it
    // would keep a cluster's own addresses direct.
    let _op = Operator::start_with(
        &env,
        Some(&ns),
        &[
            "--allowed-endpoint",
            &minio.endpoint,
            "--allowed-endpoint",
            &by_name,
        ],
        &[
            ("KUBECONFIG", env.kubeconfig.as_str()),
            ("HTTPS_PROXY", proxy.url.as_str()),
            ("NO_PROXY", "127.0.0.1"),
        ],
    )
    .await;

    env.apply_connection(&ns, "proxied", spec(&by_name, &bucket, Some("s3-ca")))
        .await;
    env.wait_ready(&ns, "proxied", "True", Some("Validated"))
        .await;
    let authority = by_name.trim_start_matches("https://");
    assert!(
        proxy.targets().iter().any(|t| t == authority),
        "no CONNECT {authority} through the proxy: {:?}",
        proxy.targets()
    );

    env.apply_connection(&ns, "direct", spec(&minio.endpoint, &bucket, Some("s3-ca")))
        .await;
    env.wait_ready(&ns, "direct", "True", Some("Validated"))
        .await;
    assert!(
        proxy.targets().iter().all(|t| t.starts_with("localhost:")),
        "NO_PROXY host went through the proxy: {:?}",
        proxy.targets()
    );
}
