//! The administrator's list of S3-compatible endpoints connections may use
//! (`--allowed-endpoint`). Deny by default: with no entry only AWS's own
//! endpoints (no `spec.endpoint`) are used. An entry is `scheme://host[:port]`
//! and matches an endpoint's scheme, host and port exactly (a missing port is
//! the scheme's default); a leading `*.` in the host matches any subdomain.
//! Checked before the operator reads a Secret, mints a token or sends a
//! request, so a tenant cannot send a Secret's values to a host of theirs,
//! and again on the final URI of every request to a store
//! ([`crate::aws::Destinations`]).
//!
//! An entry may carry `;audience=VALUE`: the audience of the ServiceAccount
//! tokens the operator sends that store for IRSA (the "client ID" the store
//! verifies tokens for, e.g. MinIO's `MINIO_IDENTITY_OPENID_CLIENT_ID`).
//! A token for an audience AWS accepts is never sent to a store
//! ([`is_aws_audience`]).
//!
//! Virtual-hosted-style requests go to `<bucket>.<host>`: to a store they
//! are sent only when a wildcard entry allows the bucket's host
//! ([`Allowlist::allows_virtual_hosts`]); otherwise requests to a store are
//! path style.

use std::fmt;

/// Where requests go: scheme, lowercased host, port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// Lowercase, without a trailing dot; an IPv6 literal keeps its brackets.
    host: String,
    port: u16,
    /// Whether the URL has more than an origin (a path, a query).
    more: bool,
}

impl Origin {
    /// `scheme://host[:port][/path]`, read with `http::Uri`, the parser the
    /// HTTP client that sends the requests uses: the allowlist and the
    /// client cannot read one URL as two places. `None` unless it is http
    /// or https with a host, and no user information or percent-encoded
    /// host (which the client would not resolve as written).
    fn parse(url: &str) -> Option<Self> {
        let uri: http::Uri = url.parse().ok()?;
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let host = authority.host();
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.contains('%') || host.starts_with('.') {
            return None;
        }
        // http::Uri reads a port that is not a number as no port (and the
        // client would then use the default): refuse it instead.
        let default = if https { 443 } else { 80 };
        let port = match authority.as_str()[authority.host().len()..].strip_prefix(':') {
            None => default,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        let more = !matches!(uri.path(), "" | "/") || uri.query().is_some();
        Some(Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
            more,
        })
    }
}

/// One allowed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// With `wildcard`, the host is the suffix after `*.`.
    origin: Origin,
    wildcard: bool,
    /// The audience of tokens for IRSA at this endpoint (`;audience=`).
    audience: Option<String>,
    text: String,
}

impl Entry {
    fn matches(&self, o: &Origin) -> bool {
        self.origin.https == o.https
            && self.origin.port == o.port
            && if self.wildcard {
                o.host
                    .strip_suffix(&self.origin.host)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            } else {
                self.origin.host == o.host
            }
    }
}

/// The longest audience an entry may name.
pub const MAX_AUDIENCE: usize = 256;

/// Whether a token for `audience` would be accepted by AWS (its STS, EKS
/// Pod Identity, any `*.amazonaws.com` service) or by the Kubernetes API
/// server itself: such a token never leaves for a store.
pub fn is_aws_audience(audience: &str) -> bool {
    let a = audience.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .unwrap_or(&a);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let host = host.trim_end_matches('.');
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|d| host.ends_with(d) || host == &d[1..])
        || host.starts_with("kubernetes.default.svc")
}

/// Whether `value` may be an audience: 1 to [`MAX_AUDIENCE`] printable
/// ASCII characters without spaces, `,` or `;`.
pub fn is_audience(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_AUDIENCE
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != b';')
}

/// The allowed endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// An allowlist entry that is not `scheme://host[:port][;audience=VALUE]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowed endpoint {0:?} must be scheme://host[:port][;audience=VALUE] (http or https, a host or *.domain, no path, user, query or fragment; an audience of at most 256 printable characters without spaces, ',' or ';', and not one AWS or the Kubernetes API server accepts, such as sts.amazonaws.com)"
)]
pub struct BadEntry(pub String);

impl Allowlist {
    /// Parse entries such as `https://minio.example.com:9000`,
    /// `https://minio.example.com:9000;audience=minio` or
    /// `https://*.r2.cloudflarestorage.com`; empty strings are skipped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadEntry> {
        let mut out = vec![];
        for raw in entries {
            let text = raw.as_ref().trim();
            if text.is_empty() {
                continue;
            }
            let bad = || BadEntry(text.to_string());
            let (url_text, options) = match text.split_once(';') {
                Some((u, o)) => (u.trim_end(), Some(o.trim())),
                None => (text, None),
            };
            let audience = match options {
                None => None,
                Some(o) => match o.split_once('=') {
                    Some(("audience", a)) if is_audience(a) && !is_aws_audience(a) => {
                        Some(a.to_string())
                    }
                    _ => return Err(bad()),
                },
            };
            let (scheme, after_scheme) = url_text.split_once("://").ok_or_else(bad)?;
            let (wildcard, url) = match after_scheme.strip_prefix("*.") {
                Some(rest) => (true, format!("{scheme}://{rest}")),
                None => (false, url_text.to_string()),
            };
            let origin = Origin::parse(&url).ok_or_else(bad)?;
            // An origin and nothing else: `uri.path()` reads a bare `?` or
            // `#` as nothing, so look at the text too.
            if origin.more
                || url.ends_with(['/', '?', '#'])
                || origin.host.contains('*')
                || (wildcard && origin.host.starts_with('['))
            {
                return Err(bad());
            }
            out.push(Entry {
                origin,
                wildcard,
                audience,
                text: text.to_string(),
            });
        }
        Ok(Self { entries: out })
    }

    /// Whether no endpoint is allowed (AWS only).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether requests may go to `endpoint`.
    pub fn allows(&self, endpoint: &str) -> bool {
        Origin::parse(endpoint).is_some_and(|o| self.entries.iter().any(|e| e.matches(&o)))
    }

    /// Whether requests may go to `uri`, the final URI of a request (which
    /// may have a path and query).
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        uri.scheme_str().is_some() && self.allows(&uri.to_string())
    }

    /// The audience the administrator set for IRSA tokens sent to
    /// `endpoint`: that of an exact entry, else of a wildcard entry.
    pub fn audience_for(&self, endpoint: &str) -> Option<&str> {
        let o = Origin::parse(endpoint)?;
        let mut matching: Vec<&Entry> = self.entries.iter().filter(|e| e.matches(&o)).collect();
        matching.sort_by_key(|e| e.wildcard);
        matching.into_iter().find_map(|e| e.audience.as_deref())
    }

    /// Whether virtual-hosted-style requests to a store at `endpoint` may
    /// leave: a wildcard entry allows every `<bucket>.<host>` of it (the
    /// administrator wrote it, trusting that domain's DNS).
    pub fn allows_virtual_hosts(&self, endpoint: &str) -> bool {
        let Some(o) = Origin::parse(endpoint) else {
            return false;
        };
        let bucket_host = Origin {
            host: format!("bucket.{}", o.host),
            ..o
        };
        !bucket_host.host.ends_with(']')
            && self
                .entries
                .iter()
                .any(|e| e.wildcard && e.matches(&bucket_host))
    }
}

/// Whether `endpoint` is one of AWS's own (`*.amazonaws.com`, China's
/// `*.amazonaws.com.cn`, `*.api.aws`) over HTTPS.
pub fn is_aws(endpoint: &str) -> bool {
    Origin::parse(endpoint).is_some_and(|o| {
        o.https
            && [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
                .iter()
                .any(|d| o.host.ends_with(d))
    })
}

/// The entry that would allow `endpoint`: `scheme://host:port`.
pub fn entry_for(endpoint: &str) -> Option<String> {
    let o = Origin::parse(endpoint)?;
    let scheme = if o.https { "https" } else { "http" };
    Some(format!("{scheme}://{}:{}", o.host, o.port))
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("<none: AWS only>");
        }
        let list: Vec<&str> = self.entries.iter().map(|e| e.text.as_str()).collect();
        f.write_str(&list.join(", "))
    }
}

#[cfg(test)]
mod tests {
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
        assert!(
            wide.allows_uri(
                &"https://my-bucket.minio.example.com:9000/key?x=1"
                    .parse()
                    .unwrap()
            )
        );
        assert!(!wide.allows_virtual_hosts("https://minio.example.com:9001"));
        assert!(!wide.allows_virtual_hosts("http://minio.example.com:9000"));
        // A wildcard for a parent domain covers the endpoint's subdomains too.
        let r2 = list(&["https://*.r2.cloudflarestorage.com"]);
        assert!(r2.allows_virtual_hosts("https://acct.r2.cloudflarestorage.com"));
        assert!(!list(&["http://[::1]:9000"]).allows_virtual_hosts("http://[::1]:9000"));
        // The final URI of a request: its host decides, whatever the path.
        assert!(exact.allows_uri(&"https://minio.example.com:9000/b/k".parse().unwrap()));
        assert!(!exact.allows_uri(&"https://b.minio.example.com:9000/k".parse().unwrap()));
        assert!(!exact.allows_uri(&"/relative".parse().unwrap()));
    }
}
