use serde_json::{Value, json};

use super::cli::{Format, policy_for_manifest};
use super::*;
use crate::crd::Permission::{self, *};
use crate::spec::{BucketPath, IrsaRole, OperatorRole, SecretKeys};

fn spec(bucket: &str, prefix: &str, region: &str, permissions: &[Permission]) -> ValidSpec {
    ValidSpec {
        target: BucketPath {
            bucket: bucket.into(),
            prefix: prefix.into(),
        },
        region: region.into(),
        endpoint: None,
        sts_endpoint: None,
        force_path_style: false,
        auth: AuthMethod::AccessKey(SecretKeys {
            secret_name: "creds".into(),
            access_key_id_key: "AWS_ACCESS_KEY_ID".into(),
            secret_access_key_key: "AWS_SECRET_ACCESS_KEY".into(),
            session_token_key: None,
        }),
        permissions: permissions.to_vec(),
        interval: std::time::Duration::from_secs(600),
        full_interval: std::time::Duration::from_secs(86_400),
        ca_secret: None,
        expected_bucket_owner: None,
        probe: Default::default(),
    }
}

/// The document as parsed JSON.
fn doc(s: &ValidSpec, aws: bool) -> Value {
    serde_json::to_value(identity_policy(s, aws).document).unwrap()
}

fn statement<'a>(d: &'a Value, sid: &str) -> Option<&'a Value> {
    d["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
}

/// Every action of the document, in order.
fn actions(d: &Value) -> Vec<String> {
    d["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

const FOUR: [Permission; 4] = [ListBucket, GetObject, PutObject, DeleteObject];
const ALL: [Permission; 5] = [
    ListBucket,
    GetObject,
    PutObject,
    DeleteObject,
    ReplicateObject,
];

#[test]
fn whole_bucket_has_no_condition() {
    let d = doc(&spec("output", "", "us-east-1", &FOUR), true);
    assert_eq!(d["Version"], "2012-10-17");
    let list = statement(&d, "ListBucket").unwrap();
    assert_eq!(list["Resource"], json!(["arn:aws:s3:::output"]));
    assert_eq!(list["Action"], json!(["s3:ListBucket"]));
    assert!(list.get("Condition").is_none());
    let objects = statement(&d, "Objects").unwrap();
    assert_eq!(objects["Resource"], json!(["arn:aws:s3:::output/*"]));
    assert_eq!(
        objects["Action"],
        json!(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
    );
    assert!(statement(&d, "SimulateOwnPolicy").is_none());
}

#[test]
fn prefix_limits_listing_and_objects() {
    for (prefix, literal_prefix) in [
        ("customers/", "customers/"),
        ("a/b/c/", "a/b/c/"),
        ("we ird+=,@/", "we ird+=,@/"),
        ("star*/q?/$x/", "star${*}/q${?}/${$}x/"),
    ] {
        let d = doc(&spec("output", prefix, "eu-west-1", &FOUR), false);
        let list = statement(&d, "ListBucket").unwrap();
        assert_eq!(list["Resource"], json!(["arn:aws:s3:::output"]));
        assert_eq!(
            list["Condition"]["StringLike"]["s3:prefix"],
            json!([literal_prefix, format!("{literal_prefix}*")]),
            "{prefix}"
        );
        let objects = statement(&d, "Objects").unwrap();
        assert_eq!(
            objects["Resource"],
            json!([format!("arn:aws:s3:::output/{literal_prefix}*")])
        );
    }
}

#[test]
fn partition_follows_the_region() {
    for (region, part) in [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("eu-central-1", "aws"),
    ] {
        let d = doc(&spec("b", "p/", region, &ALL), true);
        for s in d["Statement"].as_array().unwrap() {
            for r in s["Resource"].as_array().unwrap() {
                assert!(
                    r.as_str().unwrap().starts_with(&format!("arn:{part}:")),
                    "{r}"
                );
            }
        }
    }
}

#[test]
fn each_subset_gets_exactly_its_actions() {
    // Every non-empty subset of the five, on AWS and on a store.
    for mask in 1u8..32 {
        let perms: Vec<Permission> = ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect();
        for aws in [true, false] {
            let d = doc(&spec("b", "p/", "us-east-1", &perms), aws);
            let mut want: Vec<String> = perms.iter().map(|p| p.as_str().to_string()).collect();
            if aws && perms.contains(&ReplicateObject) {
                want.push(SIMULATE.into());
            }
            let mut got = actions(&d);
            got.sort();
            want.sort();
            assert_eq!(got, want, "{perms:?} aws={aws}");
            for s in d["Statement"].as_array().unwrap() {
                assert_eq!(s["Effect"], "Allow");
                for a in s["Action"].as_array().unwrap() {
                    assert!(!a.as_str().unwrap().contains('*'));
                }
                for r in s["Resource"].as_array().unwrap() {
                    assert_ne!(r, "*");
                    assert!(r.as_str().unwrap().starts_with("arn:aws:"));
                }
            }
        }
    }
}

#[test]
fn read_only_writes_nothing() {
    let d = doc(&spec("b", "", "us-east-1", &[ListBucket, GetObject]), true);
    assert_eq!(actions(&d), ["s3:ListBucket", "s3:GetObject"]);
}

#[test]
fn simulation_is_on_the_principal_itself() {
    let mut s = spec("b", "", "us-gov-east-1", &ALL);
    let d = doc(&s, true);
    assert_eq!(
        statement(&d, "SimulateOwnPolicy").unwrap()["Resource"],
        json!([
            "arn:aws-us-gov:iam::${aws:PrincipalAccount}:user/${aws:username}",
            "arn:aws-us-gov:iam::${aws:PrincipalAccount}:user/*/${aws:username}"
        ])
    );
    let role = "arn:aws:iam::123456789012:role/sync";
    s.auth = AuthMethod::OperatorRole(OperatorRole {
        role_arn: role.into(),
        session_name: None,
    });
    let d = doc(&s, true);
    assert_eq!(
        statement(&d, "SimulateOwnPolicy").unwrap()["Resource"],
        json!([role])
    );
    s.auth = AuthMethod::Irsa(IrsaRole {
        service_account: "sa".into(),
        role_arn: None,
        session_name: None,
    });
    let p = identity_policy(&s, true);
    assert!(p.simulation_principal_unknown);
    assert!(!actions(&serde_json::to_value(p.document).unwrap()).contains(&SIMULATE.to_string()));
}

const MANIFEST: &str = "
apiVersion: s3connection.dev/v1alpha1
kind: S3Connection
metadata: {name: c, namespace: n}
spec:
  bucket: output/customers
  region: cn-north-1
  permissions: [s3:ListBucket, s3:GetObject]
  auth: {accessKey: {secretName: creds}}
";

#[test]
fn manifest_prints_json_and_yaml() {
    let json_out = policy_for_manifest(MANIFEST, Format::Json).unwrap();
    let d: Value = serde_json::from_str(&json_out.stdout).unwrap();
    assert_eq!(
        statement(&d, "Objects").unwrap()["Resource"],
        json!(["arn:aws-cn:s3:::output/customers/*"])
    );
    let yaml_out = policy_for_manifest(MANIFEST, Format::Yaml).unwrap();
    let y: Value = yaml_serde::from_str(&yaml_out.stdout).unwrap();
    assert_eq!(y, d);
}

#[test]
fn the_connection_is_found_among_other_documents() {
    let with_sa =
        format!("apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: s}}\n---\n{MANIFEST}");
    let out = policy_for_manifest(&with_sa, Format::Json).unwrap();
    let d: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(actions(&d), ["s3:ListBucket", "s3:GetObject"]);
    let two = format!("{MANIFEST}---\n{MANIFEST}");
    assert!(policy_for_manifest(&two, Format::Json).is_err());
}

#[test]
fn bad_manifests_are_one_line_errors() {
    for bad in [
        "{{{not yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        "apiVersion: s3connection.dev/v1alpha1\nkind: S3Connection\nmetadata: {name: c}\nspec: 3\n",
        &MANIFEST.replace("output/customers", "Bad_Bucket"),
        &MANIFEST.replace("s3:GetObject", "s3:Everything"),
        "",
        "- a\n- b\n",
    ] {
        let e = policy_for_manifest(bad, Format::Json).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(!e.is_empty());
    }
}

mod trust;

#[test]
fn an_sse_kms_probe_needs_the_key_when_the_spec_names_its_arn() {
    use crate::spec::{Encryption, ProbeOptions};
    let key = "arn:aws:kms:us-west-1:123456789012:key/0c1d2e3f";
    let kms = |key: Option<&str>, permissions: &[Permission], read_only: bool| {
        let mut s = spec("output", "customers/", "us-west-1", permissions);
        s.probe = ProbeOptions {
            encryption: Some(Encryption::Kms),
            kms_key_id: key.map(str::to_string),
            read_only,
            ..Default::default()
        };
        s
    };
    let s = kms(
        Some(key),
        &[ListBucket, GetObject, PutObject, DeleteObject],
        false,
    );
    let d = doc(&s, true);
    let k = statement(&d, "KmsKey").expect("a KMS statement");
    assert_eq!(k["Action"], json!(["kms:GenerateDataKey", "kms:Decrypt"]));
    assert_eq!(k["Resource"], json!([key]));
    assert!(!identity_policy(&s, true).kms_key_unnamed);
    // Writing without reading back needs only the data key.
    let d = doc(&kms(Some(key), &[PutObject], false), true);
    assert_eq!(
        statement(&d, "KmsKey").unwrap()["Action"],
        json!(["kms:GenerateDataKey"])
    );
    // Nothing written, nothing encrypted.
    let d = doc(
        &kms(Some(key), &[ListBucket, GetObject, PutObject], true),
        true,
    );
    assert!(statement(&d, "KmsKey").is_none());
    // An alias or the bucket's default key cannot be named: a note instead.
    for unnamed in [Some("alias/data"), Some("0c1d2e3f"), None] {
        let p = identity_policy(&kms(unnamed, &[PutObject], false), true);
        assert!(p.kms_key_unnamed, "{unnamed:?}");
        let d = serde_json::to_value(p.document).unwrap();
        assert!(statement(&d, "KmsKey").is_none());
    }
    // A bucket policy holds S3 statements only.
    let b = bucket_policy(&s, "arn:aws:iam::210987654321:role/reader").unwrap();
    let b = serde_json::to_value(b).unwrap();
    assert!(statement(&b, "KmsKey").is_none());
    assert!(statement(&b, "Objects").is_some());
}
