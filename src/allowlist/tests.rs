use super::*;

fn list(entries: &[&str]) -> Allowlist {
    Allowlist::parse(entries).unwrap()
}

#[test]
fn empty_list_allows_nothing() {
    let l = list(&[]);
    assert!(l.is_empty());
    assert!(!l.allows("https://s3.example.com"));
    assert!(!l.allows("http://127.0.0.1:9000"));
}

#[test]
fn scheme_host_and_port_must_match_exactly() {
    let l = list(&["https://minio.example.com:9000", "http://127.0.0.1:15000"]);
    assert!(l.allows("https://minio.example.com:9000"));
    assert!(l.allows("https://MINIO.example.com:9000/base/path"));
    assert!(l.allows("http://127.0.0.1:15000"));
    assert!(!l.allows("http://minio.example.com:9000"), "scheme");
    assert!(!l.allows("https://minio.example.com:9001"), "port");
    assert!(
        !l.allows("https://minio.example.com"),
        "default port differs"
    );
    assert!(
        !l.allows("https://evil.minio.example.com:9000"),
        "subdomain"
    );
    assert!(
        !l.allows("https://minio.example.com.evil.net:9000"),
        "suffix"
    );
    assert!(!l.allows("http://127.0.0.1:15001"));
    assert!(!l.allows("https://user@minio.example.com:9000"), "userinfo");
}

#[test]
fn missing_port_is_the_scheme_default() {
    let l = list(&["https://s3.example.com", "http://plain.example.com"]);
    assert!(l.allows("https://s3.example.com:443"));
    assert!(l.allows("https://s3.example.com"));
    assert!(l.allows("http://plain.example.com:80"));
    assert!(!l.allows("https://plain.example.com"));
}

#[test]
fn wildcards_match_subdomains_only() {
    let l = list(&["https://*.r2.cloudflarestorage.com"]);
    assert!(l.allows("https://acct.r2.cloudflarestorage.com"));
    assert!(l.allows("https://a.b.r2.cloudflarestorage.com/bucket"));
    assert!(
        !l.allows("https://r2.cloudflarestorage.com"),
        "not the apex"
    );
    assert!(!l.allows("https://evilr2.cloudflarestorage.com"));
    assert!(!l.allows("https://acct.r2.cloudflarestorage.com:8443"));
    assert!(!l.allows("http://acct.r2.cloudflarestorage.com"));
}

#[test]
fn ipv6_hosts() {
    let l = list(&["http://[::1]:9000"]);
    assert!(l.allows("http://[::1]:9000"));
    assert!(!l.allows("http://[::2]:9000"));
}

#[test]
fn bad_entries_are_refused() {
    for bad in [
        "minio.example.com",
        "ftp://x",
        "https://x/path",
        "https://u@x",
        "https://x?y",
        "https://*",
        "https://a.*.b",
        "https://x:notaport",
        "https://",
    ] {
        assert!(Allowlist::parse(&[bad]).is_err(), "{bad}");
    }
    assert!(Allowlist::parse(&["", " "]).unwrap().is_empty());
}

#[test]
fn the_suggested_entry_allows_the_endpoint() {
    for ep in [
        "https://minio.example.com/base",
        "http://127.0.0.1:9000",
        "http://[::1]",
    ] {
        let entry = entry_for(ep).unwrap();
        assert!(list(&[entry.as_str()]).allows(ep), "{entry} for {ep}");
    }
    assert_eq!(
        entry_for("https://S3.Example.com/x").as_deref(),
        Some("https://s3.example.com:443")
    );
}

#[test]
fn aws_endpoints_are_known_by_host_and_https() {
    assert!(is_aws("https://s3.eu-west-1.amazonaws.com"));
    assert!(is_aws(
        "https://bucket.vpce-1a2b.s3.us-east-1.vpce.amazonaws.com/"
    ));
    assert!(is_aws("https://s3.cn-north-1.amazonaws.com.cn"));
    assert!(is_aws("https://s3.dualstack.us-east-1.api.aws"));
    assert!(!is_aws("http://s3.eu-west-1.amazonaws.com"), "plain HTTP");
    assert!(!is_aws("https://amazonaws.com.evil.example"));
    assert!(!is_aws("https://evilamazonaws.com"));
    assert!(!is_aws("https://minio.example.com:9000"));
}

#[test]
fn urls_are_read_as_the_http_client_reads_them() {
    let l = list(&["https://minio.example.com:9000", "http://[::1]:9000"]);
    // Userinfo, in every spelling, is refused, never skipped.
    for ep in [
        "https://user@minio.example.com:9000",
        "https://user:pw@minio.example.com:9000",
        "https://minio.example.com:9000@evil.net",
        "https://minio.example.com@evil.net:9000",
        "https://evil.net#@minio.example.com:9000",
    ] {
        assert!(!l.allows(ep), "{ep}");
    }
    // A trailing dot names the same host.
    assert!(l.allows("https://minio.example.com.:9000"));
    // Percent-encoding in the host is not decoded by the client.
    assert!(!l.allows("https://minio%2eexample.com:9000"));
    assert!(!l.allows("https://%6dinio.example.com:9000"));
    // Default and explicit ports, upper-case schemes and hosts.
    let d = list(&["https://s3.example.com"]);
    assert!(d.allows("https://s3.example.com:443/b"));
    assert!(d.allows("HTTPS://S3.EXAMPLE.COM"));
    assert!(!d.allows("https://s3.example.com:0443x"));
    assert!(!d.allows("https://s3.example.com:99999"));
    // IPv6: brackets, zero forms are different text (not equal hosts).
    assert!(l.allows("http://[::1]:9000/bucket"));
    assert!(!l.allows("http://[0:0:0:0:0:0:0:1]:9000"));
    assert!(!l.allows("http://::1:9000"));
    // What http::Uri makes of each, for the record: the host and port
    // the client connects to are the ones compared.
    for (ep, host, port) in [
        (
            "https://minio.example.com.:9000/x",
            "minio.example.com.",
            9000,
        ),
        ("http://[::1]:9000", "[::1]", 9000),
        ("https://s3.example.com", "s3.example.com", 443),
    ] {
        let uri: http::Uri = ep.parse().unwrap();
        assert_eq!(uri.host(), Some(host), "{ep}");
        let default = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        assert_eq!(uri.port_u16().unwrap_or(default), port, "{ep}");
    }
}

#[test]
fn display_lists_the_entries() {
    assert_eq!(list(&[]).to_string(), "<none: AWS only>");
    assert_eq!(
        list(&["https://a.example", "https://*.b.example"]).to_string(),
        "https://a.example, https://*.b.example"
    );
}

#[test]
fn entries_may_name_an_audience_for_irsa_tokens() {
    let l = list(&[
        "https://minio.example.com:9000;audience=minio",
        "https://*.example.com:9000 ; audience=wide",
        "http://127.0.0.1:9000",
    ]);
    // The option changes nothing about where requests may go.
    assert!(l.allows("https://minio.example.com:9000"));
    assert!(l.allows("https://other.example.com:9000"));
    assert!(!l.allows("https://minio.example.com:9001"));
    // The exact entry's audience wins over the wildcard's.
    assert_eq!(
        l.audience_for("https://minio.example.com:9000/x"),
        Some("minio")
    );
    assert_eq!(
        l.audience_for("https://other.example.com:9000"),
        Some("wide")
    );
    assert_eq!(l.audience_for("http://127.0.0.1:9000"), None);
    assert_eq!(l.audience_for("http://127.0.0.1:9001"), None);
    assert_eq!(
        l.to_string(),
        "https://minio.example.com:9000;audience=minio, https://*.example.com:9000 ; audience=wide, http://127.0.0.1:9000"
    );
}

#[test]
fn an_audience_aws_accepts_is_refused_in_an_entry() {
    for bad in [
        "https://minio.example.com;audience=sts.amazonaws.com",
        "https://minio.example.com;audience=STS.amazonaws.com.",
        "https://minio.example.com;audience=https://sts.amazonaws.com:443/",
        "https://minio.example.com;audience=pods.eks.amazonaws.com",
        "https://minio.example.com;audience=sts.cn-north-1.amazonaws.com.cn",
        "https://minio.example.com;audience=https://kubernetes.default.svc",
        "https://minio.example.com;audience=",
        "https://minio.example.com;audience=a b",
        "https://minio.example.com;audience=a;b",
        "https://minio.example.com;client=x",
        "https://minio.example.com;",
    ] {
        assert!(Allowlist::parse(&[bad]).is_err(), "{bad}");
    }
    let long = format!(
        "https://m.example.com;audience={}",
        "a".repeat(MAX_AUDIENCE + 1)
    );
    assert!(Allowlist::parse(&[long]).is_err());
    assert!(is_aws_audience("sts.amazonaws.com"));
    assert!(is_aws_audience("amazonaws.com"));
    assert!(!is_aws_audience("minio.s3connection.dev"));
    assert!(!is_aws_audience("evilamazonaws.com"));
}

#[test]
fn virtual_hosts_only_under_a_wildcard_entry() {
    let exact = list(&["https://minio.example.com:9000"]);
    assert!(!exact.allows_virtual_hosts("https://minio.example.com:9000"));
    let wide = list(&[
        "https://minio.example.com:9000",
        "https://*.minio.example.com:9000",
    ]);
    assert!(wide.allows_virtual_hosts("https://minio.example.com:9000"));
    assert!(wide.allows("https://my-bucket.minio.example.com:9000/key?x=1"));
    assert!(!wide.allows_virtual_hosts("https://minio.example.com:9001"));
    assert!(!wide.allows_virtual_hosts("http://minio.example.com:9000"));
    // A wildcard for a parent domain covers the endpoint's subdomains too.
    let r2 = list(&["https://*.r2.cloudflarestorage.com"]);
    assert!(r2.allows_virtual_hosts("https://acct.r2.cloudflarestorage.com"));
    assert!(!list(&["http://[::1]:9000"]).allows_virtual_hosts("http://[::1]:9000"));
    // The final URI of a request: its host decides, whatever the path.
    assert!(exact.allows("https://minio.example.com:9000/b/k"));
    assert!(!exact.allows("https://b.minio.example.com:9000/k"));
    assert!(!exact.allows("/relative"));
}
