//! The last check before a request to a store leaves: its final URI (after
//! endpoint resolution, virtual-hosted-style addressing and signing) must
//! be allowed by the administrator's allowlist ([`Destinations`]).
//!
//! The allowlist is checked on `spec.endpoint` before anything is read;
//! this interceptor sees where each request really goes, so that nothing
//! the SDK derives from the endpoint (a bucket's host `<bucket>.<host>`, an
//! endpoint rule) sends a request or its signature elsewhere. Requests to
//! stores are path style unless a wildcard entry allows the bucket hosts
//! ([`crate::allowlist::Allowlist::allows_virtual_hosts`]), so this only
//! refuses what that rule missed.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::allowlist::Allowlist;

/// Refuses every request whose URI the allowlist does not allow.
#[derive(Debug, Clone)]
pub struct Destinations {
    allowed: Arc<Allowlist>,
}

impl Destinations {
    /// Requests may go where `allowed` allows.
    pub fn new(allowed: Arc<Allowlist>) -> Self {
        Self { allowed }
    }
}

/// A request that was about to leave for a host the allowlist does not
/// allow (the host is the operator's own URI, tamed for messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it would have gone to {0}, which is not on the operator's list of allowed endpoints")]
pub struct DestinationRefused(pub String);

impl Intercept for Destinations {
    fn name(&self) -> &'static str {
        "Destinations"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri();
        if self.allowed.allows(uri) {
            return Ok(());
        }
        let host = uri
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Err(Box::new(DestinationRefused(super::tame::text(&host))))
    }
}

/// The refusal among the causes of `err`, if [`Destinations`] refused it.
pub fn refused<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a DestinationRefused> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(r) = e.downcast_ref::<DestinationRefused>() {
            return Some(r);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::Credentials;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::aws::classify::{Class, Failure, Op};
    use crate::aws::{AwsFactory, S3Target, SdkFactory, Timeouts};

    /// A listener on 127.0.0.1 answering 200 to every request, keeping
    /// each request head; its URL names `localhost` (a host name: the SDK
    /// would address buckets as `<bucket>.localhost`).
    async fn store() -> (String, Arc<Mutex<Vec<String>>>) {
        store_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await
    }

    /// The same, answering `answer` to every request.
    async fn store_answering(answer: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        if socket.read(&mut byte).await.unwrap_or(0) == 0 || buf.len() > 16384 {
                            return;
                        }
                        buf.push(byte[0]);
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf).to_ascii_lowercase());
                    let _ = socket.write_all(answer).await;
                });
            }
        });
        (url, heads)
    }

    fn creds() -> Credentials {
        Credentials::new("AKIAFAKE", "secret", None, None, "t")
    }

    async fn factory(entries: &[&str]) -> SdkFactory {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        SdkFactory::new(Timeouts::default(), false, |_| None)
            .await
            .with_allowlist(Allowlist::parse(entries).unwrap())
    }

    fn target(endpoint: &str) -> S3Target {
        S3Target {
            region: "us-east-1".into(),
            endpoint: Some(endpoint.into()),
            sts_endpoint: None,
            force_path_style: false,
            trust: None,
        }
    }

    #[tokio::test]
    async fn a_store_gets_path_style_requests_on_its_allowed_host() {
        let (url, heads) = store().await;
        let f = factory(&[url.as_str()]).await;
        let s3 = f.s3(&target(&url), creds());
        s3.head_bucket().bucket("my-bucket").send().await.unwrap();
        let heads = heads.lock().unwrap().clone();
        let host = format!("host: {}", url.trim_start_matches("http://"));
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(heads[0].starts_with("head /my-bucket"), "{heads:?}");
        assert!(heads[0].contains(&host), "{heads:?}");
    }

    #[tokio::test]
    async fn a_request_for_a_host_not_allowed_is_not_sent() {
        let (url, heads) = store().await;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // A client the factory would not build: virtual-hosted style to a
        // store whose entry allows no bucket hosts.
        let allowed = Arc::new(Allowlist::parse(&[url.as_str()]).unwrap());
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(creds())
            .endpoint_url(&url)
            .force_path_style(false)
            .interceptor(Destinations::new(allowed))
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(config);
        let err = s3
            .head_bucket()
            .bucket("my-bucket")
            .send()
            .await
            .unwrap_err();
        let f = Failure::of(Op::HeadBucket, &err);
        match &f.class {
            Class::Refused(why) => assert!(why.contains("my-bucket.localhost"), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
        assert!(heads.lock().unwrap().is_empty(), "nothing was sent");
    }

    #[tokio::test]
    async fn a_wildcard_entry_lets_virtual_hosted_requests_leave() {
        let (url, heads) = store().await;
        let wildcard = url.replace("localhost", "*.localhost");
        let f = factory(&[url.as_str(), wildcard.as_str()]).await;
        let s3 = f.s3(&target(&url), creds());
        // `my-bucket.localhost` may not resolve here: whether it arrives
        // depends on the machine, but it is never refused.
        match s3.head_bucket().bucket("my-bucket").send().await {
            Ok(_) => {
                let heads = heads.lock().unwrap().clone();
                assert!(heads[0].contains("host: my-bucket.localhost"), "{heads:?}");
            }
            Err(e) => {
                let f = Failure::of(Op::HeadBucket, &e);
                assert!(!matches!(f.class, Class::Refused(_)), "{f:?}");
            }
        }
    }

    #[tokio::test]
    async fn sts_requests_to_a_store_are_checked_too() {
        let (url, heads) = store().await;
        // The allowlist of the factory does not allow this store (as if it
        // were removed while a client was built): STS is not called.
        let f = factory(&["http://elsewhere.example:9000"]).await;
        let sts = f.sts(&target(&url), Some(creds()));
        let err = sts.client.get_caller_identity().send().await.unwrap_err();
        let f = Failure::of(Op::Sts, &err);
        assert!(matches!(f.class, Class::Refused(_)), "{f:?}");
        assert!(heads.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_connections_own_sts_is_used_and_checked() {
        let (url, heads) = store().await;
        let aws_s3 = S3Target {
            endpoint: None,
            sts_endpoint: Some(url.clone()),
            ..target(&url)
        };
        // Allowed: the STS requests go there, for AWS's S3 too.
        let f = factory(&[url.as_str()]).await;
        let sts = f.sts(&aws_s3, Some(creds()));
        assert_eq!(sts.location, url);
        let _ = sts.client.get_caller_identity().send().await;
        let seen = heads.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].starts_with("post / "), "{seen:?}");
        // Not allowed (any more): refused, not sent.
        let f = factory(&["http://elsewhere.example:9000"]).await;
        let err = f
            .sts(&aws_s3, Some(creds()))
            .client
            .get_caller_identity()
            .send()
            .await
            .unwrap_err();
        let failure = Failure::of(Op::Sts, &err);
        assert!(matches!(failure.class, Class::Refused(_)), "{failure:?}");
        assert_eq!(heads.lock().unwrap().len(), 1);
    }

    /// Every request sent is in the tally of the validation that sent it:
    /// each attempt of a retried request, answered or not; a refused one
    /// is not.
    #[tokio::test]
    async fn requests_are_tallied_as_sent_and_refused_ones_not() {
        use crate::cost::{ByClass, Service, Tally, counting};
        let (url, heads) = store().await;
        let f = factory(&[url.as_str()])
            .await
            .with_metrics(crate::telemetry::Metrics::default());
        let tally = Arc::new(Tally::default());
        let s3 = f.s3(&target(&url), creds());
        counting(tally.clone(), async {
            s3.head_bucket().bucket("b").send().await.unwrap();
            s3.delete_object()
                .bucket("b")
                .key("k")
                .send()
                .await
                .unwrap();
        })
        .await;
        assert_eq!(tally.requests().of(Service::S3), ByClass([0, 1, 1]));
        assert_eq!(heads.lock().unwrap().len(), 2);

        // STS at a store the allowlist no longer allows: refused, not sent.
        let elsewhere = factory(&["http://elsewhere.example:9000"])
            .await
            .with_metrics(crate::telemetry::Metrics::default());
        let sts = elsewhere.sts(&target(&url), Some(creds()));
        counting(tally.clone(), async {
            assert!(sts.client.get_caller_identity().send().await.is_err());
        })
        .await;
        assert_eq!(tally.requests().to(Service::Sts), 0);
        assert_eq!(heads.lock().unwrap().len(), 2);

        // A store that fails every request: three attempts, three requests.
        let (failing, seen) = store_answering(
            b"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let f = factory(&[failing.as_str()])
            .await
            .with_metrics(crate::telemetry::Metrics::default());
        let s3 = f.s3(&target(&failing), creds());
        let failed = Arc::new(Tally::default());
        counting(failed.clone(), async {
            assert!(s3.put_object().bucket("b").key("k").send().await.is_err());
        })
        .await;
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(failed.requests().of(Service::S3), ByClass([3, 0, 0]));
    }
}
