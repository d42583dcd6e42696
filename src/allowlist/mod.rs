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

    /// Whether requests may go to `endpoint` (a URL that may have a path and
    /// query, such as the final URI of a request).
    pub fn allows(&self, endpoint: &str) -> bool {
        Origin::parse(endpoint).is_some_and(|o| self.entries.iter().any(|e| e.matches(&o)))
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
mod tests;
