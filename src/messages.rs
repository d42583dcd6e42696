//! Every long text a user reads in status, events and logs about their
//! connection, in one place so the wording can be reviewed together. Each
//! says what happened and, where the user can act, how to fix it.
//! Decisions are never made on these texts; they are built from typed
//! results.

use crate::aws::classify::Class;
use crate::outcome::{Problem, Reason};

// ----------------------------------------------------------------- admission

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

// ----------------------------------------------------------------- the operator

pub fn validation_timed_out(after_s: u64) -> Problem {
    Problem::new(
        Reason::ValidationTimedOut,
        format!(
            "The validation did not finish within {after_s}s (an endpoint or STS answers too slowly or not at all); it was stopped and is retried with backoff."
        ),
    )
}

pub fn internal_error() -> Problem {
    Problem::new(
        Reason::InternalError,
        "The operator failed internally while validating this connection (a bug; its log has the details). Other connections are not affected; retrying with backoff.",
    )
}

// ----------------------------------------------------------------- credentials

pub fn secret_not_found(secret: &str, ns: &str, id_key: &str, secret_key: &str) -> Problem {
    Problem::new(
        Reason::SecretNotFound,
        format!(
            "Secret {secret:?} does not exist in namespace {ns:?}. Create it with keys {id_key} and {secret_key} (Secrets of other namespaces cannot be used)."
        ),
    )
}

/// `what` completes "Secret <name> ...", e.g. `has no key "X"`.
pub fn secret_key_missing(secret: &str, what: &str) -> Problem {
    Problem::new(
        Reason::SecretKeyMissing,
        format!("Secret {secret:?} {what}; add it, or name the right key in spec.auth.accessKey."),
    )
}

/// `why` completes "the value ...", without the value.
pub fn secret_value_invalid(secret: &str, key: &str, why: &str) -> Problem {
    Problem::new(
        Reason::SecretValueInvalid,
        format!(
            "Secret {secret:?} key {key:?}: the value {why}. Fix the value in the Secret (a value read from a file may carry stray characters)."
        ),
    )
}

pub fn sts_credentials_unusable(role_arn: &str, why: &str) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!("STS returned credentials for role {role_arn} that cannot be used: a value {why}."),
    )
}

pub fn ca_secret_not_found(secret: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::SecretNotFound,
        format!(
            "Secret {secret:?} named in spec.caSecretRef does not exist in namespace {ns:?}. Create it with the CA certificate under the key ca.crt."
        ),
    )
}

pub fn service_account_not_found(sa: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::ServiceAccountNotFound,
        format!(
            "ServiceAccount {sa:?} does not exist in namespace {ns:?}. Create it, or fix spec.auth.iamRole.serviceAccountName."
        ),
    )
}

pub fn service_account_disappeared(sa: &str, ns: &str) -> Problem {
    Problem::new(
        Reason::ServiceAccountNotFound,
        format!(
            "ServiceAccount {sa:?} disappeared from namespace {ns:?} while requesting its token."
        ),
    )
}

/// `value` is the tenant's annotation: shown tamed and cut (256 characters),
/// whatever its size.
pub fn role_annotation_not_an_arn(sa: &str, annotation: &str, value: &str) -> Problem {
    let value = crate::aws::tame::arn(value);
    Problem::new(
        Reason::RoleArnMissing,
        format!(
            "ServiceAccount {sa:?} has annotation {annotation}={value:?}, which is not a role ARN like arn:aws:iam::123456789012:role/name."
        ),
    )
}

pub fn no_role_arn(sa: &str, annotation: &str) -> Problem {
    Problem::new(
        Reason::RoleArnMissing,
        format!(
            "No role to assume: set spec.auth.iamRole.roleArn, or annotate ServiceAccount {sa:?} with {annotation}."
        ),
    )
}

pub fn operator_identity_disabled() -> Problem {
    Problem::new(
        Reason::OperatorIdentityDisabled,
        "spec.auth.iamRole has no serviceAccountName, so the operator's own identity would assume the role, and this operator does not allow that. Set serviceAccountName to use IRSA, or run the operator with --allow-operator-identity.",
    )
}

pub fn operator_identity_unavailable() -> Problem {
    Problem::new(
        Reason::OperatorIdentityDisabled,
        "The operator's own identity is not available (no AWS identity, or no cluster name for the ExternalId); see the operator's log.",
    )
}

/// Who asked STS for what, for [`assume_role_failed`] (IRSA).
pub fn irsa_request(ns: &str, sa: &str, role_arn: &str, audience: &str) -> String {
    format!(
        "ServiceAccount {ns}/{sa} to assume role {role_arn}: the role's trust policy must allow the web identity system:serviceaccount:{ns}:{sa} with audience {audience}"
    )
}

/// Who asked STS for what, for [`assume_role_failed`] (operator identity).
pub fn operator_request(role_arn: &str, external_id: &str) -> String {
    format!(
        "the operator to assume role {role_arn}: the role's trust policy must allow the operator's identity with the condition sts:ExternalId = {external_id}"
    )
}

pub fn assume_role_failed(class: &Class, described: &str, request: &str) -> Problem {
    match class {
        Class::Tls(why) => Problem::new(
            Reason::TlsError,
            format!(
                "TLS to STS failed while asking for {request}: {why}. If STS is behind a private CA, name it in spec.caSecretRef."
            ),
        ),
        Class::Unreachable => Problem::new(
            Reason::EndpointUnreachable,
            format!("STS could not be reached while asking for {request} ({described}); retrying."),
        ),
        Class::Transient(_) => Problem::new(
            Reason::Transient,
            format!("STS failed temporarily while asking for {request} ({described}); retrying."),
        ),
        _ => Problem::new(
            Reason::AssumeRoleFailed,
            format!("STS refused {request} ({described})."),
        ),
    }
}

pub fn sts_returned_no_credentials(role_arn: &str) -> Problem {
    Problem::new(
        Reason::AssumeRoleFailed,
        format!("STS returned no credentials for role {role_arn}."),
    )
}

pub fn invalid_credentials(code: &str, service: &str) -> Problem {
    let why = match code {
        "InvalidAccessKeyId" | "InvalidClientTokenId" => {
            "the access key ID does not exist (deleted, deactivated, or from another account or endpoint)"
        }
        "SignatureDoesNotMatch" => "the secret access key does not match the access key ID",
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => {
            "the session token has expired"
        }
        "InvalidToken" => "the session token is malformed or invalid",
        _ => "they were not accepted",
    };
    Problem::new(
        Reason::InvalidCredentials,
        format!(
            "{service} rejected the credentials ({code}): {why}. Update the credentials the connection uses."
        ),
    )
}

// ----------------------------------------------------------------- bucket

pub fn bucket_not_found(bucket: &str, endpoint: &str) -> Problem {
    Problem::new(
        Reason::BucketNotFound,
        format!(
            "Bucket {bucket:?} does not exist at {endpoint} (NoSuchBucket). Create it, or fix spec.bucket."
        ),
    )
}

pub fn bucket_owner_mismatch(bucket: &str, owner: &str) -> Problem {
    Problem::new(
        Reason::BucketOwnerMismatch,
        format!(
            "Bucket {bucket:?} is not owned by account {owner} (spec.expectedBucketOwner): S3 refuses requests that name that owner. Check spec.bucket, or the account in spec.expectedBucketOwner."
        ),
    )
}

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

pub fn invalid_response(endpoint: &str, what: &str, described: &str) -> Problem {
    Problem::new(
        Reason::InvalidResponse,
        format!(
            "{endpoint} answered {what} with something that is not an S3 answer ({described}). Check that spec.endpoint is the S3 API of the store."
        ),
    )
}

pub fn tls_failed(endpoint: &str, why: &str) -> Problem {
    Problem::new(
        Reason::TlsError,
        format!(
            "TLS to {endpoint} failed: {why}. If the store uses a private CA, put the CA certificate in a Secret (key ca.crt) and name it in spec.caSecretRef; if the certificate does not match the host, fix spec.endpoint."
        ),
    )
}

pub fn unreachable(endpoint: &str, what: &str) -> Problem {
    Problem::new(
        Reason::EndpointUnreachable,
        format!(
            "Could not connect to {endpoint} for {what}. Check spec.endpoint and the network; retrying."
        ),
    )
}

pub fn transient(what: &str, detail: &str) -> Problem {
    Problem::new(
        Reason::Transient,
        format!("S3 failed temporarily during {what} ({detail}); retrying."),
    )
}

pub fn read_interrupted() -> Problem {
    Problem::new(
        Reason::Transient,
        "The connection broke while reading the probe object; retrying.",
    )
}

// ----------------------------------------------------------------- permissions

pub fn list_allowed(location: &str) -> String {
    format!("ListObjectsV2 on {location} succeeded.")
}

pub fn list_denied(location: &str, described: &str) -> String {
    format!("ListObjectsV2 on {location} was denied ({described}).")
}

pub fn unexpected(what: &str, described: &str) -> String {
    format!("{what} gave an unexpected answer ({described}).")
}

pub fn put_allowed(key: &str) -> String {
    format!("Wrote probe object {key} with If-None-Match: *.")
}

pub fn put_denied(key: &str, described: &str) -> String {
    format!("PutObject of probe object {key} was denied ({described}).")
}

pub const NO_CONDITIONAL_WRITES: &str = "The endpoint does not support conditional writes (If-None-Match: *), and the operator writes only when it cannot overwrite anything.";

pub fn read_back(key: &str) -> String {
    format!("Read probe object {key} back with the content written.")
}

pub fn read_back_differs(key: &str) -> String {
    format!(
        "Read probe object {key}, but its content differed from what was written; something else writes under this key."
    )
}

pub fn read_back_denied(described: &str) -> String {
    format!("GetObject of the probe object the operator had just written was denied ({described}).")
}

pub fn read_probe_key(key: &str) -> String {
    format!("Read the operator's probe key {key}.")
}

pub fn read_missing_key(key: &str) -> String {
    format!(
        "GetObject of the missing key {key} answered NoSuchKey, which S3 only tells callers allowed to read; nothing was written."
    )
}

pub fn read_denied_although_listing(location: &str, described: &str) -> String {
    format!("GetObject under {location} was denied ({described}) although listing is allowed.")
}

pub fn read_refused_without_listing(described: &str) -> String {
    format!(
        "GetObject of a missing key was refused ({described}); without s3:ListBucket S3 refuses reads of missing keys even when s3:GetObject is allowed, so this proves nothing. Allow s3:PutObject or s3:ListBucket to prove it."
    )
}

pub fn deleted(key: &str) -> String {
    format!("Deleted probe object {key}.")
}

pub const OLD_VERSION_KEPT: &str = " The bucket is versioned and removing the probe's old version was not allowed; grant s3:DeleteObjectVersion on the probe key or expire old versions with a lifecycle rule.";

pub fn delete_denied(key: &str, described: &str) -> String {
    format!(
        "DeleteObject of probe object {key} was denied ({described}); it is left in the bucket (status.leftoverProbeObject) and no other probe object is written until it is gone."
    )
}

pub fn delete_unexpected(key: &str, described: &str) -> String {
    format!(
        "DeleteObject of probe object {key} gave an unexpected answer ({described}); it may be left in the bucket."
    )
}

pub const DELETE_NEEDS_PUT: &str = "Proving s3:DeleteObject needs a probe object, and without s3:PutObject in spec.permissions the operator writes nothing.";

/// `why` no probe object exists, e.g. "PutObject was denied".
pub fn delete_needs_object(why: &str) -> String {
    format!(
        "Proving s3:DeleteObject needs a probe object, and {why}; the operator deletes only objects it wrote."
    )
}

/// Why a leftover probe object could not be removed.
pub fn leftover_delete_refused(denied: bool, described: &str) -> String {
    if denied {
        format!("DeleteObject was denied ({described})")
    } else {
        format!("DeleteObject failed ({described})")
    }
}

pub const PROBE_APPEARED: &str = "another probe object appeared while the operator was writing";

pub fn leftover_blocks(bucket: &str, key: &str, why: &str) -> String {
    format!(
        "A probe object from an earlier validation, s3://{bucket}/{key}, is still there ({why}); the operator writes no other probe object until it is gone. Delete it or grant s3:DeleteObject."
    )
}

pub fn probe_key_in_use(bucket: &str, key: &str) -> Problem {
    Problem::new(
        Reason::ProbeKeyInUse,
        format!(
            "An object the operator did not write for this connection is at its probe key s3://{bucket}/{key} (it lacks the x-amz-meta-s3connection-uid marker naming this connection). The operator leaves it alone and writes nothing; move or delete it to let the write, read and delete permissions be proved."
        ),
    )
}

pub fn not_tested_key_in_use() -> String {
    "Not tested: an object the operator did not write holds the probe key (see the Ready condition).".into()
}

pub fn not_retested(note: &str) -> String {
    format!("Not re-tested. {note}")
}

const REPLICATE_WHY: &str =
    "s3:ReplicateObject is used by S3 replication, not by clients, so no request can exercise it";

pub fn replicate_no_principal() -> String {
    format!("{REPLICATE_WHY}, and no IAM identity is known to simulate the policy for.")
}

pub fn replicate_simulation_failed(principal: &str, described: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM policy simulation for {principal} was not possible ({described})."
    )
}

/// The same text whether IAM just failed or is skipped because it did (so
/// the status does not change from one validation to the next).
pub fn replicate_iam_unavailable(location: &str, why: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM at {location} did not answer ({why}); it is asked again at most every 5 minutes."
    )
}

pub fn replicate_allowed(principal: &str, resource: &str) -> String {
    format!("{REPLICATE_WHY}; IAM policy simulation for {principal} allows it on {resource}.")
}

pub fn replicate_explicit_deny(principal: &str, resource: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM policy simulation for {principal} finds an explicit deny on {resource}."
    )
}

pub fn replicate_undecided(principal: &str, decision: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM policy simulation for {principal} answered {decision} (a bucket policy may still grant it)."
    )
}

// ----------------------------------------------------------------- conclusion

/// The statements a policy needs for this location, as a hint.
pub fn policy_hint(bucket: &str, prefix: &str) -> String {
    format!(
        "s3:ListBucket on arn:aws:s3:::{bucket}, object actions on arn:aws:s3:::{bucket}/{prefix}*"
    )
}

pub fn all_denied(location: &str, denied: &str, hint: &str) -> String {
    format!(
        "The credentials are valid but S3 denied every request for {location} ({denied}). Grant them in the IAM policy ({hint})."
    )
}

pub fn some_denied(location: &str, denied: &str, hint: &str) -> String {
    format!("S3 denied {denied} on {location}. Add them to the IAM policy ({hint}).")
}

pub fn connected(
    location: &str,
    identity: Option<&str>,
    allowed: &str,
    unverified: &str,
) -> String {
    let who = identity.map(|i| format!(" as {i}")).unwrap_or_default();
    let mut m = format!("Connected to {location}{who}");
    if !allowed.is_empty() {
        m.push_str(&format!("; proved {allowed}"));
    }
    m.push('.');
    if !unverified.is_empty() {
        m.push_str(&format!(
            " Not provable: {unverified} (see status.permissions)."
        ));
    }
    m
}

pub fn leftover_suffix(bucket: &str, key: &str) -> String {
    format!(" Probe object s3://{bucket}/{key} is left over; delete it or grant s3:DeleteObject.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_credential_messages_name_the_cause() {
        assert!(
            invalid_credentials("SignatureDoesNotMatch", "S3")
                .message
                .contains("secret access key")
        );
        assert!(
            invalid_credentials("InvalidAccessKeyId", "S3")
                .message
                .contains("access key ID does not exist")
        );
        assert!(
            invalid_credentials("ExpiredToken", "STS")
                .message
                .contains("expired")
        );
    }

    #[test]
    fn assume_role_failures_are_classified() {
        let p = assume_role_failed(&Class::Denied, "AccessDenied, HTTP 403", "x");
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(p.message.contains("AccessDenied"));
        assert_eq!(
            assume_role_failed(&Class::Unreachable, "connection failed", "x").reason,
            Reason::EndpointUnreachable
        );
        assert_eq!(
            assume_role_failed(&Class::Transient("t".into()), "HTTP 503", "x").reason,
            Reason::Transient
        );
    }
}
