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

pub mod classify;
pub mod tame;

/// Where S3 requests for a connection go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub region: String,
    pub endpoint: Option<String>,
    pub force_path_style: bool,
}

impl S3Target {
    pub fn of(spec: &ValidSpec) -> Self {
        Self {
            region: spec.region.clone(),
            endpoint: spec.endpoint.clone(),
            force_path_style: spec.force_path_style,
        }
    }
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
/// Where STS and IAM are: for AWS (no `spec.endpoint`) AWS's own, or the
/// administrator's `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL_IAM` /
/// `AWS_ENDPOINT_URL`. For an S3-compatible store, STS is the configured STS
/// endpoint or else the store itself (MinIO and Ceph serve STS at their S3
/// endpoint); IAM only where one is configured (stores have none).
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

/// The real factory.
pub struct SdkFactory {
    http: SharedHttpClient,
    timeouts: Timeouts,
    sts_endpoint: Option<String>,
    iam_endpoint: Option<String>,
    operator: Option<SdkConfig>,
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
        let http = BoundedBodies::wrap(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https(),
            MAX_RESPONSE_BODY,
        );
        let env = |k: &str| endpoint_env(k).filter(|v| !v.trim().is_empty());
        let sts_endpoint = env("AWS_ENDPOINT_URL_STS").or_else(|| env("AWS_ENDPOINT_URL"));
        let iam_endpoint = env("AWS_ENDPOINT_URL_IAM").or_else(|| env("AWS_ENDPOINT_URL"));
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
            operator,
        }
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
            .http_client(self.http.clone())
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
        if let Some(c) = credentials {
            b = b.credentials_provider(c);
        }
        let endpoint = self.sts_endpoint.as_ref().or(target.endpoint.as_ref());
        if let Some(ep) = endpoint {
            b = b.endpoint_url(ep);
        }
        Remote {
            client: aws_sdk_sts::Client::from_conf(b.build()),
            location: endpoint
                .cloned()
                .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", target.region)),
        }
    }

    fn operator_sts(&self, region: &str) -> Option<aws_sdk_sts::Client> {
        let base = self.operator.as_ref()?;
        let mut b =
            aws_sdk_sts::config::Builder::from(base).region(Region::new(region.to_string()));
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
            .http_client(self.http.clone())
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config())
            .force_path_style(target.force_path_style);
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
        // A store behind spec.endpoint has no IAM of its own.
        if target.endpoint.is_some() && self.iam_endpoint.is_none() {
            return None;
        }
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(self.http.clone())
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
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
        };
        let store = S3Target {
            region: "us-east-1".into(),
            endpoint: Some("https://minio.example.com:9000".into()),
            force_path_style: true,
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
        // Only STS configured: IAM is not guessed for a store.
        let f = SdkFactory::new(
            Timeouts::default(),
            false,
            env(&[("AWS_ENDPOINT_URL_STS", "http://sts.internal:8080")]),
        )
        .await;
        assert_eq!(f.sts(&store, None).location, "http://sts.internal:8080");
        assert!(f.iam(&store, creds.clone()).is_none());
        let f = SdkFactory::new(
            Timeouts::default(),
            false,
            env(&[("AWS_ENDPOINT_URL", "http://moto:5000")]),
        )
        .await;
        assert_eq!(f.iam(&store, creds).unwrap().location, "http://moto:5000");
    }
}
