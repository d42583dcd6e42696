//! The administrator's list of S3-compatible endpoints connections may use
//! (`--allowed-endpoint`). Deny by default: with no entry only AWS's own
//! endpoints (no `spec.endpoint`) are used. An entry is `scheme://host[:port]`
//! and matches an endpoint's scheme, host and port exactly (a missing port is
//! the scheme's default); a leading `*.` in the host matches any subdomain.
//! Checked before the operator reads a Secret, mints a token or sends a
//! request, so a tenant cannot send a Secret's values to a host of theirs.

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
    text: String,
}

/// The allowed endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// An allowlist entry that is not `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowed endpoint {0:?} must be scheme://host[:port] (http or https, a host or *.domain, no path, user, query or fragment)"
)]
pub struct BadEntry(pub String);

impl Allowlist {
    /// Parse entries such as `https://minio.example.com:9000` or
    /// `https://*.r2.cloudflarestorage.com`; empty strings are skipped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadEntry> {
        let mut out = vec![];
        for raw in entries {
            let text = raw.as_ref().trim();
            if text.is_empty() {
                continue;
            }
            let bad = || BadEntry(text.to_string());
            let (scheme, after_scheme) = text.split_once("://").ok_or_else(bad)?;
            let (wildcard, url) = match after_scheme.strip_prefix("*.") {
                Some(rest) => (true, format!("{scheme}://{rest}")),
                None => (false, text.to_string()),
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
        let Some(o) = Origin::parse(endpoint) else {
            return false;
        };
        self.entries.iter().any(|e| {
            e.origin.https == o.https
                && e.origin.port == o.port
                && if e.wildcard {
                    o.host
                        .strip_suffix(&e.origin.host)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
                } else {
                    e.origin.host == o.host
                }
        })
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
}
