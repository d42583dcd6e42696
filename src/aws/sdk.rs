//! The real [`AwsFactory`]: SDK clients with the shared HTTPS client, fixed
//! [`Timeouts`] and a bounded retry, sending a connection's credentials
//! only to the STS and IAM they belong to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::trust::TrustCache;
use super::{AwsFactory, Destinations, Remote, S3Target, https_client, recorder};
use crate::allowlist::Allowlist;

/// Timeouts applied to every AWS call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To establish a connection.
    pub connect: Duration,
    /// For one attempt, and for each read of its response.
    pub attempt: Duration,
    /// For a whole operation, retries included.
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

/// `scheme://host:port` of the endpoints that stand in for AWS (a test's
/// emulator, a gateway): `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_S3` as
/// `env` has them.
pub fn aws_stand_ins(env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .into_iter()
        .filter_map(|k| {
            env(k)
                .filter(|v| !v.trim().is_empty())
                .and_then(|v| crate::allowlist::entry_for(&v))
        })
        .collect()
}

/// Whether a connection with `endpoint` (`spec.endpoint`) has AWS's STS
/// and IAM: no endpoint, an AWS endpoint, or one of `stand_ins`
/// ([`aws_stand_ins`]). Otherwise it is a store's.
pub fn is_aws_home(endpoint: Option<&str>, stand_ins: &[String]) -> bool {
    endpoint.is_none_or(|ep| {
        crate::allowlist::is_aws(ep)
            || crate::allowlist::entry_for(ep).is_some_and(|o| stand_ins.contains(&o))
    })
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
    /// HTTP clients trusting extra roots, by the roots' digest.
    trusting: TrustCache<SharedHttpClient>,
    /// Where requests to stores may go (checked on each final URI); the
    /// operator always sets it ([`Self::with_allowlist`]).
    allowed: Option<Arc<Allowlist>>,
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
        let aws_origins = aws_stand_ins(env);
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
            allowed: None,
        }
    }

    /// The HTTP client for `target`: the shared one, or one that also trusts
    /// its extra roots (kept while in use: [`TrustCache`]).
    fn http_for(&self, target: &S3Target) -> SharedHttpClient {
        let Some(pem) = &target.trust else {
            return self.http.clone();
        };
        // Roots that do not parse fail the handshake later, with a TLS reason.
        self.trusting.get_or_build(pem, Instant::now(), || {
            https_client(Some(pem)).unwrap_or_else(|_| self.http.clone())
        })
    }

    /// Whose STS and IAM `target`'s credentials are for.
    fn home(&self, target: &S3Target) -> Home {
        match &target.endpoint {
            Some(ep) if !is_aws_home(Some(ep), &self.aws_origins) => Home::Store(ep.clone()),
            _ => Home::Aws,
        }
    }

    /// `b` sending requests only where the allowlist allows (each final
    /// URI), for an STS that is not AWS's nor the administrator's.
    fn guarded(&self, b: aws_sdk_sts::config::Builder) -> aws_sdk_sts::config::Builder {
        match &self.allowed {
            Some(allowed) => b.interceptor(Destinations::new(allowed.clone())),
            None => b,
        }
    }

    /// Send requests to stores only where `allowed` allows (the final URI
    /// of each), path style unless it allows their virtual hosts.
    pub fn with_allowlist(mut self, allowed: Allowlist) -> Self {
        self.allowed = Some(Arc::new(allowed));
        self
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
            // An STS of the connection's own is trusted with the public
            // roots only: `spec.caSecretRef` is for its store.
            .http_client(match target.sts_endpoint {
                Some(_) => self.http.clone(),
                None => self.http_for(target),
            })
            .timeout_config(self.timeouts.config())
            .retry_config(retry_config());
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        if let Some(c) = credentials {
            b = b.credentials_provider(c);
        }
        // The connection's own STS (`spec.stsEndpoint`, which the allowlist
        // allowed), else a store's: each request's final URI is checked again.
        let own = match (&target.sts_endpoint, self.home(target)) {
            (Some(sts), _) => Some(sts.clone()),
            (None, Home::Store(ep)) => Some(ep),
            (None, Home::Aws) => None,
        };
        let endpoint = match own {
            Some(ep) => {
                b = self.guarded(b);
                Some(ep)
            }
            None => self.sts_endpoint.clone(),
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

    fn operator_sts(&self, target: &S3Target) -> Option<aws_sdk_sts::Client> {
        let base = self.operator.as_ref()?;
        let mut b =
            aws_sdk_sts::config::Builder::from(base).region(Region::new(target.region.clone()));
        if let Some(r) = &self.recorder {
            b = b.interceptor(r.clone());
        }
        match &target.sts_endpoint {
            Some(sts) => b = self.guarded(b).endpoint_url(sts),
            None => {
                if let Some(ep) = &self.sts_endpoint {
                    b = b.endpoint_url(ep);
                }
            }
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
        if let Home::Store(ep) = self.home(target) {
            // `<bucket>.<host>` may resolve anywhere that domain's DNS says:
            // only where the administrator allowed its virtual hosts.
            match &self.allowed {
                Some(allowed) => {
                    if !allowed.allows_virtual_hosts(&ep) {
                        b = b.force_path_style(true);
                    }
                    b = b.interceptor(Destinations::new(allowed.clone()));
                }
                None => b = b.force_path_style(true),
            }
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

    fn is_store(&self, target: &S3Target) -> bool {
        matches!(self.home(target), Home::Store(_))
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
            sts_endpoint: None,
            force_path_style: false,
            trust: None,
        };
        let store = S3Target {
            region: "us-east-1".into(),
            endpoint: Some("https://minio.example.com:9000".into()),
            sts_endpoint: None,
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
        // A connection's own STS replaces all of those, for AWS and stores.
        let fips = "https://sts-fips.us-east-1.amazonaws.com";
        for t in [&aws_target, &store, &moto] {
            let own = S3Target {
                sts_endpoint: Some(fips.into()),
                ..t.clone()
            };
            assert_eq!(f.sts(&own, None).location, fips);
        }
    }
}
