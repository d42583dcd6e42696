//! What a plan is made of: the probe key, and which recorded leftover it
//! takes as its own.

use super::*;
use crate::outcome::Leftover;
use crate::probe::{PROBE_DIR, probe_key};

#[test]
fn a_recorded_leftover_other_than_the_own_probe_key_is_ignored() {
    use crate::crd::ConnectionId;
    use crate::credentials::Resolved;
    use crate::probe::Previous;
    use crate::spec::{AuthMethod, BucketPath, SecretKeys, ValidSpec};
    let spec = ValidSpec {
        target: BucketPath {
            bucket: "output".into(),
            prefix: "customers/".into(),
        },
        region: "us-east-1".into(),
        endpoint: None,
        sts_endpoint: None,
        force_path_style: false,
        auth: AuthMethod::AccessKey(SecretKeys {
            secret_name: "s".into(),
            access_key_id_key: "a".into(),
            secret_access_key_key: "b".into(),
            session_token_key: None,
        }),
        permissions: all(),
        interval: std::time::Duration::from_secs(600),
        full_interval: std::time::Duration::from_secs(86_400),
        ca_secret: None,
        expected_bucket_owner: None,
        probe: Default::default(),
    };
    let resolved = Resolved::new(
        aws_credential_types::Credentials::new("AKIAX", "secret", None, None, "t"),
        None,
        None,
    );
    let id = ConnectionId {
        namespace: "ns".into(),
        name: "c".into(),
        uid: "uid-1".into(),
    };
    let with = |bucket: &str, key: &str| Previous {
        leftover: Some(Leftover {
            bucket: bucket.into(),
            key: key.into(),
            version: None,
        }),
        results: vec![],
        identity: None,
        bucket_region: None,
    };
    let now = jiff::Timestamp::UNIX_EPOCH;
    for (bucket, key) in [
        ("output", "finance/ledger.csv"),
        ("other-bucket", KEY),
        ("output", "old/.s3connection-probe/uid-1"),
        ("output", "customers/.s3connection-probe/another-uid"),
        ("output", "customers/.s3connection-probe/uid-1.0123"),
        (
            "output",
            "customers/.s3connection-probe/uid-1.0123456789abcdeX",
        ),
        (
            "output",
            "customers/.s3connection-probe/uid-1/0123456789abcdef",
        ),
    ] {
        let plan = Plan::new(&spec, &resolved, &id, with(bucket, key), now, keys());
        assert_eq!(plan.leftover, None, "{bucket}/{key} must be ignored");
    }
    let other = format!("{KEY}.0123456789abcdef");
    for key in [KEY, &other] {
        let plan = Plan::new(&spec, &resolved, &id, with("output", key), now, keys());
        assert_eq!(plan.leftover.map(|l| l.key), Some(key.to_string()));
    }
}

#[test]
fn other_probe_keys_are_fresh_and_recognised_as_the_connections_own() {
    use crate::probe::{is_probe_key, other_probe_key};
    let (a, b) = (
        other_probe_key("customers/", PROBE_DIR, "uid-1"),
        other_probe_key("customers/", PROBE_DIR, "uid-1"),
    );
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("{KEY}.")), "{a}");
    assert!(is_probe_key("customers/", PROBE_DIR, "uid-1", &a));
    assert!(is_probe_key("customers/", PROBE_DIR, "uid-1", KEY));
    assert!(!is_probe_key("customers/", PROBE_DIR, "uid-2", &a));
    assert!(!is_probe_key("", PROBE_DIR, "uid-1", &a));
    assert!(!is_probe_key("customers/", "_probe", "uid-1", &a));
}

#[test]
fn probe_keys_live_under_the_prefix() {
    assert_eq!(
        probe_key("customers/", PROBE_DIR, "u-1"),
        "customers/.s3connection-probe/u-1"
    );
    assert_eq!(probe_key("", PROBE_DIR, "u-1"), ".s3connection-probe/u-1");
    assert_eq!(probe_key("data/", "_probe", "u-1"), "data/_probe/u-1");
}
