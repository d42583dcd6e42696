//! Texts of each permission's result: what the probe requests proved.

use crate::aws::kms::KmsRefusal;
use crate::outcome::{Problem, Reason};

/// s3:ListBucket proved.
pub fn list_allowed(location: &str) -> String {
    format!("ListObjectsV2 on {location} succeeded.")
}

/// s3:ListBucket denied.
pub fn list_denied(location: &str, described: &str) -> String {
    format!("ListObjectsV2 on {location} was denied ({described}).")
}

/// A request answered in a way that proves nothing.
pub fn unexpected(what: &str, described: &str) -> String {
    format!("{what} gave an unexpected answer ({described}).")
}

/// s3:PutObject proved by the probe object.
pub fn put_allowed(key: &str) -> String {
    format!("Wrote probe object {key} with If-None-Match: *.")
}

/// s3:PutObject denied.
pub fn put_denied(key: &str, described: &str) -> String {
    format!("PutObject of probe object {key} was denied ({described}).")
}

/// Why nothing was written: the store has no conditional writes.
pub const NO_CONDITIONAL_WRITES: &str = "The endpoint does not support conditional writes (If-None-Match: *), and the operator writes only when it cannot overwrite anything.";

/// s3:GetObject proved by reading the probe object back.
pub fn read_back(key: &str) -> String {
    format!("Read probe object {key} back with the content written.")
}

/// The probe object read back differs from what was written.
pub fn read_back_differs(key: &str) -> String {
    format!(
        "Read probe object {key} back, but the store returned other content than it was given (see the Ready condition)."
    )
}

/// s3:GetObject denied on the probe object.
pub fn read_back_denied(described: &str) -> String {
    format!("GetObject of the probe object the operator had just written was denied ({described}).")
}

/// s3:GetObject proved by reading an object at the operator's probe key.
pub fn read_probe_key(key: &str) -> String {
    format!("Read the operator's probe key {key}.")
}

/// s3:GetObject proved without writing: a missing key answered NoSuchKey.
pub fn read_missing_key(key: &str) -> String {
    format!(
        "GetObject of the missing key {key} answered NoSuchKey, which S3 only tells callers allowed to read; nothing was written."
    )
}

/// s3:GetObject denied although listing is allowed.
pub fn read_denied_although_listing(location: &str, described: &str) -> String {
    format!("GetObject under {location} was denied ({described}) although listing is allowed.")
}

/// s3:GetObject refused, and without s3:ListBucket a 403 proves nothing.
pub fn read_refused_without_listing(described: &str) -> String {
    format!(
        "GetObject of a missing key was refused ({described}); without s3:ListBucket S3 refuses reads of missing keys even when s3:GetObject is allowed, so this proves nothing. Allow s3:PutObject or s3:ListBucket to prove it."
    )
}

/// s3:DeleteObject proved: the probe object is gone.
pub fn deleted(key: &str) -> String {
    format!("Deleted probe object {key}.")
}

/// Added when a versioned bucket keeps the probe's old version.
pub const OLD_VERSION_KEPT: &str = " The bucket is versioned and removing the probe's old version was not allowed; grant s3:DeleteObjectVersion on the probe key or expire old versions with a lifecycle rule.";

/// Appended when the bucket's Object Lock retains the probe's version.
pub const VERSION_RETAINED: &str = " The bucket's Object Lock retains the probe's version until its retention ends (a delete marker hides it); the operator deletes it then and writes no other probe object until it has.";

/// A retained probe version blocks writes.
pub fn retained_blocks(bucket: &str, key: &str, version: &str) -> String {
    format!(
        "Version {version} of probe object s3://{bucket}/{key} is retained by the bucket's Object Lock; the operator writes no other probe object until its retention ends and it can be deleted."
    )
}

/// s3:DeleteObject denied; the probe object is left.
pub fn delete_denied(key: &str, described: &str) -> String {
    format!(
        "DeleteObject of probe object {key} was denied ({described}); it is left in the bucket (status.leftoverProbeObject) and no other probe object is written until it is gone."
    )
}

/// s3:DeleteObject answered unexpectedly.
pub fn delete_unexpected(key: &str, described: &str) -> String {
    format!(
        "DeleteObject of probe object {key} gave an unexpected answer ({described}); it may be left in the bucket."
    )
}

/// `spec.probe.readOnly`: nothing is written, so neither is proved.
pub const READ_ONLY: &str =
    "Not tested: spec.probe.readOnly is set, so the operator writes and deletes nothing.";

/// Why s3:DeleteObject is not proved without s3:PutObject.
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

/// Why a leftover probe object was not removed.
pub const PROBE_APPEARED: &str = "another probe object appeared while the operator was writing";

/// A leftover probe object keeps the write from being proved.
pub fn leftover_blocks(bucket: &str, key: &str, why: &str) -> String {
    format!(
        "A probe object from an earlier validation, s3://{bucket}/{key}, is still there ({why}); the operator writes no other probe object until it is gone. Delete it or grant s3:DeleteObject."
    )
}

/// Objects the operator did not write hold the probe key and the fresh key
/// it chose instead.
pub fn probe_key_in_use(bucket: &str, key: &str) -> Problem {
    Problem::new(
        Reason::ProbeKeyInUse,
        format!(
            "Objects the operator did not write (without its keyed marker) hold the connection's probe key and the fresh key it chose instead, last s3://{bucket}/{key}; no store should answer so for a random new key. The operator leaves them alone and writes nothing; check what else writes under this prefix."
        ),
    )
}

/// Why a permission is not tested while the probe key is in use.
pub fn not_tested_key_in_use() -> String {
    "Not tested: an object the operator did not write holds the probe key (see the Ready condition).".into()
}

/// A result kept from the last validation (`note` says why).
pub fn not_retested(note: &str) -> String {
    format!("Not re-tested. {note}")
}

const REPLICATE_WHY: &str =
    "s3:ReplicateObject is used by S3 replication, not by clients, so no request can exercise it";

/// s3:ReplicateObject: no principal to simulate for.
pub fn replicate_no_principal() -> String {
    format!("{REPLICATE_WHY}, and no IAM identity is known to simulate the policy for.")
}

/// s3:ReplicateObject: IAM's policy simulation failed.
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

/// s3:ReplicateObject allowed by IAM's policy simulation.
pub fn replicate_allowed(principal: &str, resource: &str) -> String {
    format!("{REPLICATE_WHY}; IAM policy simulation for {principal} allows it on {resource}.")
}

/// s3:ReplicateObject explicitly denied by a policy.
pub fn replicate_explicit_deny(principal: &str, resource: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM policy simulation for {principal} finds an explicit deny on {resource}."
    )
}

/// s3:ReplicateObject: the simulation decided neither way.
pub fn replicate_undecided(principal: &str, decision: &str) -> String {
    format!(
        "{REPLICATE_WHY}; IAM policy simulation for {principal} answered {decision} (a bucket policy may still grant it)."
    )
}

/// s3:PutObject proved at a fresh key, because an object the operator did
/// not write holds the usual one.
pub fn put_allowed_elsewhere(key: &str, taken: &str) -> String {
    format!(
        "Wrote probe object {key} with If-None-Match: *; the usual probe key {taken} holds an object the operator did not write, which it leaves alone."
    )
}

/// The probe object was replaced by someone else before it could be
/// deleted: the replacement is left alone.
pub fn probe_replaced(key: &str) -> String {
    format!(
        "Probe object {key} was replaced by another writer before the operator deleted it (the delete is conditional on what the operator wrote); the replacement is left alone, so s3:DeleteObject is not proved."
    )
}

/// What KMS refused, in words.
fn kms_words(k: &KmsRefusal) -> String {
    match k {
        KmsRefusal::NotAllowed { action, key } => format!(
            "KMS did not allow {} on {}",
            action.as_str(),
            key.as_deref().unwrap_or("the object's key")
        ),
        KmsRefusal::KeyUnusable(code) => format!("the KMS key cannot be used ({code})"),
    }
}

/// A permission row refused by KMS, not by S3's policy.
pub fn kms_refused_row(op: &str, key: &str, k: &KmsRefusal) -> String {
    format!(
        "{op} of probe object {key} was refused because {}; the S3 grant itself was not tested.",
        kms_words(k)
    )
}

/// The connection's problem when KMS refused the probe object's key.
pub fn kms_refused(location: &str, k: &KmsRefusal) -> Problem {
    let fix = match k {
        KmsRefusal::NotAllowed { action, key } => format!(
            "Allow {} on {} to the connection's identity (its IAM policy, and the key policy if it does not delegate to IAM), or name another key in spec.probe.kmsKeyId.",
            action.as_str(),
            key.as_deref().unwrap_or("the key")
        ),
        KmsRefusal::KeyUnusable(_) => {
            "Check that the key exists in the bucket's region and is enabled, not pending deletion (or name a usable one in spec.probe.kmsKeyId).".into()
        }
    };
    Problem::new(
        Reason::KmsAccessDenied,
        format!(
            "S3 could not encrypt or decrypt the probe object on {location}: {}. {fix}",
            kms_words(k)
        ),
    )
}

/// The store returned other content for the probe object than it stored.
pub fn content_mismatch(bucket: &str, key: &str, how: &str) -> Problem {
    Problem::new(
        Reason::ProbeContentMismatch,
        format!(
            "The store returned other content for probe object s3://{bucket}/{key} than the operator had just written ({how}): objects read from this endpoint cannot be trusted. Check the store (or whatever sits in front of it) before any workload uses it."
        ),
    )
}
