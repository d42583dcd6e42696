use super::*;
use crate::crd::rules::{DEFAULT_INTERVAL, MAX_INTERVAL};

fn spec() -> S3ConnectionSpec {
    S3ConnectionSpec {
        bucket: "output/customers".into(),
        region: "us-west-1".into(),
        endpoint: None,
        sts_endpoint: None,
        force_path_style: None,
        auth: Auth {
            access_key: Some(Box::new(AccessKeyAuth {
                secret_name: "s3-creds".into(),
                access_key_id_key: None,
                secret_access_key_key: None,
                session_token_key: None,
            })),
            iam_role: None,
        },
        permissions: None,
        validation_interval: None,
        full_validation_interval: None,
        suspend: None,
        ca_secret_ref: None,
        expected_bucket_owner: None,
        probe: None,
    }
}

/// The message a user would see.
fn validate_spec(s: &S3ConnectionSpec, d: Duration) -> Result<ValidSpec, String> {
    validate(s, d).map_err(|e| e.0)
}

#[test]
fn bucket_with_path_splits_into_bucket_and_prefix() {
    assert_eq!(
        parse_bucket("output/customers").unwrap(),
        BucketPath {
            bucket: "output".into(),
            prefix: "customers/".into()
        }
    );
    assert_eq!(parse_bucket("output/a/b/").unwrap().prefix, "a/b/");
    assert_eq!(parse_bucket("output").unwrap().prefix, "");
    assert_eq!(parse_bucket("output/").unwrap().prefix, "");
    assert_eq!(parse_bucket("my.bucket-1").unwrap().bucket, "my.bucket-1");
}

#[test]
fn bad_bucket_names_are_rejected() {
    for bad in [
        "ab",
        &"a".repeat(64),
        "Upper",
        "under_score",
        "-start",
        "end-",
        ".start",
        "a..b",
        "192.168.1.1",
        "xn--bucket",
        "sthree-bucket",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bucket--table-s3",
        "",
    ] {
        assert!(parse_bucket(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn bad_paths_are_rejected() {
    for bad in [
        "bucket//x",
        "bucket/a//b",
        "bucket/../x",
        "bucket/a/..",
        "bucket/./a",
        "bucket/a b",
    ] {
        assert!(parse_bucket(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn intervals_parse_and_have_a_minimum() {
    assert_eq!(parse_interval("10m").unwrap(), Duration::from_secs(600));
    assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_interval("90s").unwrap(), Duration::from_secs(90));
    assert!(parse_interval("59s").is_err());
    assert!(parse_interval("0m").is_err());
    assert!(parse_interval("").is_err());
    assert!(parse_interval("10").is_err());
    assert!(parse_interval("1d").is_err());
    assert!(parse_interval("99999999999999999999h").is_err());
    assert_eq!(parse_interval("24h").unwrap(), MAX_INTERVAL);
    assert!(parse_interval("24h1s").unwrap_err().contains("at most 24h"));
}

#[test]
fn valid_spec_defaults() {
    let v = validate_spec(&spec(), DEFAULT_INTERVAL).unwrap();
    assert_eq!(v.interval, DEFAULT_INTERVAL);
    assert_eq!(v.permissions, Permission::iter().collect::<Vec<_>>());
    assert_eq!(v.target.bucket, "output");
    assert_eq!(v.region, "us-west-1");
    assert!(!v.force_path_style);
    assert_eq!(
        v.auth,
        AuthMethod::AccessKey(SecretKeys {
            secret_name: "s3-creds".into(),
            access_key_id_key: "AWS_ACCESS_KEY_ID".into(),
            secret_access_key_key: "AWS_SECRET_ACCESS_KEY".into(),
            session_token_key: None,
        })
    );
}

#[test]
fn auth_must_have_exactly_one_method() {
    let mut s = spec();
    s.auth.iam_role = Some(Box::new(IamRoleAuth {
        role_arn: Some("arn:aws:iam::123456789012:role/sync".into()),
        service_account_name: None,
        session_name: None,
    }));
    assert!(
        validate_spec(&s, DEFAULT_INTERVAL)
            .unwrap_err()
            .contains("exactly one")
    );
    s.auth.access_key = None;
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
    s.auth.iam_role = None;
    assert!(
        validate_spec(&s, DEFAULT_INTERVAL)
            .unwrap_err()
            .contains("exactly one")
    );
}

#[test]
fn role_arn_and_iam_role_rules() {
    let mut s = spec();
    s.auth.access_key = None;
    let role = |arn: Option<&str>, sa: Option<&str>| {
        Box::new(IamRoleAuth {
            role_arn: arn.map(Into::into),
            service_account_name: sa.map(Into::into),
            session_name: None,
        })
    };
    s.auth.iam_role = Some(role(Some("arn:aws:s3:::bucket"), None));
    assert!(
        validate_spec(&s, DEFAULT_INTERVAL)
            .unwrap_err()
            .contains("roleArn")
    );
    s.auth.iam_role = Some(role(None, None));
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
    s.auth.iam_role = Some(role(None, Some("s3-sync")));
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
    s.auth.iam_role = Some(role(Some("arn:aws:iam::123456789012:role/path/sync"), None));
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
}

#[test]
fn role_arns_of_every_partition_and_of_s3_compatible_stores() {
    for good in [
        "arn:aws:iam::123456789012:role/sync",
        "arn:aws-cn:iam::123456789012:role/path/sync",
        "arn:aws-us-gov:iam::123456789012:role/sync",
        "arn:aws-iso-b:iam::123456789012:role/sync",
        "arn:minio:iam:::role/oxnUw3DAuQF1uggjXGxI2AmW8IA",
        "arn:aws:iam:::role/ceph-role",
        "arn:aws:iam::tenant_a:role/ceph-role",
    ] {
        assert!(rules::is_role_arn(good), "{good}");
    }
    for bad in [
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:user/sync",
        "arn:aws:iam::12345:role/x",
        "arn:evil:iam::123456789012:role/x",
        "arn:minio:iam::: role/x",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/a b",
        "arn:aws-:iam::123456789012:role/x",
    ] {
        assert!(!rules::is_role_arn(bad), "{bad}");
    }
}

#[test]
fn permissions_must_be_known_and_unique() {
    let mut s = spec();
    s.permissions = Some(vec!["s3:GetObject".into(), "s3:Nope".into()]);
    assert!(
        validate_spec(&s, DEFAULT_INTERVAL)
            .unwrap_err()
            .contains("unknown permission")
    );
    s.permissions = Some(vec!["s3:GetObject".into(), "s3:GetObject".into()]);
    assert!(
        validate_spec(&s, DEFAULT_INTERVAL)
            .unwrap_err()
            .contains("twice")
    );
    s.permissions = Some(vec![]);
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
    s.permissions = Some(vec!["s3:ListBucket".into()]);
    assert_eq!(
        validate_spec(&s, DEFAULT_INTERVAL).unwrap().permissions,
        [Permission::ListBucket]
    );
}

#[test]
fn endpoint_and_region_rules() {
    let mut s = spec();
    for ok in [
        "https://s3.example.com:9000",
        "http://127.0.0.1:15000",
        "https://minio.local/base",
        "http://[::1]:9000",
    ] {
        s.endpoint = Some(ok.into());
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok(), "{ok}");
    }
    for bad in [
        "ftp://x",
        "https://user:pw@host",
        "https://host?x=1",
        "host:9000",
        "https://",
    ] {
        s.endpoint = Some(bad.into());
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err(), "{bad}");
    }
    s.endpoint = None;
    s.sts_endpoint = Some("https://sts-fips.us-east-1.amazonaws.com/".into());
    let valid = validate_spec(&s, DEFAULT_INTERVAL).unwrap();
    assert_eq!(
        valid.sts_endpoint.as_deref(),
        Some("https://sts-fips.us-east-1.amazonaws.com/")
    );
    for bad in ["https://sts.example.com/x", "https://sts\n.example.com"] {
        s.sts_endpoint = Some(bad.into());
        let e = validate_spec(&s, DEFAULT_INTERVAL).unwrap_err();
        assert!(e.starts_with("spec.stsEndpoint"), "{e}");
    }
    s.sts_endpoint = None;
    s.region = "US-WEST-1".into();
    assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
}

#[test]
fn probe_settings_become_typed_options() {
    assert_eq!(
        validate_spec(&spec(), DEFAULT_INTERVAL).unwrap().probe,
        ProbeOptions::default()
    );
    let mut s = spec();
    s.probe = Some(Box::new(ProbeSettings {
        server_side_encryption: Some("aws:kms".into()),
        kms_key_id: Some("arn:aws:kms:us-west-1:123456789012:key/0c1d".into()),
        requester_pays: Some(true),
        checksum_algorithm: Some("SHA256".into()),
        read_only: Some(true),
        key_prefix: Some("_probe".into()),
    }));
    let p = validate_spec(&s, DEFAULT_INTERVAL).unwrap().probe;
    assert_eq!(p.encryption, Some(Encryption::Kms));
    assert_eq!(p.encryption.unwrap().as_str(), "aws:kms");
    assert_eq!(p.checksum.unwrap().as_str(), "SHA256");
    assert!(p.requester_pays && p.read_only);
    assert_eq!(p.key_prefix, "_probe");
    assert_eq!(ProbeOptions::default().key_prefix, ".s3connection-probe");
    for (e, name) in [
        (Encryption::Aes256, "AES256"),
        (Encryption::KmsDsse, "aws:kms:dsse"),
    ] {
        assert_eq!(name.parse::<Encryption>().unwrap(), e);
    }
}

#[test]
fn probe_settings_the_schema_refuses_are_refused_again() {
    let with = |p: ProbeSettings| {
        let mut s = spec();
        s.probe = Some(Box::new(p));
        validate_spec(&s, DEFAULT_INTERVAL).unwrap_err()
    };
    let e = with(ProbeSettings {
        server_side_encryption: Some("aws:kms:bogus".into()),
        ..Default::default()
    });
    assert_eq!(
        e,
        r#"spec.probe.serverSideEncryption "aws:kms:bogus" is not one of AES256, aws:kms or aws:kms:dsse"#
    );
    let e = with(ProbeSettings {
        checksum_algorithm: Some("MD5".into()),
        ..Default::default()
    });
    assert!(
        e.contains("CRC32, CRC32C, CRC64NVME, SHA1 or SHA256"),
        "{e}"
    );
    let e = with(ProbeSettings {
        server_side_encryption: Some("AES256".into()),
        kms_key_id: Some("alias/data".into()),
        ..Default::default()
    });
    assert_eq!(
        e,
        "spec.probe: kmsKeyId needs serverSideEncryption aws:kms or aws:kms:dsse"
    );
    for dir in [
        ".",
        "..",
        "..x",
        "a/b",
        "",
        "a b",
        "\u{1b}",
        &"p".repeat(65),
    ] {
        let e = with(ProbeSettings {
            key_prefix: Some(dir.to_string()),
            ..Default::default()
        });
        assert!(e.starts_with("spec.probe.keyPrefix"), "{dir:?}: {e}");
    }
    for hostile in [
        "key\u{7}".to_string(),
        "k\nX-Injected: 1".into(),
        "k".repeat(10 * 1024),
    ] {
        let e = with(ProbeSettings {
            server_side_encryption: Some("aws:kms".into()),
            kms_key_id: Some(hostile.clone()),
            ..Default::default()
        });
        assert!(e.starts_with("spec.probe.kmsKeyId"), "{e}");
        assert!(
            e.len() < 12 * 1024,
            "the message stays bounded by the value's bound"
        );
    }
}
