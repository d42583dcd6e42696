//! The state the fake S3/STS/IAM answers from, shared by a test and its
//! fake clients.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

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
