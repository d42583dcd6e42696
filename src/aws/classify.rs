//! Classification of AWS SDK errors into what they mean for a connection.
//!
//! [`classify`] is a pure function over the facts of a failed call
//! ([`ErrorFacts`], pulled out by [`super::facts`]), unit-tested without
//! any network. The caller says which operation failed ([`Op`]) so a bare
//! 404 can mean a missing bucket or a missing key. [`attempt`] awaits a
//! call and does both.

use std::future::Future;
use std::sync::LazyLock;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use regex::Regex;

use super::facts::{ErrorFacts, FailureKind, facts};
use super::kms::{self, KmsRefusal};
use super::lock;

/// The operation that failed; it decides what a bare status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Op {
    /// S3 HeadBucket.
    HeadBucket,
    /// S3 ListObjectsV2.
    #[strum(serialize = "ListObjectsV2")]
    ListObjects,
    /// S3 PutObject.
    PutObject,
    /// S3 GetObject.
    GetObject,
    /// S3 HeadObject.
    HeadObject,
    /// S3 DeleteObject.
    DeleteObject,
    /// Any STS call.
    Sts,
    /// Any IAM call.
    Iam,
}

impl Op {
    /// The API name, for messages.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A failed call: what it means, and the facts for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What it means.
    pub class: Class,
    /// What the answer said, for messages.
    pub facts: ErrorFacts,
}

impl Failure {
    /// The failure `err` of `op`, classified.
    pub fn of<E: ProvideErrorMetadata>(op: Op, err: &SdkError<E, HttpResponse>) -> Self {
        let facts = facts(err);
        Self {
            class: classify(op, &facts),
            facts,
        }
    }

    /// `code, HTTP status` or what else is known, for messages.
    pub fn describe(&self) -> String {
        self.facts.describe()
    }
}

/// Await one SDK call; classify its failure.
pub async fn attempt<T, E: ProvideErrorMetadata>(
    op: Op,
    call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, Failure> {
    call.await.map_err(|e| Failure::of(op, &e))
}

/// What a failed call means for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// The caller is not allowed to do this (`AccessDenied`, bare 403).
    Denied,
    /// The credentials themselves were rejected, with this code.
    InvalidCredentials(CredentialCode),
    /// The bucket does not exist (`NoSuchBucket`, or a bare 404 for a
    /// bucket operation).
    NoSuchBucket,
    /// The key does not exist (`NoSuchKey`, or a bare 404 for an object
    /// operation).
    NoSuchKey,
    /// The bucket lives in another region (if known, which one).
    WrongRegion(Option<String>),
    /// `If-None-Match: *` found an existing object.
    PreconditionFailed,
    /// The endpoint does not implement the request (e.g. conditional writes).
    NotImplemented,
    /// No connection to the endpoint.
    Unreachable,
    /// An answer that is not the API's: not S3 at this address, or an
    /// endpoint misbehaving.
    Malformed(String),
    /// TLS to the endpoint failed (why).
    Tls(String),
    /// Timeouts, throttling, 5xx, conflicts: worth retrying later.
    Transient(String),
    /// Anything else, with the code or status for the message.
    Other(String),
    /// Not sent: the request's final URI is not an allowed endpoint (why).
    Refused(String),
    /// S3 refused because KMS did: the key of an SSE-KMS object.
    Kms(KmsRefusal),
    /// The bucket's Object Lock retains the object version.
    Retained,
}

/// The error code with which a service rejected the credentials themselves
/// ([`Class::InvalidCredentials`]). Each variant is named exactly as AWS
/// spells the code ([`CredentialCode::as_str`]): decisions are made on the
/// variant, and a message shows the code as this operator spells it, never
/// a server's own string.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::EnumIter,
)]
pub enum CredentialCode {
    /// S3: no such access key ID (deleted, deactivated, or from another
    /// account or endpoint).
    InvalidAccessKeyId,
    /// S3: the signature does not match: the secret access key is wrong.
    SignatureDoesNotMatch,
    /// STS and IAM: no such access key ID or session token.
    InvalidClientTokenId,
    /// The session token is malformed or invalid.
    InvalidToken,
    /// The session token has expired.
    ExpiredToken,
    /// The session token has expired (services with JSON errors).
    ExpiredTokenException,
    /// The session token must be refreshed: it has expired.
    TokenRefreshRequired,
    /// No such access key ID (services with JSON errors).
    UnrecognizedClientException,
    /// The request carried no credentials a service accepts.
    MissingAuthenticationToken,
}

impl CredentialCode {
    /// The code a service answers with, e.g. `InvalidAccessKeyId`; `None`
    /// if `code` is not about the credentials themselves.
    pub fn of(code: &str) -> Option<Self> {
        code.parse().ok()
    }

    /// The code as AWS spells it, for messages.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for CredentialCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const DENIED: &[&str] = &["AccessDenied", "AllAccessDisabled", "AccessDeniedException"];
const REGION_CODES: &[&str] = &[
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
    "IncorrectEndpoint",
];
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "OperationAborted",
    "ConditionalRequestConflict",
    "IDPCommunicationError",
];

static EXPECTING_REGION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"expecting '([a-z0-9-]+)'").unwrap());

/// What the failure `f` of `op` means for the connection. An error code
/// decides when there is one; otherwise the status does, and for a bare
/// 404 the operation.
pub fn classify(op: Op, f: &ErrorFacts) -> Class {
    match f.kind {
        FailureKind::Unreachable => return Class::Unreachable,
        FailureKind::Timeout => return Class::Transient("timed out".into()),
        FailureKind::Client => return Class::Other("client error".into()),
        FailureKind::Refused => return Class::Refused(f.message.clone().unwrap_or_default()),
        FailureKind::Malformed => return Class::Malformed(f.describe()),
        FailureKind::Tls => return Class::Tls(f.message.clone().unwrap_or_default()),
        FailureKind::Response => {}
    }
    let status = f.status.unwrap_or(0);
    if let Some(code) = f.code.as_deref() {
        if let Some(k) = kms::refusal(code, f.message.as_deref()) {
            return Class::Kms(k);
        }
        if lock::retained(code, f.message.as_deref()) {
            return Class::Retained;
        }
        if DENIED.contains(&code) {
            return Class::Denied;
        }
        if let Some(rejected) = CredentialCode::of(code) {
            return Class::InvalidCredentials(rejected);
        }
        if code == "NoSuchBucket" {
            return Class::NoSuchBucket;
        }
        if code == "NoSuchKey" {
            return Class::NoSuchKey;
        }
        if REGION_CODES.contains(&code) {
            return Class::WrongRegion(region_hint(f));
        }
        if code == "PreconditionFailed" {
            return Class::PreconditionFailed;
        }
        if code == "NotImplemented" {
            return Class::NotImplemented;
        }
        if TRANSIENT_CODES.contains(&code) {
            return Class::Transient(f.describe());
        }
    }
    match status {
        301 | 307 => Class::WrongRegion(region_hint(f)),
        400 if f.code.is_none() && f.region_header.is_some() => Class::WrongRegion(region_hint(f)),
        403 if f.code.is_none() => Class::Denied,
        404 if f.code.is_none() => match op {
            Op::HeadBucket | Op::ListObjects => Class::NoSuchBucket,
            Op::GetObject | Op::HeadObject | Op::DeleteObject | Op::PutObject => Class::NoSuchKey,
            Op::Sts | Op::Iam => Class::Other(f.describe()),
        },
        412 => Class::PreconditionFailed,
        409 => Class::Transient(f.describe()),
        429 => Class::Transient(f.describe()),
        501 => Class::NotImplemented,
        500..=599 => Class::Transient(f.describe()),
        _ => Class::Other(f.describe()),
    }
}

fn region_hint(f: &ErrorFacts) -> Option<String> {
    if let Some(r) = &f.region_header
        && !r.is_empty()
    {
        return Some(r.clone());
    }
    f.message
        .as_deref()
        .and_then(|m| EXPECTING_REGION.captures(m))
        .map(|c| c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, code: Option<&str>) -> ErrorFacts {
        ErrorFacts::response(status, code)
    }

    #[test]
    fn codes_win_over_status() {
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("AccessDenied"))),
            Class::Denied
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("InvalidAccessKeyId"))),
            Class::InvalidCredentials(CredentialCode::InvalidAccessKeyId)
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("SignatureDoesNotMatch"))),
            Class::InvalidCredentials(CredentialCode::SignatureDoesNotMatch)
        );
        assert_eq!(
            classify(Op::Sts, &resp(403, Some("InvalidClientTokenId"))),
            Class::InvalidCredentials(CredentialCode::InvalidClientTokenId)
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(400, Some("ExpiredToken"))),
            Class::InvalidCredentials(CredentialCode::ExpiredToken)
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(404, Some("NoSuchBucket"))),
            Class::NoSuchBucket
        );
        assert_eq!(
            classify(Op::GetObject, &resp(404, Some("NoSuchKey"))),
            Class::NoSuchKey
        );
        assert_eq!(
            classify(Op::PutObject, &resp(412, Some("PreconditionFailed"))),
            Class::PreconditionFailed
        );
        assert!(matches!(
            classify(
                Op::PutObject,
                &resp(409, Some("ConditionalRequestConflict"))
            ),
            Class::Transient(_)
        ));
        assert!(matches!(
            classify(Op::ListObjects, &resp(503, Some("SlowDown"))),
            Class::Transient(_)
        ));
        assert_eq!(
            classify(Op::PutObject, &resp(501, Some("NotImplemented"))),
            Class::NotImplemented
        );
    }

    #[test]
    fn credential_codes_are_spelled_as_aws_spells_them() {
        use strum::IntoEnumIterator;
        for c in CredentialCode::iter() {
            assert_eq!(CredentialCode::of(c.as_str()), Some(c));
            assert_eq!(
                classify(Op::ListObjects, &resp(403, Some(c.as_str()))),
                Class::InvalidCredentials(c)
            );
        }
        // Exactly: no other spelling, and other codes are not about them.
        assert_eq!(CredentialCode::of("invalidaccesskeyid"), None);
        assert_eq!(CredentialCode::of("AccessDenied"), None);
        assert_eq!(CredentialCode::ExpiredToken.to_string(), "ExpiredToken");
    }

    #[test]
    fn head_responses_are_classified_by_status() {
        assert_eq!(classify(Op::HeadBucket, &resp(403, None)), Class::Denied);
        assert_eq!(
            classify(Op::HeadBucket, &resp(404, None)),
            Class::NoSuchBucket
        );
        assert_eq!(classify(Op::GetObject, &resp(404, None)), Class::NoSuchKey);
        let mut moved = resp(301, None);
        moved.region_header = Some("eu-west-1".into());
        assert_eq!(
            classify(Op::HeadBucket, &moved),
            Class::WrongRegion(Some("eu-west-1".into()))
        );
        let mut bad_region = resp(400, None);
        bad_region.region_header = Some("ap-south-1".into());
        assert_eq!(
            classify(Op::HeadBucket, &bad_region),
            Class::WrongRegion(Some("ap-south-1".into()))
        );
        assert!(matches!(
            classify(Op::HeadBucket, &resp(500, None)),
            Class::Transient(_)
        ));
        assert!(matches!(
            classify(Op::HeadBucket, &resp(418, None)),
            Class::Other(_)
        ));
    }

    #[test]
    fn wrong_region_is_read_from_the_message_when_no_header() {
        let mut f = resp(400, Some("AuthorizationHeaderMalformed"));
        f.message = Some(
            "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'".into(),
        );
        assert_eq!(
            classify(Op::ListObjects, &f),
            Class::WrongRegion(Some("eu-central-1".into()))
        );
        let f = resp(301, Some("PermanentRedirect"));
        assert_eq!(classify(Op::ListObjects, &f), Class::WrongRegion(None));
    }

    #[test]
    fn network_failures() {
        assert_eq!(
            classify(
                Op::ListObjects,
                &ErrorFacts::of_kind(FailureKind::Unreachable)
            ),
            Class::Unreachable
        );
        assert!(matches!(
            classify(Op::ListObjects, &ErrorFacts::of_kind(FailureKind::Timeout)),
            Class::Transient(_)
        ));
        assert!(matches!(
            classify(Op::ListObjects, &ErrorFacts::of_kind(FailureKind::Client)),
            Class::Other(_)
        ));
    }

    #[test]
    fn unreadable_success_answers_are_malformed() {
        let mut f = resp(200, None);
        f.kind = FailureKind::Malformed;
        assert_eq!(
            classify(Op::ListObjects, &f),
            Class::Malformed("an unreadable answer, HTTP 200".into())
        );
    }
}
