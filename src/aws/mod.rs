//! Building AWS SDK clients for one connection ([`AwsFactory`]), and what
//! their errors mean ([`classify`]).
//!
//! Every client is built from explicit parts: the connection's region,
//! endpoint and resolved credentials, one shared HTTP client, fixed timeouts
//! and a bounded retry. Nothing is taken from the operator's environment
//! except endpoint overrides for STS/IAM and, only when the operator allows
//! it, the operator's own identity.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::spec::ValidSpec;

pub use identities::Identities;

pub mod classify;
pub mod identities;
pub mod recorder;
pub mod tame;

/// Where S3 requests for a connection go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub region: String,
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// PEM certificates to trust for `endpoint` besides the public roots
    /// (`spec.caSecretRef`).
    pub trust: Option<Arc<[u8]>>,
}

impl S3Target {
    pub fn of(spec: &ValidSpec) -> Self {
        Self {
            region: spec.region.clone(),
            endpoint: spec.endpoint.clone(),
            force_path_style: spec.force_path_style,
            trust: None,
        }
    }

    /// The same, also trusting `pem`.
    pub fn trusting(mut self, pem: Option<Arc<[u8]>>) -> Self {
        self.trust = pem;
        self
    }
}

/// An HTTPS client: rustls with the platform's roots plus `extra_roots`,
/// through the proxy `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` name, with bodies
/// bounded ([`BoundedBodies`]).
pub fn https_client(extra_roots: Option<&[u8]>) -> Result<SharedHttpClient, String> {
    use aws_smithy_http_client::tls;
    let mut trust = tls::TrustStore::default();
    if let Some(pem) = extra_roots {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| e.to_string())?;
    let client = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut b = aws_smithy_http_client::Connector::builder();
            b.set_connector_settings(settings.cloned());
            if let Some(c) = components {
                b.set_sleep_impl(c.sleep_impl());
            }
            b.proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env())
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone())
                .build()
        },
    );
    Ok(BoundedBodies::wrap(client, MAX_RESPONSE_BODY))
}

/// A client of a service, and where it sends requests (for messages and
/// for remembering a service that does not answer there).
#[derive(Clone)]
pub struct Remote<C> {
    pub client: C,
    pub location: String,
}

/// SDK clients for one validation.
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sts: Remote<aws_sdk_sts::Client>,
    /// `None` when no IAM is known for this endpoint.
    pub iam: Option<Remote<aws_sdk_iam::Client>>,
    /// Services that recently did not answer, shared by all validations.
    pub outages: Arc<Outages>,
}

impl Clients {
    /// The clients a validation of `target` with `credentials` uses.
    pub fn new(
        aws: &dyn AwsFactory,
        target: &S3Target,
        credentials: &Credentials,
        outages: Arc<Outages>,
    ) -> Self {
        Self {
            s3: aws.s3(target, credentials.clone()),
            sts: aws.sts(target, Some(credentials.clone())),
            iam: aws.iam(target, credentials.clone()),
            outages,
        }
    }
}

/// Creates the SDK clients a validation needs. A trait so unit tests can hand
/// out clients backed by `aws-smithy-mocks`.
///
/// Where STS and IAM are, so that a tenant's credentials only go where they
/// belong ([`Home`]): for AWS (no `spec.endpoint`, an `*.amazonaws.com`
/// endpoint, or the administrator's own `AWS_ENDPOINT_URL[_S3]`) AWS's STS
/// and IAM, or the administrator's `AWS_ENDPOINT_URL_STS` /
/// `AWS_ENDPOINT_URL_IAM` / `AWS_ENDPOINT_URL`. For any other S3-compatible
/// store, STS is the store itself (MinIO and Ceph serve STS at their S3
/// endpoint) and there is no IAM.
pub trait AwsFactory: Send + Sync {
    /// An STS client for connections to `target`, signing with
    /// `credentials`, or unsigned when `None` (AssumeRoleWithWebIdentity
    /// needs no signature).
    fn sts(
        &self,
        target: &S3Target,
        credentials: Option<Credentials>,
    ) -> Remote<aws_sdk_sts::Client>;
    /// An STS client using the operator's own identity, if it was enabled.
    fn operator_sts(&self, region: &str) -> Option<aws_sdk_sts::Client>;
    fn s3(&self, target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client;
    /// An IAM client for connections to `target`, if an IAM is known there.
    fn iam(
        &self,
        target: &S3Target,
        credentials: Credentials,
    ) -> Option<Remote<aws_sdk_iam::Client>>;
}

/// Which service did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Sts,
    Iam,
}

/// STS and IAM locations that recently timed out, could not be reached or
/// answered "not implemented": later validations skip them at once for a
/// while instead of each waiting for the same timeout, and say so.
#[derive(Debug)]
pub struct Outages {
    hold: Duration,
    entries: std::sync::Mutex<HashMap<(Service, String), (Instant, String)>>,
}

/// A service being skipped: why, and for how much longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub why: String,
    pub for_another: Duration,
}

impl Default for Outages {
    fn default() -> Self {
        Self::new(Duration::from_secs(300))
    }
}

impl Outages {
    pub fn new(hold: Duration) -> Self {
        Self {
            hold,
            entries: Default::default(),
        }
    }

    /// Whether `service` at `location` is being skipped at `now`.
    pub fn skipped(&self, service: Service, location: &str, now: Instant) -> Option<Skipped> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = (service, location.to_string());
        match entries.get(&key) {
            Some((until, why)) if *until > now => Some(Skipped {
                why: why.clone(),
                for_another: *until - now,
            }),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remember that `service` at `location` did not answer (`why`).
    pub fn note(&self, service: Service, location: &str, why: String, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (until, _)| *until > now);
        entries.insert((service, location.to_string()), (now + self.hold, why));
    }
}

/// Timeouts applied to every AWS call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(10),
            operation: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// No response body is read beyond this: responses of the calls a validation
/// makes are a few kilobytes (the probe object is read with its own, smaller
/// bound), so a larger one is an endpoint misbehaving, not data to buffer.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// An HTTP client whose response bodies end with an error once they exceed
/// a limit, whatever the endpoint sends. The SDK reads non-streaming
/// responses into memory; this bounds that memory.
#[derive(Debug, Clone)]
pub struct BoundedBodies {
    inner: SharedHttpClient,
    limit: usize,
}

impl BoundedBodies {
    pub fn wrap(inner: SharedHttpClient, limit: usize) -> SharedHttpClient {
        SharedHttpClient::new(Self { inner, limit })
    }
}

impl HttpClient for BoundedBodies {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector {
            inner: self.inner.http_connector(settings, components),
            limit: self.limit,
        })
    }
}

#[derive(Debug)]
struct BoundedConnector {
    inner: SharedHttpConnector,
    limit: usize,
}

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.inner.call(request);
        let limit = self.limit;
        HttpConnectorFuture::new(async move {
            let response = response.await?;
            Ok(response
                .map(|body| SdkBody::from_body_1_x(http_body_util::Limited::new(body, limit))))
        })
    }
}

/// Three attempts with jittered exponential backoff: covers throttling, 5xx
/// and dropped connections without holding a reconcile for long.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2))
}

/// Whose STS and IAM a connection's credentials are for.
enum Home {
    /// AWS's, or the administrator's stand-ins for them.
    Aws,
    /// The S3-compatible store at this endpoint: STS there, no IAM.
    Store(String),
}

/// The real factory.
pub struct SdkFactory {
    http: SharedHttpClient,
    timeouts: Timeouts,
    sts_endpoint: Option<String>,
    iam_endpoint: Option<String>,
    /// `scheme://host:port` of `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_S3`:
    /// endpoints that stand in for AWS (a test's emulator, a gateway).
    aws_origins: Vec<String>,
    operator: Option<SdkConfig>,
    recorder: Option<recorder::CallRecorder>,
    /// HTTP clients trusting extra roots, by the roots' hash.
    trusting: std::sync::Mutex<HashMap<u64, SharedHttpClient>>,
}

impl SdkFactory {
    /// `endpoint_env` reads endpoint overrides (`AWS_ENDPOINT_URL_STS`,
    /// `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL`); credentials are never read
    /// from it. When `allow_operator_identity`, the operator's own identity is
    /// loaded from the default chain for `iamRole` without a ServiceAccount.
    pub async fn new(
        timeouts: Timeouts,
        allow_operator_identity: bool,
        endpoint_env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let http = https_client(None).expect("the platform's trust roots load");
        let env = |k: &str| endpoint_env(k).filter(|v| !v.trim().is_empty());
        let sts_endpoint = env("AWS_ENDPOINT_URL_STS").or_else(|| env("AWS_ENDPOINT_URL"));
        let iam_endpoint = env("AWS_ENDPOINT_URL_IAM").or_else(|| env("AWS_ENDPOINT_URL"));
        let aws_origins = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .into_iter()
            .filter_map(|k| env(k).and_then(|v| crate::allowlist::entry_for(&v)))
            .collect();
        let operator = if allow_operator_identity {
            Some(
                aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http.clone())
                    .timeout_config(timeouts.config())
                    .retry_config(retry_config())
                    .load()
                    .await,
            )
        } else {
            None
        };
        Self {
            http,
            timeouts,
            sts_endpoint,
            iam_endpoint,
            aws_origins,
            operator,
            recorder: None,
            trusting: Default::default(),
        }
    }

    /// The HTTP client for `target`: the shared one, or one that also trusts
    /// its extra roots (kept, a few dozen at most).
    fn http_for(&self, target: &S3Target) -> SharedHttpClient {
        let Some(pem) = &target.trust else {
            return self.http.clone();
        };
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pem.hash(&mut h);
        let key = h.finish();
        let mut clients = self.trusting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return c.clone();
        }
        // Roots that do not parse fail the handshake later, with a TLS reason.
        let client = https_client(Some(pem)).unwrap_or_else(|_| self.http.clone());
        if clients.len() >= 64 {
            clients.clear();
        }
        clients.insert(key, client.clone());
        client
    }

    /// Whose STS and IAM `target`'s credentials are for.
    fn home(&self, target: &S3Target) -> Home {
        match &target.endpoint {
            None => Home::Aws,
            Some(ep)
                if crate::allowlist::is_aws(ep)
                    || crate::allowlist::entry_for(ep)
                        .is_some_and(|o| self.aws_origins.contains(&o)) =>
            {
                Home::Aws
            }
            Some(ep) => Home::Store(ep.clone()),
        }
    }

    /// Count every AWS call in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::telemetry::Metrics) -> Self {
        self.recorder = Some(recorder::CallRecorder::new(metrics));
        self
    }
}

impl AwsFactory for SdkFactory {
    fn sts(
        &self,
        target: &S3Target,
        credentials: Option<Credentials>,
    ) -> Remote<aws_sdk_sts::Client> {
        let mut b = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(target.region.clone()))
            .http_client(self.http_for(target))
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        if let Some(c) = credentials {
            b = b.credentials_provider(c);
        }
        let endpoint = match self.home(target) {
            Home::Aws => self.sts_endpoint.clone(),
            Home::Store(ep) => Some(ep),
        };
        if let Some(ep) = &endpoint {
            b = b.endpoint_url(ep);
        }
        Remote {
            client: aws_sdk_sts::Client::from_conf(b.build()),
            location: endpoint
                .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", target.region)),
        }
    }

    fn operator_sts(&self, region: &str) -> Option<aws_sdk_sts::Client> {
        let base = self.operator.as_ref()?;
        let mut b =
            aws_sdk_sts::config::Builder::from(base).region(Region::new(region.to_string()));
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        if let Some(ep) = &self.sts_endpoint {
            b = b.endpoint_url(ep);
        }
        Some(aws_sdk_sts::Client::from_conf(b.build()))
    }

    fn s3(&self, target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(target.region.clone()))
            .credentials_provider(credentials)
            .http_client(self.http_for(target))
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config())
            .force_path_style(target.force_path_style);
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        if let Some(ep) = &target.endpoint {
            // S3-compatible stores often reject the SDK's default checksums.
            b = b
                .endpoint_url(ep)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    fn iam(
        &self,
        target: &S3Target,
        credentials: Credentials,
    ) -> Option<Remote<aws_sdk_iam::Client>> {
        // A store has no IAM of its own.
        if let Home::Store(_) = self.home(target) {
            return None;
        }
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(self.http.clone())
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        if let Some(ep) = &self.iam_endpoint {
            b = b.endpoint_url(ep);
        }
        Some(Remote {
            client: aws_sdk_iam::Client::from_conf(b.build()),
            location: self
                .iam_endpoint
                .clone()
                .unwrap_or_else(|| "https://iam.amazonaws.com".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_remembered_for_a_while() {
        let o = Outages::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(
            o.skipped(Service::Iam, "https://iam.amazonaws.com", t0)
                .is_none()
        );
        o.note(
            Service::Iam,
            "https://iam.amazonaws.com",
            "timed out".into(),
            t0,
        );
        let s = o
            .skipped(
                Service::Iam,
                "https://iam.amazonaws.com",
                t0 + Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(s.why, "timed out");
        assert_eq!(s.for_another, Duration::from_secs(240));
        assert!(
            o.skipped(Service::Sts, "https://iam.amazonaws.com", t0)
                .is_none()
        );
        assert!(o.skipped(Service::Iam, "https://other", t0).is_none());
        assert!(
            o.skipped(
                Service::Iam,
                "https://iam.amazonaws.com",
                t0 + Duration::from_secs(301)
            )
            .is_none()
        );
    }

    #[tokio::test]
    async fn sts_and_iam_are_used_only_where_they_are() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let aws_target = S3Target {
            region: "eu-west-1".into(),
            endpoint: None,
            force_path_style: false,
            trust: None,
        };
        let store = S3Target {
            region: "us-east-1".into(),
            endpoint: Some("https://minio.example.com:9000".into()),
            force_path_style: true,
            trust: None,
        };
        let creds = Credentials::new("AKIAX", "secret", None, None, "t");
        let f = SdkFactory::new(Timeouts::default(), false, env(&[])).await;
        assert_eq!(
            f.sts(&aws_target, None).location,
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            f.sts(&store, None).location,
            "https://minio.example.com:9000"
        );
        assert!(f.iam(&aws_target, creds.clone()).is_some());
        assert!(f.iam(&store, creds.clone()).is_none(), "a store has no IAM");
        // Configured STS and IAM are AWS's: a store's keys never go there.
        let f = SdkFactory::new(
            Timeouts::default(),
            false,
            env(&[
                ("AWS_ENDPOINT_URL_STS", "http://sts.internal:8080"),
                ("AWS_ENDPOINT_URL_IAM", "http://iam.internal:8080"),
            ]),
        )
        .await;
        assert_eq!(
            f.sts(&store, None).location,
            "https://minio.example.com:9000"
        );
        assert!(f.iam(&store, creds.clone()).is_none());
        assert_eq!(
            f.sts(&aws_target, None).location,
            "http://sts.internal:8080"
        );
        let vpce = S3Target {
            endpoint: Some("https://bucket.vpce-1.s3.eu-west-1.vpce.amazonaws.com".into()),
            ..aws_target.clone()
        };
        assert_eq!(f.sts(&vpce, None).location, "http://sts.internal:8080");
        assert_eq!(
            f.iam(&vpce, creds.clone()).unwrap().location,
            "http://iam.internal:8080"
        );
        // An emulator standing in for AWS serves STS and IAM for itself only.
        let f = SdkFactory::new(
            Timeouts::default(),
            false,
            env(&[("AWS_ENDPOINT_URL", "http://moto:5000")]),
        )
        .await;
        let moto = S3Target {
            endpoint: Some("http://moto:5000/".into()),
            ..store.clone()
        };
        assert_eq!(
            f.iam(&moto, creds.clone()).unwrap().location,
            "http://moto:5000"
        );
        assert_eq!(f.sts(&moto, None).location, "http://moto:5000");
        assert!(f.iam(&store, creds).is_none());
        assert_eq!(
            f.sts(&store, None).location,
            "https://minio.example.com:9000"
        );
    }
}
