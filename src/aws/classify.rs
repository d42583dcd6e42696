//! Classification of AWS SDK errors into what they mean for a connection.
//!
//! [`facts`] pulls the few things that matter out of an `SdkError` (kind,
//! HTTP status, error code, the `x-amz-bucket-region` header); [`classify`]
//! is a pure function over those facts, unit-tested without any network.
//! HEAD responses carry no body, so for them only the status and headers
//! exist; the caller says which operation failed so a bare 404 can mean a
//! missing bucket or a missing key. [`attempt`] awaits a call and does both.

use std::future::Future;
use std::sync::LazyLock;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use regex::Regex;

use super::tame;

/// How the request failed before any classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A response arrived (possibly without a parseable body).
    Response,
    /// A success status, but a body that could not be read as the API's
    /// answer (not S3 XML, or larger than any answer can be).
    Malformed,
    /// The connection could not be made (DNS, refused, connect timeout).
    Unreachable,
    /// TLS failed: the server's certificate is not trusted or not for this
    /// host (the message says which).
    Tls,
    /// The operation or an attempt timed out after connecting.
    Timeout,
    /// The request could not be built or another client-side problem.
    Client,
}

/// The raw facts of one failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFacts {
    pub kind: FailureKind,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub region_header: Option<String>,
}

impl ErrorFacts {
    pub fn response(status: u16, code: Option<&str>) -> Self {
        Self {
            kind: FailureKind::Response,
            status: Some(status),
            code: code.map(Into::into),
            message: None,
            region_header: None,
        }
    }

    pub fn of_kind(kind: FailureKind) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            message: None,
            region_header: None,
        }
    }

    /// `code` if the response had one, else `HTTP <status>`, else the kind.
    pub fn describe(&self) -> String {
        match (&self.code, self.status) {
            (Some(c), Some(s)) => format!("{c}, HTTP {s}"),
            (Some(c), None) => c.clone(),
            (None, Some(s)) if self.kind == FailureKind::Malformed => {
                format!("an unreadable answer, HTTP {s}")
            }
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) => match self.kind {
                FailureKind::Unreachable => "connection failed".into(),
                FailureKind::Tls => format!(
                    "TLS failed: {}",
                    self.message.as_deref().unwrap_or("handshake error")
                ),
                FailureKind::Timeout => "timed out".into(),
                _ => "client error".into(),
            },
        }
    }
}

/// Extract [`ErrorFacts`] from any SDK error. Everything taken from the
/// response is tamed ([`super::tame`]): it may reach status and logs.
pub fn facts<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorFacts {
    let raw = err.raw_response();
    let status = raw.map(|r| r.status().as_u16());
    let region_header = raw.and_then(|r| r.headers().get("x-amz-bucket-region").map(tame::region));
    match err {
        SdkError::ServiceError(se) => ErrorFacts {
            kind: FailureKind::Response,
            status,
            code: se.err().code().map(tame::code),
            message: se.err().message().map(tame::text),
            region_header,
        },
        SdkError::ResponseError(_) => ErrorFacts {
            kind: if status.is_some_and(|s| (200..300).contains(&s)) {
                FailureKind::Malformed
            } else {
                FailureKind::Response
            },
            status,
            code: None,
            message: None,
            region_header,
        },
        SdkError::TimeoutError(_) => ErrorFacts::of_kind(FailureKind::Timeout),
        // Connect failures and connect/read timeouts surface here: the
        // endpoint could not be talked to.
        SdkError::DispatchFailure(d) if d.is_user() => ErrorFacts::of_kind(FailureKind::Client),
        SdkError::DispatchFailure(d) => match d.as_connector_error().and_then(|c| tls_failure(c)) {
            Some(why) => ErrorFacts {
                message: Some(why),
                ..ErrorFacts::of_kind(FailureKind::Tls)
            },
            None => ErrorFacts::of_kind(FailureKind::Unreachable),
        },
        _ => ErrorFacts::of_kind(FailureKind::Client),
    }
}

/// What went wrong in TLS, if a rustls error is among the causes of `err`
/// (found by type, not by message).
pub fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{CertificateError, Error as Tls};
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<Tls>() {
            return Some(match t {
                Tls::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    "the server's certificate is not signed by a trusted CA".into()
                }
                Tls::InvalidCertificate(CertificateError::NotValidForName)
                | Tls::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
                    "the server's certificate is not for this host name".into()
                }
                Tls::InvalidCertificate(CertificateError::Expired)
                | Tls::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
                    "the server's certificate has expired".into()
                }
                other => tame::text(&format!("{other:?}")),
            });
        }
        // An io::Error's `source()` skips the error it wraps (and the TLS
        // connector wraps io::Errors in io::Errors): look inside.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The operation that failed; it decides what a bare status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Op {
    HeadBucket,
    #[strum(serialize = "ListObjectsV2")]
    ListObjects,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    Sts,
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
    pub class: Class,
    pub facts: ErrorFacts,
}

impl Failure {
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
    /// The credentials themselves were rejected.
    InvalidCredentials(String),
    NoSuchBucket,
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
}

const DENIED: &[&str] = &["AccessDenied", "AllAccessDisabled", "AccessDeniedException"];
const BAD_CREDENTIALS: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "InvalidToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
];
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

pub fn classify(op: Op, f: &ErrorFacts) -> Class {
    match f.kind {
        FailureKind::Unreachable => return Class::Unreachable,
        FailureKind::Timeout => return Class::Transient("timed out".into()),
        FailureKind::Client => return Class::Other("client error".into()),
        FailureKind::Malformed => return Class::Malformed(f.describe()),
        FailureKind::Tls => return Class::Tls(f.message.clone().unwrap_or_default()),
        FailureKind::Response => {}
    }
    let status = f.status.unwrap_or(0);
    if let Some(code) = f.code.as_deref() {
        if DENIED.contains(&code) {
            return Class::Denied;
        }
        if BAD_CREDENTIALS.contains(&code) {
            return Class::InvalidCredentials(code.to_string());
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

    /// An error that hides `inner` behind `source()`, like hyper's.
    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tls connect error")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn tls_failures_are_found_by_type_however_deep() {
        use rustls::{CertificateError, Error as Tls};
        use std::io::{Error, ErrorKind};
        // What the TLS connector hands back: io::Error in io::Error.
        let nested = |e: Tls| Wrapper(Error::other(Error::new(ErrorKind::InvalidData, e)));
        let unknown = nested(Tls::InvalidCertificate(CertificateError::UnknownIssuer));
        assert_eq!(
            tls_failure(&unknown).as_deref(),
            Some("the server's certificate is not signed by a trusted CA")
        );
        let name = nested(Tls::InvalidCertificate(CertificateError::NotValidForName));
        assert!(
            tls_failure(&name)
                .unwrap()
                .contains("not for this host name")
        );
        // Not TLS, whatever the message says.
        let refused = Wrapper(Error::new(ErrorKind::ConnectionRefused, "tls certificate"));
        assert_eq!(tls_failure(&refused), None);
    }

    #[test]
    fn codes_win_over_status() {
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("AccessDenied"))),
            Class::Denied
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("InvalidAccessKeyId"))),
            Class::InvalidCredentials("InvalidAccessKeyId".into())
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(403, Some("SignatureDoesNotMatch"))),
            Class::InvalidCredentials("SignatureDoesNotMatch".into())
        );
        assert_eq!(
            classify(Op::Sts, &resp(403, Some("InvalidClientTokenId"))),
            Class::InvalidCredentials("InvalidClientTokenId".into())
        );
        assert_eq!(
            classify(Op::ListObjects, &resp(400, Some("ExpiredToken"))),
            Class::InvalidCredentials("ExpiredToken".into())
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

    #[test]
    fn describe_prefers_codes() {
        assert_eq!(
            resp(403, Some("AccessDenied")).describe(),
            "AccessDenied, HTTP 403"
        );
        assert_eq!(resp(403, None).describe(), "HTTP 403");
        assert_eq!(
            ErrorFacts::of_kind(FailureKind::Timeout).describe(),
            "timed out"
        );
    }
}
