//! When S3 refuses to delete an object version because the bucket's Object
//! Lock retains it. AWS answers `AccessDenied` "Access Denied because object
//! protected by object lock"; MinIO answers `InvalidRequest` "Object is WORM
//! protected and cannot be overwritten". Read once here from the tamed
//! answer: decisions are made on [`Class::Retained`](super::classify::Class).

/// Whether an S3 error `code` with `message` says Object Lock retains the
/// version.
pub fn retained(code: &str, message: Option<&str>) -> bool {
    let Some(m) = message.map(str::to_ascii_lowercase) else {
        return false;
    };
    match code {
        "AccessDenied" => m.contains("protected by object lock"),
        "InvalidRequest" => m.contains("worm protected"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::retained;

    #[test]
    fn object_lock_refusals_of_aws_and_minio_are_recognised() {
        let aws = "Access Denied because object protected by object lock.";
        assert!(retained("AccessDenied", Some(aws)));
        let minio = "Object is WORM protected and cannot be overwritten";
        assert!(retained("InvalidRequest", Some(minio)));
        assert!(!retained("AccessDenied", Some("Access Denied")));
        assert!(!retained("AccessDenied", None));
        assert!(!retained("SlowDown", Some(aws)));
    }
}
