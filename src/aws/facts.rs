//! The raw facts of a failed AWS call ([`ErrorFacts`]), pulled out of an
//! `SdkError` by [`facts`]: how it failed, the HTTP status, the error code
//! and message, the `x-amz-bucket-region` header. HEAD responses carry no
//! body, so for them only the status and headers exist. What the facts
//! mean is decided in [`super::classify`].

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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
    /// The operator did not send the request: its final URI is not allowed
    /// ([`super::Destinations`]; the message says where it would have gone).
    Refused,
}

/// The raw facts of one failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFacts {
    /// How it failed.
    pub kind: FailureKind,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The error code of the response body (tamed).
    pub code: Option<String>,
    /// The error message of the response body, or why TLS failed (tamed).
    pub message: Option<String>,
    /// The `x-amz-bucket-region` header (tamed).
    pub region_header: Option<String>,
}

impl ErrorFacts {
    /// A response with `status` and maybe an error `code`.
    pub fn response(status: u16, code: Option<&str>) -> Self {
        Self {
            kind: FailureKind::Response,
            status: Some(status),
            code: code.map(Into::into),
            message: None,
            region_header: None,
        }
    }

    /// A failure of `kind` with nothing else known.
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
    if let SdkError::DispatchFailure(d) = err
        && let Some(r) = d
            .as_connector_error()
            .and_then(|c| super::destinations::refused(c))
    {
        return ErrorFacts {
            message: Some(r.to_string()),
            ..ErrorFacts::of_kind(FailureKind::Refused)
        };
    }
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
