//! Texts about reaching the bucket: existence, owner, region, TLS, the
//! endpoint's answers.

use crate::outcome::{Problem, Reason};

/// The bucket does not exist at the endpoint.
pub fn bucket_not_found(bucket: &str, endpoint: &str) -> Problem {
    Problem::new(
        Reason::BucketNotFound,
        format!(
            "Bucket {bucket:?} does not exist at {endpoint} (NoSuchBucket). Create it, or fix spec.bucket."
        ),
    )
}

/// Another account owns the bucket.
pub fn bucket_owner_mismatch(bucket: &str, owner: &str) -> Problem {
    Problem::new(
        Reason::BucketOwnerMismatch,
        format!(
            "Bucket {bucket:?} is not owned by account {owner} (spec.expectedBucketOwner): S3 refuses requests that name that owner. Check spec.bucket, or the account in spec.expectedBucketOwner."
        ),
    )
}

/// The bucket is in another region (`actual`, when S3 said which).
pub fn wrong_region(bucket: &str, region: &str, actual: Option<&str>) -> Problem {
    match actual {
        Some(r) => Problem::new(
            Reason::WrongRegion,
            format!("Bucket {bucket:?} is in region {r}, not {region}. Set spec.region to {r}."),
        ),
        None => Problem::new(
            Reason::WrongRegion,
            format!(
                "Bucket {bucket:?} is not in region {region}; S3 redirected the request. Set spec.region to the bucket's region."
            ),
        ),
    }
}

/// The endpoint answered `what` with something that is not S3's answer.
pub fn invalid_response(endpoint: &str, what: &str, described: &str) -> Problem {
    Problem::new(
        Reason::InvalidResponse,
        format!(
            "{endpoint} answered {what} with something that is not an S3 answer ({described}). Check that spec.endpoint is the S3 API of the store."
        ),
    )
}

/// TLS to the endpoint failed.
pub fn tls_failed(endpoint: &str, why: &str) -> Problem {
    Problem::new(
        Reason::TlsError,
        format!(
            "TLS to {endpoint} failed: {why}. If the store uses a private CA, put the CA certificate in a Secret (key ca.crt) and name it in spec.caSecretRef; if the certificate does not match the host, fix spec.endpoint."
        ),
    )
}

/// The endpoint could not be reached for `what`.
pub fn unreachable(endpoint: &str, what: &str) -> Problem {
    Problem::new(
        Reason::EndpointUnreachable,
        format!(
            "Could not connect to {endpoint} for {what}. Check spec.endpoint and the network; retrying."
        ),
    )
}

/// `what` failed temporarily (`detail`: how).
pub fn transient(what: &str, detail: &str) -> Problem {
    Problem::new(
        Reason::Transient,
        format!("S3 failed temporarily during {what} ({detail}); retrying."),
    )
}

/// A response body stopped before its end.
pub fn read_interrupted() -> Problem {
    Problem::new(
        Reason::Transient,
        "The connection broke while reading the probe object; retrying.",
    )
}
