//! The bare client: per connection the requests the operator sends per
//! validation, with the same SDK, the same client settings (timeouts,
//! retries, checksums, path style) and ONE shared HTTP client, at the same
//! concurrency, against the same kind of relay in front of moto. Nothing
//! Kubernetes: no Secret read, no status write, no event.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use futures::StreamExt;
use testkit::REGION;

pub struct BareResult {
    pub total: Duration,
    /// Per connection, all seven calls.
    pub per_connection: Vec<Duration>,
    pub errors: Vec<String>,
    /// SimulatePrincipalPolicy failures (expected against moto: it does not
    /// implement it).
    pub simulate_errors: u64,
    pub simulate_example: Option<String>,
}

/// As the operator sets them (src/aws/mod.rs): 3 attempts, 200ms initial
/// backoff, 2s max; connect 5s, attempt 10s, operation 30s.
fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2))
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

/// The three SDK clients, on ONE shared HTTP client, set as the operator
/// sets them.
#[derive(Clone)]
pub struct Clients {
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
}

impl Clients {
    pub fn new(endpoint: &str, creds: Credentials) -> Clients {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .credentials_provider(creds.clone())
                .http_client(http.clone())
                .timeout_config(timeouts())
                .retry_config(retry())
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint)
                .credentials_provider(creds.clone())
                .http_client(http.clone())
                .timeout_config(timeouts())
                .retry_config(retry())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint)
                .credentials_provider(creds)
                .http_client(http)
                .timeout_config(timeouts())
                .retry_config(retry())
                .build(),
        );
        Clients { s3, sts, iam }
    }
}

pub async fn run(
    endpoint: &str,
    creds: Credentials,
    bucket: &str,
    run_id: &str,
    n: u64,
    concurrency: u64,
) -> BareResult {
    let clients = Clients::new(endpoint, creds);
    let one = |i: u64| {
        let clients = clients.clone();
        async move {
            let started = Instant::now();
            let r = validate(&clients, bucket, &format!("bare-{run_id}-{i}"))
                .await
                .map(|(_, sim)| sim);
            (started.elapsed(), r)
        }
    };
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter((0..n).map(one))
        .buffer_unordered(concurrency.max(1) as usize)
        .collect()
        .await;
    let total = started.elapsed();
    let mut out = BareResult {
        total,
        per_connection: vec![],
        errors: vec![],
        simulate_errors: 0,
        simulate_example: None,
    };
    for (took, r) in results {
        out.per_connection.push(took);
        match r {
            Ok(None) => {}
            Ok(Some(sim)) => {
                out.simulate_errors += 1;
                out.simulate_example.get_or_insert(sim);
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// One "validation", its probe object named by `uid`: the caller's ARN,
/// and Some(e) when only SimulatePrincipalPolicy failed.
pub async fn validate(
    clients: &Clients,
    bucket: &str,
    uid: &str,
) -> Result<(String, Option<String>), String> {
    let Clients { s3, sts, iam } = clients;
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("GetCallerIdentity: {e:?}"))?;
    let arn = who.arn.unwrap_or_default();
    // moto answers 403 to HeadBucket for this policy (as S3 does for
    // prefix-scoped keys); the operator goes on after a 403, so does this.
    if let Err(e) = s3.head_bucket().bucket(bucket).send().await
        && e.raw_response().map(|r| r.status().as_u16()) != Some(403)
    {
        return Err(format!("HeadBucket: {e:?}"));
    }
    s3.list_objects_v2()
        .bucket(bucket)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| format!("ListObjectsV2: {e:?}"))?;
    let key = format!(".s3connection-probe/{uid}");
    let body = format!("s3c-bench bare client probe {uid}\n");
    // The operator's marker: the UID and a MAC (64 hex digits).
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .if_none_match("*")
        .metadata("s3connection-uid", uid)
        .metadata("s3connection-mac", "0".repeat(64))
        .content_type("text/plain")
        .body(ByteStream::from(body.clone().into_bytes()))
        .send()
        .await
        .map_err(|e| format!("PutObject: {e:?}"))?;
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| format!("GetObject: {e:?}"))?;
    let read = got
        .body
        .collect()
        .await
        .map_err(|e| format!("GetObject body: {e:?}"))?
        .into_bytes();
    if read.as_ref() != body.as_bytes() {
        return Err("GetObject: the body read back differs".into());
    }
    s3.delete_object()
        .bucket(bucket)
        .key(&key)
        .set_if_match(put.e_tag)
        .send()
        .await
        .map_err(|e| format!("DeleteObject: {e:?}"))?;
    let sim = iam
        .simulate_principal_policy()
        .policy_source_arn(&arn)
        .action_names("s3:ReplicateObject")
        .resource_arns(format!("arn:aws:s3:::{bucket}/*"))
        .send()
        .await;
    let sim = sim.err().map(|e| {
        let s = format!("{e}");
        s.chars().take(200).collect()
    });
    Ok((arn, sim))
}
