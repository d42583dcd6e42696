//! Test doubles for unit tests: a small stateful fake of S3/STS/IAM answering
//! through `aws-smithy-mocks`, so the probe engine and the reconciler can be
//! exercised without a network. Retries are off in these clients: the SDK's
//! retry loop is not what the tests are about. Integration tests under
//! `tests/` use a real API server and a real S3/STS/IAM endpoint instead.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::RequestPayer;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;

use crate::aws::{AwsFactory, Remote, S3Target};

/// What the fake S3 knows and allows.
#[derive(Debug, Clone)]
pub struct World {
    /// The bucket exists (else 404 NoSuchBucket, HEAD: bare 404).
    pub bucket_exists: bool,
    /// The bucket's region, as HeadBucket answers it.
    pub bucket_region: String,
    /// Denied actions: "head", "list", "get", "put", "delete".
    pub deny: HashSet<&'static str>,
    /// S3 answers InvalidAccessKeyId (HEAD: bare 403).
    pub unknown_key: bool,
    /// S3 answers SignatureDoesNotMatch.
    pub bad_secret: bool,
    /// PutObject answers 501 NotImplemented (no conditional writes).
    pub no_conditional_writes: bool,
    /// Every S3 call answers 503 SlowDown.
    pub throttled: bool,
    /// GetObject returns this instead of the stored body.
    pub corrupt_reads: Option<Vec<u8>>,
    /// The bucket's objects: key → body.
    pub objects: HashMap<String, Vec<u8>>,
    /// User metadata of objects (the probe marker among it).
    pub metadata: HashMap<String, HashMap<String, String>>,
    /// DeleteObject answers 501 NotImplemented to `If-Match`.
    pub no_conditional_deletes: bool,
    /// Keys a DeleteObject carried `If-Match` for.
    pub conditional_deletes: Vec<String>,
    /// Objects change between reading them and DeleteObject (If-Match
    /// fails).
    pub replaced_after_head: bool,
    /// PutObject and GetObject answer without an ETag.
    pub no_etags: bool,
    /// Keys DeleteObject was called for without `If-Match`.
    pub plain_deletes: Vec<String>,
    /// Successful PutObject calls.
    pub writes: usize,
    /// Keys DeleteObject was called for (allowed or not).
    pub delete_calls: Vec<String>,
    /// STS GetCallerIdentity answer: `Ok(arn)` or `Err(code)`.
    pub caller: Result<String, String>,
    /// STS GetCallerIdentity calls.
    pub caller_calls: usize,
    /// IAM SimulatePrincipalPolicy calls.
    pub simulation_calls: usize,
    /// STS AssumeRole calls (operator identity), as sent.
    pub assume_role_calls: Vec<AssumeRoleCall>,
    /// IAM SimulatePrincipalPolicy decision (`allowed`, `explicitDeny`, ...)
    /// or `Err(code)`.
    pub simulation: Result<String, String>,
    /// The account that owns the bucket; a request whose
    /// `x-amz-expected-bucket-owner` differs gets 403 AccessDenied.
    pub owner: String,
    /// A Requester Pays bucket: requests without `x-amz-request-payer:
    /// requester` get 403 AccessDenied (HeadBucket answers anyway).
    pub requester_pays: bool,
    /// A bucket policy denies PutObject without this
    /// `x-amz-server-side-encryption`.
    pub required_encryption: Option<String>,
    /// The checksum algorithm each PutObject that got this far named.
    pub put_checksums: Vec<Option<String>>,
    /// S3's answer when KMS refuses: `(action, code, message)`, for
    /// "put" (an SSE-KMS write) or "get" (reading it back).
    pub kms_refuses: Option<(&'static str, String, String)>,
    /// A versioned bucket with Object Lock default retention: each write
    /// makes a version `v<n>`, a plain delete a delete marker `m<n>`.
    pub object_lock: bool,
    /// Versions still in the bucket (written, not removed).
    pub versions: HashSet<String>,
    /// The retention has not ended: deleting a version answers as MinIO does.
    pub retention_running: bool,
}

impl Default for World {
    fn default() -> Self {
        Self {
            bucket_exists: true,
            bucket_region: "us-east-1".into(),
            deny: HashSet::new(),
            unknown_key: false,
            bad_secret: false,
            no_conditional_writes: false,
            throttled: false,
            corrupt_reads: None,
            objects: HashMap::new(),
            metadata: HashMap::new(),
            no_conditional_deletes: false,
            conditional_deletes: vec![],
            replaced_after_head: false,
            no_etags: false,
            plain_deletes: vec![],
            writes: 0,
            delete_calls: vec![],
            caller: Ok("arn:aws:iam::123456789012:user/sync".into()),
            simulation: Err("NotImplemented".into()),
            assume_role_calls: vec![],
            caller_calls: 0,
            simulation_calls: 0,
            owner: "123456789012".into(),
            requester_pays: false,
            required_encryption: None,
            put_checksums: vec![],
            kms_refuses: None,
            object_lock: false,
            versions: HashSet::new(),
            retention_running: false,
        }
    }
}

/// The world the fake clients answer from, shared with the test.
pub type Shared = Arc<Mutex<World>>;

/// What an AssumeRole request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleCall {
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `RoleSessionName`.
    pub session_name: String,
}

/// An S3 error response (XML `<Error>` with `code`).
pub fn s3_error(status: u16, code: &str) -> HttpResponse {
    s3_error_saying(status, code, &format!("{code} from the fake"))
}

/// An S3 error response with `code` and `message`.
pub fn s3_error_saying(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>r</RequestId></Error>"
        )),
    )
}

/// An STS or IAM error response (XML `<ErrorResponse>` with `code`).
pub fn query_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} from the fake</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )),
    )
}

fn head_response(status: u16, region: &str) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
    r.headers_mut()
        .insert("x-amz-bucket-region", region.to_string());
    r
}

/// The answer for an authenticated call on a body-carrying S3 operation,
/// or `None` to go on.
fn gate(
    w: &World,
    action: &str,
    expected_owner: Option<&str>,
    payer: Option<&RequestPayer>,
) -> Option<HttpResponse> {
    if w.throttled {
        return Some(s3_error(503, "SlowDown"));
    }
    // A Requester Pays bucket refuses requests that do not accept the charges.
    if w.requester_pays && payer != Some(&RequestPayer::Requester) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if expected_owner.is_some_and(|o| o != w.owner) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if w.unknown_key {
        return Some(s3_error(403, "InvalidAccessKeyId"));
    }
    if w.bad_secret {
        return Some(s3_error(403, "SignatureDoesNotMatch"));
    }
    if !w.bucket_exists {
        return Some(s3_error(404, "NoSuchBucket"));
    }
    if w.deny.contains(action) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if let Some((refused, code, message)) = &w.kms_refuses
        && *refused == action
    {
        let status = if code.starts_with("KMS.") { 400 } else { 403 };
        return Some(s3_error_saying(status, code, message));
    }
    None
}

/// Mock rules answering HeadBucket, ListObjectsV2, PutObject, GetObject,
/// DeleteObject and HeadObject from `world`, as S3 would.
pub fn s3_rules(world: &Shared) -> Vec<Rule> {
    let w = world.clone();
    let head = mock!(aws_sdk_s3::Client::head_bucket).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        if w.throttled {
            return MockResponse::Http(head_response(503, &w.bucket_region));
        }
        if !w.bucket_exists {
            return MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::empty(),
            ));
        }
        let wrong_owner = req.expected_bucket_owner().is_some_and(|o| o != w.owner);
        if w.unknown_key || w.bad_secret || w.deny.contains("head") || wrong_owner {
            return MockResponse::Http(head_response(403, &w.bucket_region));
        }
        MockResponse::Output(
            HeadBucketOutput::builder()
                .bucket_region(w.bucket_region.clone())
                .build(),
        )
    });
    let w = world.clone();
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        match gate(&w, "list", req.expected_bucket_owner(), req.request_payer()) {
            Some(r) => MockResponse::Http(r),
            None => MockResponse::Output(ListObjectsV2Output::builder().build()),
        }
    });
    let w = world.clone();
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_response(move |req| {
        let mut w = w.lock().unwrap();
        if let Some(r) = gate(&w, "put", req.expected_bucket_owner(), req.request_payer()) {
            return MockResponse::Http(r);
        }
        if w.no_conditional_writes {
            return MockResponse::Http(s3_error(501, "NotImplemented"));
        }
        // A bucket policy that denies writes without this encryption.
        if let Some(required) = &w.required_encryption
            && req.server_side_encryption().map(|e| e.as_str()) != Some(required.as_str())
        {
            return MockResponse::Http(s3_error(403, "AccessDenied"));
        }
        w.put_checksums
            .push(req.checksum_algorithm().map(|c| c.as_str().to_string()));
        let key = req.key().unwrap_or_default().to_string();
        assert_eq!(
            req.if_none_match(),
            Some("*"),
            "probe writes must use If-None-Match: *"
        );
        if w.objects.contains_key(&key) {
            return MockResponse::Http(s3_error(412, "PreconditionFailed"));
        }
        let body = req.body().bytes().unwrap_or_default().to_vec();
        w.metadata
            .insert(key.clone(), req.metadata().cloned().unwrap_or_default());
        let tag = (!w.no_etags).then(|| etag(&body));
        w.objects.insert(key, body);
        w.writes += 1;
        let version = w.object_lock.then(|| format!("v{}", w.writes));
        if let Some(v) = &version {
            w.versions.insert(v.clone());
        }
        MockResponse::Output(
            PutObjectOutput::builder()
                .set_e_tag(tag)
                .set_version_id(version)
                .build(),
        )
    });
    let w = world.clone();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        if let Some(r) = gate(&w, "get", req.expected_bucket_owner(), req.request_payer()) {
            return MockResponse::Http(r);
        }
        let key = req.key().unwrap_or_default();
        match w.objects.get(key) {
            Some(body) => {
                let tag = (!w.no_etags).then(|| etag(body));
                let body = w.corrupt_reads.clone().unwrap_or_else(|| body.clone());
                MockResponse::Output(
                    GetObjectOutput::builder()
                        .set_e_tag(tag)
                        .set_metadata(w.metadata.get(key).cloned())
                        .content_length(body.len() as i64)
                        .body(ByteStream::from(body))
                        .build(),
                )
            }
            // Real S3 hides missing keys from callers without s3:ListBucket.
            None if w.deny.contains("list") => MockResponse::Http(s3_error(403, "AccessDenied")),
            None => MockResponse::Http(s3_error(404, "NoSuchKey")),
        }
    });
    let w = world.clone();
    let delete = mock!(aws_sdk_s3::Client::delete_object).then_compute_response(move |req| {
        let mut w = w.lock().unwrap();
        let key = req.key().unwrap_or_default().to_string();
        w.delete_calls.push(key.clone());
        if let Some(r) = gate(
            &w,
            "delete",
            req.expected_bucket_owner(),
            req.request_payer(),
        ) {
            return MockResponse::Http(r);
        }
        if let Some(v) = req.version_id() {
            if v.starts_with('v') && w.retention_running {
                return MockResponse::Http(s3_error_saying(
                    400,
                    "InvalidRequest",
                    "Object is WORM protected and cannot be overwritten",
                ));
            }
            w.versions.remove(v);
            return MockResponse::Output(DeleteObjectOutput::builder().version_id(v).build());
        }
        if let Some(tag) = req.if_match() {
            if w.no_conditional_deletes {
                return MockResponse::Http(s3_error(501, "NotImplemented"));
            }
            w.conditional_deletes.push(key.clone());
            let current = w.objects.get(&key).map(|b| etag(b));
            if w.replaced_after_head || current.as_deref() != Some(tag) {
                return MockResponse::Http(s3_error(412, "PreconditionFailed"));
            }
        } else {
            w.plain_deletes.push(key.clone());
        }
        w.objects.remove(&key);
        w.metadata.remove(&key);
        if w.object_lock {
            let marker = format!("m{}", w.delete_calls.len());
            return MockResponse::Output(
                DeleteObjectOutput::builder()
                    .delete_marker(true)
                    .version_id(marker)
                    .build(),
            );
        }
        MockResponse::Output(DeleteObjectOutput::builder().build())
    });
    let w = world.clone();
    let head_object = mock!(aws_sdk_s3::Client::head_object).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        let bare = |status: u16| {
            MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::empty(),
            ))
        };
        let wrong_owner = req.expected_bucket_owner().is_some_and(|o| o != w.owner);
        if w.deny.contains("get") || w.unknown_key || w.bad_secret || wrong_owner {
            return bare(403);
        }
        let key = req.key().unwrap_or_default();
        match w.objects.get(key) {
            Some(body) => MockResponse::Output(
                HeadObjectOutput::builder()
                    .e_tag(etag(body))
                    .set_metadata(w.metadata.get(key).cloned())
                    .content_length(body.len() as i64)
                    .build(),
            ),
            None if w.deny.contains("list") => bare(403),
            None => bare(404),
        }
    });
    vec![head, list, put, get, delete, head_object]
}

/// The ETag the fake gives a body.
pub fn etag(body: &[u8]) -> String {
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    format!("\"{:x}-{}\"", sum, body.len())
}

/// The marker metadata of a probe object written for connection `uid` at
/// `key` with `body`, signed with `keys`.
pub fn marker(
    keys: &crate::probe::MarkerKeys,
    uid: &str,
    key: &str,
    body: &[u8],
) -> HashMap<String, String> {
    HashMap::from([
        (crate::probe::MARKER.to_string(), uid.to_string()),
        (crate::probe::MAC.to_string(), keys.sign(uid, key, body)),
    ])
}

/// An S3 client answered by the fake `world`.
pub fn s3_client(world: &Shared) -> aws_sdk_s3::Client {
    let rules = s3_rules(world);
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// An STS client answered by the fake `world`: GetCallerIdentity from
/// `World::caller`; AssumeRole and AssumeRoleWithWebIdentity with
/// credentials, or with what `assume` returns.
pub fn sts_client(world: &Shared, assume: Option<HttpResponseFn>) -> aws_sdk_sts::Client {
    use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    let w = world.clone();
    let who = mock!(aws_sdk_sts::Client::get_caller_identity).then_compute_response(move |_| {
        let mut w = w.lock().unwrap();
        w.caller_calls += 1;
        match &w.caller {
            Ok(arn) => MockResponse::Output(GetCallerIdentityOutput::builder().arn(arn).build()),
            Err(code) => MockResponse::Http(query_error(403, code)),
        }
    });
    let creds = || {
        aws_sdk_sts::types::Credentials::builder()
            .access_key_id("ASIAASSUMED")
            .secret_access_key("assumed-secret")
            .session_token("assumed-token")
            .expiration(aws_smithy_types::DateTime::from_secs(4_000_000_000))
            .build()
            .unwrap()
    };
    let a = assume.clone();
    let web = mock!(aws_sdk_sts::Client::assume_role_with_web_identity).then_compute_response(
        move |_| match &a {
            Some(f) => MockResponse::Http(f()),
            None => MockResponse::Output(
                AssumeRoleWithWebIdentityOutput::builder()
                    .credentials(creds())
                    .build(),
            ),
        },
    );
    let w = world.clone();
    let role = mock!(aws_sdk_sts::Client::assume_role).then_compute_response(move |req| {
        w.lock().unwrap().assume_role_calls.push(AssumeRoleCall {
            external_id: req.external_id().map(str::to_string),
            session_name: req.role_session_name().unwrap_or_default().to_string(),
        });
        match &assume {
            Some(f) => MockResponse::Http(f()),
            None => MockResponse::Output(AssumeRoleOutput::builder().credentials(creds()).build()),
        }
    });
    let rules = [who, web, role];
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// Makes the HTTP response a fake call answers with.
pub type HttpResponseFn = Arc<dyn Fn() -> HttpResponse + Send + Sync>;

/// An IAM client answered by the fake `world` (SimulatePrincipalPolicy from
/// `World::simulation`).
pub fn iam_client(world: &Shared) -> aws_sdk_iam::Client {
    use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
    use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
    let w = world.clone();
    let sim =
        mock!(aws_sdk_iam::Client::simulate_principal_policy).then_compute_response(move |_| {
            let mut w = w.lock().unwrap();
            w.simulation_calls += 1;
            match &w.simulation {
                Ok(decision) => MockResponse::Output(
                    SimulatePrincipalPolicyOutput::builder()
                        .evaluation_results(
                            EvaluationResult::builder()
                                .eval_action_name("s3:ReplicateObject")
                                .eval_decision(PolicyEvaluationDecisionType::from(
                                    decision.as_str(),
                                ))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                ),
                Err(code) => MockResponse::Http(query_error(403, code)),
            }
        });
    let rules = [sim];
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// An [`AwsFactory`] handing out clients backed by the fake world.
pub struct FakeAws {
    /// What the fake clients answer from.
    pub world: Shared,
    /// The S3 client handed out for every target.
    pub s3: aws_sdk_s3::Client,
    /// The STS client handed out for every target (and as the operator's).
    pub sts: aws_sdk_sts::Client,
    /// The IAM client handed out for every target.
    pub iam: aws_sdk_iam::Client,
    /// The operator's own identity is enabled.
    pub operator_identity: bool,
    /// Credentials the S3 client was last asked for (to check which were used).
    pub used: Mutex<Vec<Credentials>>,
    /// Building an S3 client panics (a stand-in for a bug in a validation).
    pub panic_in_s3: bool,
}

impl FakeAws {
    /// Clients answered by `world`; `assume` as for [`sts_client`].
    pub fn new(world: World, assume: Option<HttpResponseFn>) -> Self {
        let world = Arc::new(Mutex::new(world));
        Self {
            s3: s3_client(&world),
            sts: sts_client(&world, assume),
            iam: iam_client(&world),
            world,
            operator_identity: false,
            used: Mutex::default(),
            panic_in_s3: false,
        }
    }
}

impl AwsFactory for FakeAws {
    fn sts(
        &self,
        _target: &S3Target,
        _credentials: Option<Credentials>,
    ) -> Remote<aws_sdk_sts::Client> {
        Remote {
            client: self.sts.clone(),
            location: "https://sts.fake".into(),
        }
    }
    fn operator_sts(&self, _region: &str) -> Option<aws_sdk_sts::Client> {
        self.operator_identity.then(|| self.sts.clone())
    }
    fn s3(&self, _target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client {
        assert!(!self.panic_in_s3, "a bug while building the S3 client");
        self.used.lock().unwrap().push(credentials);
        self.s3.clone()
    }
    fn iam(
        &self,
        _target: &S3Target,
        _credentials: Credentials,
    ) -> Option<Remote<aws_sdk_iam::Client>> {
        Some(Remote {
            client: self.iam.clone(),
            location: "https://iam.fake".into(),
        })
    }
}
