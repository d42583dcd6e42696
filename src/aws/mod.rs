//! Building AWS SDK clients for one connection ([`AwsFactory`]), and what
//! their errors mean ([`classify`]).
//!
//! Every client is built from explicit parts: the connection's region,
//! endpoint and resolved credentials, one shared HTTP client, fixed timeouts
//! and a bounded retry. Nothing is taken from the operator's environment
//! except endpoint overrides for STS/IAM and, only when the operator allows
//! it, the operator's own identity.

use std::time::Duration;

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

/// SDK clients for one validation.
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    /// `None` when no STS can answer for these credentials.
    pub sts: Option<aws_sdk_sts::Client>,
    /// `None` when no IAM can answer for these credentials.
    pub iam: Option<aws_sdk_iam::Client>,
}

impl Clients {
    /// The clients a validation of `target` with `credentials` uses.
    pub fn new(aws: &dyn AwsFactory, target: &S3Target, credentials: &Credentials) -> Self {
        let identity = aws.identity_service_available(target.endpoint.as_deref());
        Self {
            s3: aws.s3(target, credentials.clone()),
            sts: identity.then(|| aws.sts(&target.region, Some(credentials.clone()))),
            iam: identity.then(|| aws.iam(credentials.clone())),
        }
    }
}

/// Creates the SDK clients a validation needs. A trait so unit tests can hand
/// out clients backed by `aws-smithy-mocks`.
pub trait AwsFactory: Send + Sync {
    /// An STS client signing with `credentials`, or unsigned when `None`
    /// (AssumeRoleWithWebIdentity needs no signature).
    fn sts(&self, region: &str, credentials: Option<Credentials>) -> aws_sdk_sts::Client;
    /// An STS client using the operator's own identity, if it was enabled.
    fn operator_sts(&self, region: &str) -> Option<aws_sdk_sts::Client>;
    fn s3(&self, target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client;
    fn iam(&self, credentials: Credentials) -> aws_sdk_iam::Client;
    /// Whether STS/IAM can answer for credentials used with this S3 endpoint.
    /// For AWS (no custom endpoint) yes; for an S3-compatible store only when
    /// an STS/IAM endpoint was configured explicitly.
    fn identity_service_available(&self, s3_endpoint: Option<&str>) -> bool;
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
    fn sts(&self, region: &str, credentials: Option<Credentials>) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(self.http.clone())
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
        if let Some(c) = credentials {
            b = b.credentials_provider(c);
        }
        if let Some(ep) = &self.sts_endpoint {
            b = b.endpoint_url(ep);
        }
        aws_sdk_sts::Client::from_conf(b.build())
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

    fn iam(&self, credentials: Credentials) -> aws_sdk_iam::Client {
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
        aws_sdk_iam::Client::from_conf(b.build())
    }

    fn identity_service_available(&self, s3_endpoint: Option<&str>) -> bool {
        s3_endpoint.is_none() || self.sts_endpoint.is_some()
    }
}
