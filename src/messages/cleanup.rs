//! What the events say when a deleted connection's leftover probe object
//! is removed, or left where it is.

/// Why a retained version could not be removed on delete.
pub fn retained_on_delete(version: &str) -> String {
    format!(
        "version {version} is retained by the bucket's Object Lock until its retention ends; the operator never bypasses governance retention"
    )
}

/// Why a recorded version could not be removed on delete, other than
/// retention.
pub const VERSION_NOT_DELETED: &str = "DeleteObject of its version failed";

/// The leftover probe object of a deleted connection was removed.
pub fn cleanup_removed(bucket: &str, key: &str) -> String {
    format!(
        "Removed the connection's leftover probe object s3://{bucket}/{key} before it was deleted."
    )
}

/// The recorded leftover turned out not to be the connection's own object.
pub fn cleanup_not_ours(bucket: &str, key: &str) -> String {
    format!(
        "Left s3://{bucket}/{key} alone: it is no longer this connection's probe object (replaced by another writer, or outside the connection's bucket and prefix)."
    )
}

/// The leftover probe object of a deleted connection is still there.
pub fn cleanup_left(bucket: &str, key: &str, why: &str) -> String {
    format!(
        "The connection was deleted, but its leftover probe object s3://{bucket}/{key} is still there ({why}). Delete it by hand: aws s3 rm s3://{bucket}/{key}"
    )
}

/// The cleanup did not finish within its deadline.
pub fn cleanup_timed_out(seconds: u64) -> String {
    format!("no answer within {seconds} s")
}
