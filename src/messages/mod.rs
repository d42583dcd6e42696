//! Every long text a user reads in status, events and logs about their
//! connection, in one place so the wording can be reviewed together. Each
//! says what happened and, where the user can act, how to fix it.
//! Decisions are never made on these texts; they are built from typed
//! results.

use crate::outcome::{Problem, Reason};

mod bucket;
mod cleanup;
mod conclusion;
mod conditions;
mod credentials;
mod permissions;
pub mod why;

pub use bucket::*;
pub use cleanup::*;
pub use conclusion::*;
pub use conditions::*;
pub use credentials::*;
pub use permissions::*;

/// The longest message a status condition, a permission result, an event
/// or a log line carries, in bytes (longer ones are cut, ending in `...`).
pub const MESSAGE_MAX: usize = 2048;

/// `text` as it may be shown: every control character (a newline that would
/// start a forged log line, an escape sequence) and every character that
/// reorders text (bidirectional overrides) becomes `?`, and it is at most
/// [`MESSAGE_MAX`] bytes long. Every outcome passes here before its texts
/// reach status, events or logs, whatever values they quote.
pub fn printable(text: &str) -> String {
    let reorders = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let mut out = String::with_capacity(text.len().min(MESSAGE_MAX + 3));
    for c in text.chars() {
        if out.len() + c.len_utf8() > MESSAGE_MAX {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() || reorders(c) {
            '?'
        } else {
            c
        });
    }
    out
}

// ----------------------------------------------------------------- admission

/// The spec breaks a rule (`why` names the field).
pub fn invalid_spec(why: &str) -> Problem {
    Problem::new(
        Reason::InvalidSpec,
        format!("{why}. Fix the S3Connection spec."),
    )
}

/// A requested-at annotation whose value is not a token the operator
/// accepts (see [`rules::requested_at`](crate::crd::rules::requested_at)).
pub fn invalid_request(annotation: &str) -> Problem {
    Problem::new(
        Reason::InvalidSpec,
        format!(
            "{}. Fix the annotation.",
            crate::crd::rules::requested_at::message(annotation)
        ),
    )
}

/// `suggestion` is the allowlist entry that would allow it.
pub fn endpoint_not_allowed(endpoint: &str, suggestion: &str) -> Problem {
    Problem::new(
        Reason::EndpointNotAllowed,
        format!(
            "spec.endpoint {endpoint} is not on this operator's list of allowed endpoints, so the operator reads no credentials for this connection and sends it no request. An administrator allows it by running the operator with --allowed-endpoint {suggestion} (Helm value allowedEndpoints); otherwise use an allowed endpoint, or none for AWS."
        ),
    )
}

/// `spec.stsEndpoint` `sts` is not allowed; `suggestion` is the allowlist
/// entry that would allow it.
pub fn sts_endpoint_not_allowed(sts: &str, suggestion: &str) -> Problem {
    Problem::new(
        Reason::StsEndpointNotAllowed,
        format!(
            "spec.stsEndpoint {sts} is not on this operator's list of allowed endpoints, so the operator reads no credentials for this connection and sends no request. An administrator allows it by running the operator with --allowed-endpoint {suggestion} (Helm value allowedEndpoints); otherwise remove spec.stsEndpoint to use the regional STS."
        ),
    )
}

/// A request to `endpoint` was about to leave for a host the allowlist does
/// not allow (`why` says which): nothing was sent.
pub fn request_not_allowed(endpoint: &str, why: &str) -> Problem {
    Problem::new(
        Reason::EndpointNotAllowed,
        format!(
            "A request for spec.endpoint {endpoint} was not sent: {why}. An administrator who trusts that domain's DNS allows the bucket hosts with a wildcard entry (--allowed-endpoint scheme://*.host[:port]); otherwise set spec.forcePathStyle: true."
        ),
    )
}

// ----------------------------------------------------------------- the operator

/// The validation did not finish within its deadline.
pub fn validation_timed_out(after_s: u64) -> Problem {
    Problem::new(
        Reason::ValidationTimedOut,
        format!(
            "The validation did not finish within {after_s}s (an endpoint or STS answers too slowly or not at all); it was stopped and is retried with backoff."
        ),
    )
}

/// The validation failed inside the operator.
pub fn internal_error() -> Problem {
    Problem::new(
        Reason::InternalError,
        "The operator failed internally while validating this connection (a bug; its log has the details). Other connections are not affected; retrying with backoff.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_texts_cannot_forge_lines_and_are_bounded() {
        assert_eq!(printable("plain text, é"), "plain text, é");
        assert_eq!(
            printable("a\nINFO forged\r\u{1b}[31m\u{202e}x"),
            "a?INFO forged??[31m?x"
        );
        let long = printable(&"é".repeat(MESSAGE_MAX));
        assert!(long.len() <= MESSAGE_MAX + 3 && long.ends_with("..."));
    }
}
