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
    host: String,
    port: u16,
}

impl Origin {
    /// `scheme://host[:port][/path]`; `None` unless it is http(s) with a host.
    fn parse(url: &str) -> Option<Self> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return None;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse().ok()?,
        };
        if host.is_empty() {
            return None;
        }
        Some(Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
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
            let after_scheme = text.split_once("://").map(|(_, r)| r).ok_or_else(bad)?;
            if after_scheme.contains(['/', '?', '#', '@']) {
                return Err(bad());
            }
            let (wildcard, url) = match after_scheme.strip_prefix("*.") {
                Some(_) => (true, text.replacen("*.", "", 1)),
                None => (false, text.to_string()),
            };
            let origin = Origin::parse(&url).ok_or_else(bad)?;
            if origin.host.contains('*') || (wildcard && origin.host.starts_with('[')) {
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
    fn display_lists_the_entries() {
        assert_eq!(list(&[]).to_string(), "<none: AWS only>");
        assert_eq!(
            list(&["https://a.example", "https://*.b.example"]).to_string(),
            "https://a.example, https://*.b.example"
        );
    }
}
