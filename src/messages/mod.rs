//! Every long text a user reads in status, events and logs about their
//! connection, in one place so the wording can be reviewed together. Each
//! says what happened and, where the user can act, how to fix it.
//! Decisions are never made on these texts; they are built from typed
//! results.

use crate::outcome::{Problem, Reason};

mod bucket;
mod conclusion;
mod conditions;
mod credentials;
mod permissions;

pub use bucket::*;
pub use conclusion::*;
pub use conditions::*;
pub use credentials::*;
pub use permissions::*;

// ----------------------------------------------------------------- admission

/// The spec breaks a rule (`why` names the field).
pub fn invalid_spec(why: &str) -> Problem {
    Problem::new(
        Reason::InvalidSpec,
        format!("{why}. Fix the S3Connection spec."),
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
