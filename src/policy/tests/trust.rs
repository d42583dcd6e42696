//! Trust and bucket policies, and the `policy` command's flags, run on
//! manifests without a cluster ([`Cluster::none`]). Outputs are parsed,
//! not compared as strings.

use std::io::Write;

use clap::Parser;
use serde_json::{Value, json};

use crate::policy::cli::{Args, Cluster, printed};
use crate::policy::trust::{oidc_provider, operator, web_identity};

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: Args,
}

/// `policy -f <manifest> <flags>` without a cluster: the document parsed
/// (JSON, or YAML with `-o yaml`) and the notes.
async fn policy(manifest: &str, flags: &[&str]) -> Result<(Value, Vec<String>), String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(manifest.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();
    let argv = ["policy", "-f", path]
        .into_iter()
        .chain(flags.iter().copied());
    let cmd = Cmd::try_parse_from(argv).map_err(|e| e.to_string())?;
    let out = printed(&cmd.args, &mut Cluster::none()).await?;
    let doc = if flags.contains(&"yaml") {
        yaml_serde::from_str(&out.stdout).unwrap()
    } else {
        serde_json::from_str(&out.stdout).unwrap()
    };
    Ok((doc, out.notes))
}

fn connection(ns: Option<&str>, auth: &str, extra: &str) -> String {
    let ns = ns.map(|n| format!(", namespace: {n}")).unwrap_or_default();
    format!(
        "apiVersion: s3connection.dev/v1alpha1\nkind: S3Connection\nmetadata: {{name: c{ns}}}\nspec:\n  bucket: output/customers\n  region: us-east-1\n  auth: {auth}\n{extra}"
    )
}

fn service_account(name: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: Vec<String> = annotations
        .iter()
        .map(|(k, v)| format!("{k}: {v:?}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  annotations: {{{}}}\n---\n",
        annotations.join(", ")
    )
}

const ROLE: &str = "arn:aws:iam::123456789012:role/sync";
const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE";
const PROVIDER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE";

fn irsa(role: Option<&str>, sa: &str) -> String {
    let role = role
        .map(|r| format!(", roleArn: {r:?}"))
        .unwrap_or_default();
    format!("{{iamRole: {{serviceAccountName: {sa}{role}}}}}")
}

/// The one statement of a trust policy.
fn only(doc: &Value) -> &Value {
    assert_eq!(doc["Version"], "2012-10-17");
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{doc}");
    &statements[0]
}

#[test]
fn the_provider_is_the_issuers_host_and_path() {
    for (issuer, provider) in [
        (ISSUER, PROVIDER),
        (&format!("{ISSUER}/") as &str, PROVIDER),
        ("https://127.0.0.1:38443", "127.0.0.1:38443"),
        ("https://127.0.0.1:38443/", "127.0.0.1:38443"),
        (
            "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
            "container.googleapis.com/v1/projects/p/locations/l/clusters/c",
        ),
        ("  https://issuer.example.com  ", "issuer.example.com"),
    ] {
        assert_eq!(oidc_provider(issuer).unwrap(), provider, "{issuer}");
    }
    for bad in [
        "http://issuer.example.com",
        "issuer.example.com",
        "https://issuer.example.com/?a=b",
        "https://user@issuer.example.com",
        "https:///path",
        "not a url",
        "",
        &format!("https://{}.example.com", "a".repeat(300)),
        "https://issuer\n.example.com",
    ] {
        let e = oidc_provider(bad).unwrap_err();
        assert!(!e.contains('\n') && e.len() < 400, "{e}");
    }
}

#[test]
fn web_identity_trust_follows_the_roles_partition_and_account() {
    for (role, federated) in [
        (
            "arn:aws:iam::123456789012:role/sync",
            format!("arn:aws:iam::123456789012:oidc-provider/{PROVIDER}"),
        ),
        (
            "arn:aws-cn:iam::210987654321:role/path/sync",
            format!("arn:aws-cn:iam::210987654321:oidc-provider/{PROVIDER}"),
        ),
        (
            "arn:aws-us-gov:iam::111122223333:role/sync",
            format!("arn:aws-us-gov:iam::111122223333:oidc-provider/{PROVIDER}"),
        ),
    ] {
        let doc = serde_json::to_value(
            web_identity(role, PROVIDER, "team-a", "s3-sync", "sts.amazonaws.com").unwrap(),
        )
        .unwrap();
        let s = only(&doc);
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Principal"], json!({ "Federated": federated }));
        assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {
                format!("{PROVIDER}:sub"): "system:serviceaccount:team-a:s3-sync",
                format!("{PROVIDER}:aud"): "sts.amazonaws.com",
            }})
        );
        assert!(s.get("Resource").is_none() && s.get("Sid").is_none());
    }
    for not_a_role in [
        "arn:aws:iam::123456789012:user/sync",
        "arn:aws:s3:::bucket",
        "role/sync",
    ] {
        let e = web_identity(not_a_role, PROVIDER, "n", "s", "a").unwrap_err();
        assert!(e.contains("not a role ARN"), "{e}");
    }
}

#[test]
fn operator_trust_requires_the_external_id() {
    let doc = serde_json::to_value(
        operator("arn:aws:iam::123456789012:role/op", "c0ffee:team-a").unwrap(),
    )
    .unwrap();
    let s = only(&doc);
    assert_eq!(
        s["Principal"],
        json!({"AWS": "arn:aws:iam::123456789012:role/op"})
    );
    assert_eq!(s["Action"], "sts:AssumeRole");
    assert_eq!(
        s["Condition"],
        json!({"StringEquals": {"sts:ExternalId": "c0ffee:team-a"}})
    );
    for principal in [
        "arn:aws:iam::123456789012:user/op",
        "arn:aws:iam::123456789012:root",
        "arn:aws-cn:sts::123456789012:assumed-role/op/session",
    ] {
        assert!(operator(principal, "c:n").is_ok(), "{principal}");
    }
    for bad in [
        "op",
        "arn:aws:iam:::role/op",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:role/op with space",
        &format!("arn:aws:iam::123456789012:role/{}", "a".repeat(3000)),
    ] {
        let e = operator(bad, "c:n").unwrap_err();
        assert!(e.len() < 500 && !e.contains('\n'), "{e}");
    }
    for bad_id in ["c d:n", "x", &format!("{}:n", "c".repeat(1300))] {
        let e = operator("arn:aws:iam::123456789012:role/op", bad_id).unwrap_err();
        assert!(e.contains("--cluster-name"), "{e}");
    }
}

#[tokio::test]
async fn irsa_trust_from_a_manifest() {
    // The role from the spec; the namespace from the manifest.
    let m = connection(Some("team-a"), &irsa(Some(ROLE), "s3-sync"), "");
    let (doc, notes) = policy(&m, &["--trust", "--oidc-issuer", ISSUER])
        .await
        .unwrap();
    let s = only(&doc);
    assert_eq!(
        s["Principal"]["Federated"],
        format!("arn:aws:iam::123456789012:oidc-provider/{PROVIDER}")
    );
    let eq = &s["Condition"]["StringEquals"];
    assert_eq!(
        eq[format!("{PROVIDER}:sub")],
        "system:serviceaccount:team-a:s3-sync"
    );
    assert_eq!(eq[format!("{PROVIDER}:aud")], "sts.amazonaws.com");
    assert!(notes.is_empty(), "{notes:?}");

    // The role from the ServiceAccount in the same file, in another
    // partition; -n names the namespace; YAML parses to the same shape.
    let gov = "arn:aws-us-gov:iam::111122223333:role/sync";
    let m = service_account("s3-sync", &[("eks.amazonaws.com/role-arn", gov)])
        + &connection(None, &irsa(None, "s3-sync"), "");
    let (doc, _) = policy(
        &m,
        &["--trust", "--oidc-issuer", ISSUER, "-n", "b", "-o", "yaml"],
    )
    .await
    .unwrap();
    let s = only(&doc);
    assert_eq!(
        s["Principal"]["Federated"],
        format!("arn:aws-us-gov:iam::111122223333:oidc-provider/{PROVIDER}")
    );
    assert_eq!(
        s["Condition"]["StringEquals"][format!("{PROVIDER}:sub")],
        "system:serviceaccount:b:s3-sync"
    );

    // Without a namespace anywhere (and no kubeconfig): `default`, said.
    let m = connection(None, &irsa(Some(ROLE), "s3-sync"), "");
    let (doc, notes) = policy(&m, &["--trust", "--oidc-issuer", ISSUER])
        .await
        .unwrap();
    assert_eq!(
        only(&doc)["Condition"]["StringEquals"][format!("{PROVIDER}:sub")],
        "system:serviceaccount:default:s3-sync"
    );
    assert!(notes.iter().any(|n| n.contains("\"default\"")), "{notes:?}");
}

#[tokio::test]
async fn the_audience_is_the_one_the_operator_requests() {
    let plain = connection(Some("n"), &irsa(Some(ROLE), "sa"), "");
    let store = connection(
        Some("n"),
        &irsa(Some(ROLE), "sa"),
        "  endpoint: https://minio.example.com:9000\n",
    );
    let own_sts = |sts: &str| {
        connection(
            Some("n"),
            &irsa(Some(ROLE), "sa"),
            &format!("  stsEndpoint: {sts}\n"),
        )
    };
    let sa = |key: &str, value: &str| service_account("sa", &[(key, value)]);
    let eks = "eks.amazonaws.com/audience";
    let own = "s3connection.dev/audience";
    // (manifest, --audience, the audience; `Err(text)`: refused, saying text)
    let cases: [(String, Option<&str>, Result<&str, &str>); 11] = [
        // AWS: the ServiceAccount's annotation, else the flag, else the default.
        (plain.clone(), None, Ok("sts.amazonaws.com")),
        (plain.clone(), Some("custom"), Ok("custom")),
        (sa(eks, "from-sa") + &plain, Some("custom"), Ok("from-sa")),
        // A ServiceAccount of another name does not count.
        (
            service_account("other", &[(eks, "x")]) + &plain,
            None,
            Ok("sts.amazonaws.com"),
        ),
        // A store: never AWS's audience; the ServiceAccount's store
        // audience, else the one the administrator configured (--audience).
        (store.clone(), None, Err(";audience=")),
        (store.clone(), Some("sts.amazonaws.com"), Err("--audience")),
        (sa(eks, "minio") + &store, None, Err("--audience")),
        (store.clone(), Some("minio"), Ok("minio")),
        (sa(own, "mine") + &store, Some("minio"), Ok("mine")),
        // The connection's own STS: AWS's audience only under AWS's domains.
        (
            own_sts("https://sts-fips.us-east-1.amazonaws.com"),
            None,
            Ok("sts.amazonaws.com"),
        ),
        (
            own_sts("https://sts.internal:8443"),
            None,
            Err(";audience="),
        ),
    ];
    for (manifest, flag, want) in cases {
        let mut flags = vec!["--trust", "--oidc-issuer", ISSUER];
        flags.extend(flag.iter().flat_map(|a| ["--audience", *a]));
        let got = policy(&manifest, &flags).await;
        match (want, got) {
            (Ok(audience), Ok((doc, _))) => assert_eq!(
                only(&doc)["Condition"]["StringEquals"][format!("{PROVIDER}:aud")],
                audience,
                "{manifest}"
            ),
            (Err(says), Err(e)) => assert!(e.contains(says), "{manifest}: {e}"),
            (want, got) => panic!("{manifest} {flag:?}: want {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn operator_trust_from_a_manifest() {
    let m = connection(
        Some("team-a"),
        &format!("{{iamRole: {{roleArn: {ROLE:?}}}}}"),
        "",
    );
    let op = "arn:aws:iam::123456789012:role/s3-connection-operator";
    let all = [
        "--trust",
        "--operator-principal",
        op,
        "--cluster-name",
        "prod",
    ];
    let (doc, _) = policy(&m, &all).await.unwrap();
    let s = only(&doc);
    assert_eq!(s["Principal"], json!({ "AWS": op }));
    assert_eq!(
        s["Condition"]["StringEquals"]["sts:ExternalId"],
        "prod:team-a"
    );
    // Each missing piece is named by its flag; -n may not contradict the
    // manifest's namespace.
    for (flags, says) in [
        (
            &["--trust", "--cluster-name", "prod"][..],
            "--operator-principal",
        ),
        (&all[..3], "--cluster-name"),
        (&[&all[..], &["-n", "other"]].concat(), "does not match"),
    ] {
        let e = policy(&m, flags).await.unwrap_err();
        assert!(e.contains(says), "{flags:?}: {e}");
    }
}

#[tokio::test]
async fn what_cannot_be_known_is_asked_for() {
    // IRSA without roleArn and without the ServiceAccount in the file.
    let m = connection(Some("n"), &irsa(None, "sa"), "");
    let e = policy(&m, &["--trust", "--oidc-issuer", ISSUER])
        .await
        .unwrap_err();
    assert!(e.contains("eks.amazonaws.com/role-arn"), "{e}");
    assert!(e.contains("no ServiceAccount \"sa\""), "{e}");
    // An annotation that is not a role ARN.
    let bad = service_account("sa", &[("eks.amazonaws.com/role-arn", "nope")]) + &m;
    let e = policy(&bad, &["--trust", "--oidc-issuer", ISSUER])
        .await
        .unwrap_err();
    assert!(e.contains("\"nope\""), "{e}");
    // No issuer and no cluster to read it from.
    let e = policy(
        &m.replace(
            "{serviceAccountName: sa}",
            &format!("{{serviceAccountName: sa, roleArn: {ROLE:?}}}"),
        ),
        &["--trust"],
    )
    .await
    .unwrap_err();
    assert!(e.contains("--oidc-issuer"), "{e}");
    // An access key assumes no role.
    let keys = connection(Some("n"), "{accessKey: {secretName: creds}}", "");
    let e = policy(&keys, &["--trust"]).await.unwrap_err();
    assert!(e.contains("assumes no role"), "{e}");
    let e = policy(&keys, &["--bucket-policy"]).await.unwrap_err();
    assert!(e.contains("--principal"), "{e}");
}

#[tokio::test]
async fn bucket_policy_lets_the_principal_do_exactly_the_s3_part() {
    let op_role = format!("{{iamRole: {{roleArn: {ROLE:?}}}}}");
    for (region, part) in [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ] {
        let m = connection(Some("n"), &op_role, "").replace("us-east-1", region);
        let (doc, _) = policy(&m, &["--bucket-policy"]).await.unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2, "{doc}");
        for s in statements {
            assert_eq!(s["Principal"], json!({ "AWS": ROLE }));
            for a in s["Action"].as_array().unwrap() {
                assert!(a.as_str().unwrap().starts_with("s3:"), "{a}");
            }
            for r in s["Resource"].as_array().unwrap() {
                let r = r.as_str().unwrap();
                assert!(r.starts_with(&format!("arn:{part}:s3:::output")), "{r}");
            }
        }
        assert_eq!(
            statements[1]["Resource"],
            json!([format!("arn:{part}:s3:::output/customers/*")])
        );
    }
    // --principal for an access key's user; it replaces a spec's role.
    let user = "arn:aws:iam::210987654321:user/sync";
    let keys = connection(Some("n"), "{accessKey: {secretName: creds}}", "");
    for m in [keys, connection(Some("n"), &op_role, "")] {
        let (doc, _) = policy(&m, &["--bucket-policy", "--principal", user])
            .await
            .unwrap();
        for s in doc["Statement"].as_array().unwrap() {
            assert_eq!(s["Principal"], json!({ "AWS": user }));
        }
    }
    // IRSA: the ServiceAccount's role.
    let m = service_account("sa", &[("eks.amazonaws.com/role-arn", ROLE)])
        + &connection(Some("n"), &irsa(None, "sa"), "");
    let (doc, _) = policy(&m, &["--bucket-policy"]).await.unwrap();
    assert_eq!(doc["Statement"][0]["Principal"], json!({ "AWS": ROLE }));
}

#[tokio::test]
async fn bad_flags_are_one_line_errors() {
    let m = connection(Some("n"), &irsa(Some(ROLE), "sa"), "");
    for flags in [
        &["--trust", "--bucket-policy"][..],
        &["--trust", "--oidc-issuer", "http://insecure.example.com"],
        &["--trust", "--oidc-issuer", "https://x.example.com/?q=1"],
        &["--trust", "--audience", "a;b"],
        &["--trust", "--audience", "a\nb"],
        &["--trust", "--operator-principal", "nope"],
        &["--bucket-policy", "--principal", "arn:aws:s3:::bucket"],
        &["--trust", "-n", "Not_A_Namespace"],
    ] {
        let e = policy(&m, flags).await.unwrap_err();
        assert!(!e.contains('\n') && !e.is_empty(), "{flags:?}: {e}");
    }
    // Neither a file nor a name, or both.
    let none = Cmd::try_parse_from(["policy"]).unwrap();
    let e = printed(&none.args, &mut Cluster::none()).await.unwrap_err();
    assert!(e.contains("-f FILE"), "{e}");
    let both = Cmd::try_parse_from(["policy", "c", "-f", "x.yaml"]).unwrap();
    let e = printed(&both.args, &mut Cluster::none()).await.unwrap_err();
    assert!(e.contains("not both"), "{e}");
    // A live object needs a cluster.
    let live = Cmd::try_parse_from(["policy", "c", "-n", "n"]).unwrap();
    let e = printed(&live.args, &mut Cluster::none()).await.unwrap_err();
    assert!(e.contains("no cluster"), "{e}");
}
