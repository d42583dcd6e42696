use std::io::Write as _;
use std::sync::{Arc, Mutex};

use super::input::{self, Flags, Origin};
use super::report::{Fate, ProbeObject, Report, exit_code};
use super::secret_file::{SecretFiles, parse};
use super::source::from_files;
use super::*;
use crate::crd::{Permission, PermissionOutcome};
use crate::outcome::{Leftover, PermissionCheck, Reason, Severity};
use crate::spec::ValidSpec;

const AK: &str = "AKIAFILEEXAMPLE00001";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFILEKEY";

fn conn_yaml(extra_spec: &str) -> String {
    format!(
        "apiVersion: s3connection.dev/v1alpha1\nkind: S3Connection\nmetadata: {{name: data, namespace: team-a}}\nspec:\n  bucket: bkt/p\n  region: us-east-1\n  auth: {{accessKey: {{secretName: creds}}}}\n{extra_spec}"
    )
}

fn valid(yaml: &str) -> ValidSpec {
    let conn = manifest::the_connection(yaml).unwrap();
    validation::valid_spec(&conn.spec, Duration::from_secs(600)).unwrap()
}

fn files(yaml: &str) -> SecretFiles {
    SecretFiles::of(parse(yaml).unwrap()).unwrap()
}

fn secret_yaml(body: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\n{body}")
}

fn b64(s: &str) -> String {
    let v = serde_json::to_value(k8s_openapi::ByteString(s.as_bytes().to_vec())).unwrap();
    v.as_str().unwrap().to_string()
}

fn resolved_from(secret: &str) -> Result<crate::credentials::Resolved, Problem> {
    from_files(
        &files(&secret_yaml(secret)),
        &valid(&conn_yaml("")),
        "team-a",
        false,
    )
}

#[test]
fn secret_files_read_data_and_string_data_like_the_api_server() {
    // data is base64; stringData is merged over it.
    let body = format!(
        "type: Opaque\ndata:\n  AWS_ACCESS_KEY_ID: {}\n  AWS_SECRET_ACCESS_KEY: {}\nstringData:\n  AWS_SECRET_ACCESS_KEY: {SK}\n",
        b64(AK),
        b64("overridden-by-string-data")
    );
    let r = resolved_from(&body).unwrap();
    assert_eq!(r.credentials.access_key_id(), AK);
    assert_eq!(r.credentials.secret_access_key(), SK);
    // stringData alone.
    let r = resolved_from(&format!(
        "stringData: {{AWS_ACCESS_KEY_ID: {AK}, AWS_SECRET_ACCESS_KEY: {SK}}}\n"
    ))
    .unwrap();
    assert_eq!(r.credentials.access_key_id(), AK);
}

#[test]
fn a_secret_file_is_refused_as_the_operator_refuses_the_secret() {
    let with = |ak: &str| {
        format!("stringData:\n  AWS_ACCESS_KEY_ID: {ak}\n  AWS_SECRET_ACCESS_KEY: {SK}\n")
    };
    // A newline inside a value: the operator's SecretValueInvalid, no value told.
    let p = resolved_from(&with("\"AKIA\\nINJECTED\"")).unwrap_err();
    assert_eq!(p.reason, Reason::SecretValueInvalid);
    assert!(!p.message.contains("INJECTED"), "{}", p.message);
    // Not Opaque.
    let p = resolved_from(&format!("type: kubernetes.io/tls\n{}", with(AK))).unwrap_err();
    assert_eq!(p.reason, Reason::SecretTypeNotAllowed);
    // A key missing.
    let p = resolved_from(&format!("stringData: {{AWS_ACCESS_KEY_ID: {AK}}}\n")).unwrap_err();
    assert_eq!(p.reason, Reason::SecretKeyMissing);
    assert!(p.message.contains("AWS_SECRET_ACCESS_KEY"), "{}", p.message);
    // Unlabelled, when labels are required.
    let spec = valid(&conn_yaml(""));
    let p = from_files(&files(&secret_yaml(&with(AK))), &spec, "team-a", true).unwrap_err();
    assert_eq!(p.reason, Reason::SecretLabelMissing);
}

#[test]
fn the_secret_is_found_by_name_in_the_connections_namespace() {
    let spec = valid(&conn_yaml(""));
    let body = format!("stringData: {{AWS_ACCESS_KEY_ID: {AK}, AWS_SECRET_ACCESS_KEY: {SK}}}\n");
    let elsewhere = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: other}}\n{body}"
    );
    for yaml in [
        elsewhere.clone(),
        secret_yaml(&body).replace("name: creds", "name: nope"),
    ] {
        let p = from_files(&files(&yaml), &spec, "team-a", false).unwrap_err();
        assert_eq!(p.reason, Reason::SecretNotFound, "{yaml}");
    }
    // Several documents, other kinds skipped; the namespaced one first.
    let mixed = format!(
        "{}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: creds}}\n---\n{elsewhere}\n---\n{}",
        conn_yaml(""),
        secret_yaml(&body).replace("name: creds", "name: creds, namespace: team-a")
    );
    assert!(from_files(&files(&mixed), &spec, "team-a", false).is_ok());
}

#[test]
fn unusable_secret_files_are_one_line_errors() {
    for (yaml, says) in [
        ("a: [\n", "not YAML"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {}\n",
            "metadata.name",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: \"not base64!\"}\n",
            "not a valid Secret",
        ),
    ] {
        let e = parse(yaml).unwrap_err();
        assert!(e.contains(says) && !e.contains('\n'), "{e}");
    }
    let twice = format!("{}\n---\n{}", secret_yaml(""), secret_yaml(""));
    let e = SecretFiles::of(parse(&twice).unwrap()).unwrap_err();
    assert!(e.contains("more than once"), "{e}");
}

#[test]
fn every_credential_value_of_a_file_is_redacted_also_when_invalid() {
    let files = files(&secret_yaml(&format!(
        "stringData:\n  AWS_ACCESS_KEY_ID: \"AKIAFIRSTLINE\\nSECONDLINE\"\n  AWS_SECRET_ACCESS_KEY: {SK}\n  unrelated: us-east-1\n"
    )));
    let spec = valid(&conn_yaml(""));
    let AuthMethod::AccessKey(keys) = &spec.auth else {
        panic!("access key")
    };
    let mut r = Redactor::default();
    files.redact_credentials("team-a", keys, &mut r);
    let text = r.scrub(&format!("AKIAFIRSTLINE SECONDLINE {SK} us-east-1"));
    assert_eq!(text, "[REDACTED] [REDACTED] [REDACTED] us-east-1");
}

#[test]
fn exactly_one_credential_source_and_clear_combinations() {
    let ak = valid(&conn_yaml("")).auth;
    let irsa = valid(&conn_yaml("").replace(
        "accessKey: {secretName: creds}",
        "iamRole: {serviceAccountName: sync}",
    ))
    .auth;
    let operator = valid(&conn_yaml("").replace(
        "accessKey: {secretName: creds}",
        "iamRole: {roleArn: \"arn:aws:iam::123456789012:role/r\"}",
    ))
    .auth;
    let f = |from_cluster, secret_files, local| Flags {
        from_cluster,
        secret_files,
        local,
    };
    for (flags, auth, has, want) in [
        (f(true, false, false), &ak, false, Origin::Cluster),
        (f(false, true, false), &ak, true, Origin::SecretFile),
        (f(false, false, true), &ak, false, Origin::Local),
        // Local credentials, and a file for the CA Secret only.
        (f(false, true, true), &ak, false, Origin::Local),
        (f(true, false, false), &irsa, false, Origin::Cluster),
    ] {
        assert_eq!(input::origin(flags, auth, has), Ok(want), "{flags:?}");
    }
    for (flags, auth, has) in [
        (f(false, false, false), &ak, false),
        (f(true, true, false), &ak, false),
        (f(true, false, true), &ak, false),
        (f(false, true, true), &ak, true),
        (f(false, true, false), &irsa, false),
        (f(false, false, true), &irsa, false),
        (f(true, false, false), &operator, false),
    ] {
        let e = input::origin(flags, auth, has).unwrap_err();
        assert!(!e.is_empty() && !e.contains('\n'), "{flags:?}: {e}");
    }
}

#[test]
fn the_namespace_is_the_manifests_then_the_flags_then_the_kubeconfigs() {
    assert_eq!(input::namespace(Some("a"), None, Some("k")).unwrap(), "a");
    assert_eq!(input::namespace(Some("a"), Some("a"), None).unwrap(), "a");
    assert_eq!(input::namespace(None, Some("f"), Some("k")).unwrap(), "f");
    assert_eq!(input::namespace(None, None, Some("k")).unwrap(), "k");
    assert_eq!(input::namespace(None, None, None).unwrap(), "default");
    assert!(input::namespace(Some("a"), Some("b"), None).is_err());
}

#[test]
fn exit_codes_follow_the_reasons_severity() {
    assert_eq!(exit_code(Reason::Validated.severity()), 0);
    for r in [
        Reason::PermissionDenied,
        Reason::SecretNotFound,
        Reason::SecretValueInvalid,
        Reason::EndpointNotAllowed,
        Reason::WrongRegion,
        Reason::InvalidCredentials,
    ] {
        assert_eq!(exit_code(r.severity()), 1, "{r}");
    }
    for r in [
        Reason::EndpointUnreachable,
        Reason::Transient,
        Reason::ValidationTimedOut,
        Reason::InternalError,
    ] {
        assert_eq!(exit_code(r.severity()), 2, "{r}");
    }
    assert_eq!(exit_code(Severity::Transient), crate::cli::EXIT_UNKNOWN);
}

fn id() -> ConnectionId {
    ConnectionId {
        namespace: "team-a".into(),
        name: "data".into(),
        uid: "check-1".into(),
    }
}

fn denied_outcome() -> Outcome {
    let mut o = Outcome::new(Reason::PermissionDenied, "S3 denied s3:PutObject".into());
    o.auth = Some(crate::crd::AuthKind::AccessKey);
    o.authenticated = true;
    o.bucket_reached = true;
    o.identity = Some("arn:aws:iam::123456789012:user/u".into());
    o.bucket_region = Some("us-east-1".into());
    o.permissions = vec![
        PermissionCheck {
            permission: Permission::ListBucket,
            result: PermissionOutcome::Allowed,
            message: "listed".into(),
            proved_at: None,
        },
        PermissionCheck {
            permission: Permission::PutObject,
            result: PermissionOutcome::Denied,
            message: "denied".into(),
            proved_at: None,
        },
    ];
    o
}

#[test]
fn the_json_names_reason_permissions_identity_region_and_probe_object() {
    let spec = valid(&conn_yaml(""));
    let r = Report::new(
        &id(),
        Some(&spec),
        &denied_outcome(),
        "p/k",
        "conn.yaml",
        Timestamp::now(),
    );
    assert_eq!(r.exit_code(), 1);
    let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(v["ready"], "False");
    assert_eq!(v["reason"], "PermissionDenied");
    assert_eq!(v["namespace"], "team-a");
    assert_eq!(v["name"], "data");
    assert_eq!(v["auth"], "AccessKey");
    assert_eq!(v["identity"], "arn:aws:iam::123456789012:user/u");
    assert_eq!(v["bucketRegion"], "us-east-1");
    assert_eq!(v["permissions"][0]["action"], "s3:ListBucket");
    assert_eq!(v["permissions"][0]["result"], "Allowed");
    assert_eq!(v["permissions"][1]["action"], "s3:PutObject");
    assert_eq!(v["permissions"][1]["result"], "Denied");
    assert_eq!(v["probeObject"]["fate"], "NotWritten");
    assert!(
        v["policyHint"]
            .as_str()
            .unwrap()
            .contains("arn:aws:s3:::bkt/p/*")
    );
    assert_eq!(
        v["policyCommand"],
        "s3-connection-operator policy -f conn.yaml"
    );
    let types: Vec<&str> = v["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Ready",
            "Failed",
            "Authenticated",
            "BucketAccessible",
            "PermissionsGranted",
            "Stalled"
        ]
    );
    // The table says the same.
    let table = r.table();
    for needle in [
        "False (PermissionDenied)",
        "s3:PutObject",
        "Denied",
        "arn:aws:s3:::bkt",
    ] {
        assert!(table.contains(needle), "{needle}: {table}");
    }

    // Ready: no hint; unknown: exit 2, nothing of the last answer kept.
    let mut ok = denied_outcome();
    ok.reason = Reason::Validated;
    ok.permissions.truncate(1);
    let r = Report::new(
        &id(),
        Some(&spec),
        &ok,
        "p/k",
        "conn.yaml",
        Timestamp::now(),
    );
    assert_eq!((r.ready.as_str(), r.exit_code()), ("True", 0));
    assert!(r.policy_hint.is_none() && !r.json().contains("policyHint"));
    let down = Outcome::problem(Problem::new(Reason::EndpointUnreachable, "down"));
    let r = Report::new(
        &id(),
        Some(&spec),
        &down,
        "p/k",
        "conn.yaml",
        Timestamp::now(),
    );
    assert_eq!(
        (r.ready.as_str(), r.reason.as_str(), r.exit_code()),
        ("Unknown", "EndpointUnreachable", 2)
    );
}

#[test]
fn the_probe_objects_fate() {
    let mut o = denied_outcome();
    assert_eq!(ProbeObject::of(&o, "b", "k").fate, Fate::NotWritten);
    o.permissions[1].result = PermissionOutcome::Allowed;
    let deleted = ProbeObject::of(&o, "b", "p/k");
    assert_eq!(
        (
            deleted.fate,
            deleted.bucket.as_deref(),
            deleted.key.as_deref()
        ),
        (Fate::Deleted, Some("b"), Some("p/k"))
    );
    o.leftover = Some(Leftover {
        bucket: "b".into(),
        key: "p/other".into(),
        version: None,
    });
    let left = ProbeObject::of(&o, "b", "p/k");
    assert_eq!(
        (left.fate, left.key.as_deref()),
        (Fate::Left, Some("p/other"))
    );
}

#[test]
fn the_log_is_bounded_and_scrubbed() {
    let log = logs::Log::default();
    let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&log);
    w.write_all(format!("debug: signing with {AK}\n").as_bytes())
        .unwrap();
    let mut r = Redactor::default();
    r.add(AK);
    assert_eq!(log.scrubbed(&r), "debug: signing with [REDACTED]\n");
    w.write_all(&vec![b'x'; logs::MAX_LOG]).unwrap();
    let text = log.scrubbed(&r);
    assert!(text.len() <= logs::MAX_LOG + 20 && text.ends_with("(log cut)\n"));
}

/// `check` without a network: what it answers before any request.
async fn offline(manifest: &str, secret: Option<&str>, extra: &[&str]) -> Result<Report, String> {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    let mut m = tempfile::NamedTempFile::new().unwrap();
    m.write_all(manifest.as_bytes()).unwrap();
    let mut s = tempfile::NamedTempFile::new().unwrap();
    let mut argv = vec![
        "check".to_string(),
        "-f".into(),
        m.path().display().to_string(),
    ];
    if let Some(secret) = secret {
        s.write_all(secret.as_bytes()).unwrap();
        argv.extend(["--secret-file".into(), s.path().display().to_string()]);
    }
    argv.extend(extra.iter().map(|a| a.to_string()));
    let args = Cli::try_parse_from(argv).unwrap().args;
    let redactor = Arc::new(Mutex::new(Redactor::default()));
    check(&args, redactor).await
}

#[tokio::test]
async fn answers_before_any_request_are_the_operators() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let secret = secret_yaml(&format!(
        "stringData: {{AWS_ACCESS_KEY_ID: {AK}, AWS_SECRET_ACCESS_KEY: {SK}}}\n"
    ));
    let at = "  endpoint: https://minio.example.com:9000\n";
    // Not allowed: refused before the Secret is read (even a missing one).
    let r = offline(&conn_yaml(at), Some(&secret), &[]).await.unwrap();
    assert_eq!(
        (r.reason.as_str(), r.exit_code()),
        ("EndpointNotAllowed", 1)
    );
    let wrong = secret.replace("name: creds", "name: other");
    let r = offline(&conn_yaml(at), Some(&wrong), &[]).await.unwrap();
    assert_eq!(r.reason, "EndpointNotAllowed");
    // Allowed, but the Secret is not in the file.
    let allow = ["--allowed-endpoint", "https://minio.example.com:9000"];
    let r = offline(&conn_yaml(at), Some(&wrong), &allow).await.unwrap();
    assert_eq!((r.reason.as_str(), r.exit_code()), ("SecretNotFound", 1));
    assert!(r.message.contains("\"team-a\""), "{}", r.message);
    // An invalid spec.
    let bad = conn_yaml("  validationInterval: 1s\n");
    let r = offline(&bad, Some(&secret), &[]).await.unwrap();
    assert_eq!((r.reason.as_str(), r.exit_code()), ("InvalidSpec", 1));
    // Not runnable: exit 2 with one line.
    for (manifest, extra) in [
        ("a: [\n".to_string(), &[][..]),
        ("apiVersion: v1\nkind: ConfigMap\n".into(), &[]),
        (conn_yaml(""), &["-n", "elsewhere"]),
        (conn_yaml(""), &["--allowed-endpoint", "ftp://x"]),
        (conn_yaml(""), &["--secret-file", "-", "--secret-file", "-"]),
    ] {
        let e = offline(&manifest, Some(&secret), extra).await.unwrap_err();
        assert!(!e.is_empty() && !e.contains('\n'), "{e}");
    }
    // Nothing read for credentials: no source given.
    let e = offline(&conn_yaml(""), None, &[]).await.unwrap_err();
    assert_eq!(e, input::NO_SOURCE);
}
