//! Every rule of the `S3Connection` spec in one place: patterns, limits, the
//! S3 bucket naming rules and the message each one gives. The CRD schema is
//! built from these ([`super::schema`]) so the API server rejects what it can
//! express, and [`crate::spec`] checks the same rules again in the controller
//! for clusters where the CRD was installed without them.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

pub const REGION_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";
pub const ENDPOINT_PATTERN: &str = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?$";
pub const INTERVAL_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// An IAM role ARN: AWS in any partition (`aws`, `aws-cn`, `aws-us-gov`,
/// ...) with a 12-digit account; the forms S3-compatible stores issue,
/// MinIO `arn:minio:iam:::role/<id>` and Ceph RGW `arn:aws:iam:::role/<name>`
/// (no account) or `arn:aws:iam::<tenant>:role/<name>` (a tenant starting
/// with a letter or `_`, so a mistyped AWS account is still caught).
pub const ROLE_ARN_PATTERN: &str = r"^arn:(aws(-[a-z]+)*|minio):iam::([0-9]{12}|[A-Za-z_][A-Za-z0-9_]{0,63})?:role/[A-Za-z0-9_+=,.@/-]{1,512}$";
pub const ACCOUNT_ID_PATTERN: &str = "^[0-9]{12}$";
pub static ACCOUNT_ID: LazyLock<Regex> = LazyLock::new(|| regex(ACCOUNT_ID_PATTERN));
pub const SESSION_NAME_PATTERN: &str = r"^[A-Za-z0-9_+=,.@-]{2,64}$";
pub const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
/// `spec.bucket` as a whole: no whitespace, control characters or backslashes.
pub const BUCKET_FIELD_PATTERN: &str = r"^[^\s\x00-\x1f\x7f\\]+$";

/// Lengths of `spec.bucket` (bucket and path together) and of the path.
pub const BUCKET_FIELD_LEN: (u32, u32) = (3, 900);
pub const PATH_MAX_LEN: usize = 840;
pub const REGION_LEN: (u32, u32) = (1, 64);
pub const ENDPOINT_MAX_LEN: u32 = 2048;
pub const NAME_LEN: (u32, u32) = (1, 253);
pub const ROLE_ARN_MAX_LEN: u32 = 2048;
pub const SESSION_NAME_LEN: (u32, u32) = (2, 64);
pub const INTERVAL_MAX_LEN: u32 = 32;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Validating less than daily would miss most credential and policy drift.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The two interval limits as the API server's CEL `duration()` spells them.
pub const MIN_INTERVAL_TEXT: &str = "1m";
pub const MAX_INTERVAL_TEXT: &str = "24h";

fn regex(p: &str) -> Regex {
    Regex::new(p).expect("the spec patterns are valid regular expressions")
}

pub static REGION: LazyLock<Regex> = LazyLock::new(|| regex(REGION_PATTERN));
pub static ENDPOINT: LazyLock<Regex> = LazyLock::new(|| regex(ENDPOINT_PATTERN));
pub static INTERVAL: LazyLock<Regex> = LazyLock::new(|| regex(INTERVAL_PATTERN));
pub static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| regex(DNS_SUBDOMAIN_PATTERN));
pub static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| regex(ROLE_ARN_PATTERN));
pub static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| regex(SECRET_KEY_PATTERN));
pub static SESSION_NAME: LazyLock<Regex> = LazyLock::new(|| regex(SESSION_NAME_PATTERN));

/// Bucket names: 3-63 characters, lowercase letters, digits, dots, hyphens.
const BUCKET_CHARSET: &str = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// Bucket names must not look like an IPv4 address.
const IPV4_LIKE: &str = "^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$";
static BUCKET_CHARS: LazyLock<Regex> = LazyLock::new(|| regex(BUCKET_CHARSET));
static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(IPV4_LIKE));

pub const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
pub const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// One S3 bucket naming rule: checked by the controller with `holds` and by
/// the API server with the CEL expression `cel` over the bucket part of
/// `spec.bucket` (`self.split('/')[0]`). `message` completes "bucket name ...".
pub struct BucketRule {
    pub cel: fn() -> String,
    pub holds: fn(&str) -> bool,
    pub message: fn() -> String,
}

/// CEL for the bucket part of `spec.bucket`.
const BUCKET_PART: &str = "self.split('/')[0]";

fn cel_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

pub const BUCKET_RULES: [BucketRule; 5] = [
    BucketRule {
        cel: || format!("{BUCKET_PART}.matches('{BUCKET_CHARSET}')"),
        holds: |b| BUCKET_CHARS.is_match(b),
        message: || {
            "must be 3-63 characters of lowercase letters, digits, dots and hyphens, and start and end with a letter or digit".into()
        },
    },
    BucketRule {
        cel: || format!("!{BUCKET_PART}.contains('..')"),
        holds: |b| !b.contains(".."),
        message: || "must not contain two adjacent periods".into(),
    },
    BucketRule {
        cel: || format!("!{BUCKET_PART}.matches('{IPV4_LIKE}')"),
        holds: |b| !IPV4.is_match(b),
        message: || "must not be formatted as an IP address".into(),
    },
    BucketRule {
        cel: || {
            format!(
                "!{}.exists(p, {BUCKET_PART}.startsWith(p))",
                cel_list(&RESERVED_PREFIXES)
            )
        },
        holds: |b| !RESERVED_PREFIXES.iter().any(|p| b.starts_with(p)),
        message: || {
            format!(
                "must not start with the reserved prefixes {}",
                or_list(&RESERVED_PREFIXES)
            )
        },
    },
    BucketRule {
        cel: || {
            format!(
                "!{}.exists(s, {BUCKET_PART}.endsWith(s))",
                cel_list(&RESERVED_SUFFIXES)
            )
        },
        holds: |b| !RESERVED_SUFFIXES.iter().any(|s| b.ends_with(s)),
        message: || {
            format!(
                "must not end with the reserved suffixes {}",
                or_list(&RESERVED_SUFFIXES)
            )
        },
    },
];

/// A rule on the path part of `spec.bucket`, as CEL over the whole field and
/// as a check of the path alone.
pub struct PathRule {
    pub cel: &'static str,
    pub holds: fn(&str) -> bool,
    pub message: &'static str,
}

pub const PATH_RULES: [PathRule; 2] = [
    PathRule {
        cel: "!self.contains('//')",
        holds: |p| !p.starts_with('/') && !p.contains("//"),
        message: "path must not start with '/' or contain '//'",
    },
    PathRule {
        cel: "!self.split('/').exists(s, s == '..' || s == '.')",
        holds: |p| !p.split('/').any(|s| s == "." || s == ".."),
        message: "path must not contain '.' or '..' segments",
    },
];

/// CEL rules of `spec.auth`.
pub const AUTH_EXACTLY_ONE: (&str, &str) = (
    "has(self.accessKey) != has(self.iamRole)",
    "set exactly one of auth.accessKey or auth.iamRole",
);
pub const IAM_ROLE_RULES: [(&str, &str); 1] = [(
    "has(self.roleArn) || has(self.serviceAccountName)",
    "iamRole needs roleArn, serviceAccountName, or both",
)];

pub fn is_dns_subdomain(s: &str) -> bool {
    let (min, max) = NAME_LEN;
    (min as usize..=max as usize).contains(&s.len()) && DNS_SUBDOMAIN.is_match(s)
}

/// Role ARNs as the controller checks them (for ARNs from annotations too).
pub fn is_role_arn(s: &str) -> bool {
    ROLE_ARN.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wording() {
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
        assert_eq!(or_list(&["a"]), "a");
        assert_eq!(cel_list(&["a", "b"]), "['a', 'b']");
    }

    #[test]
    fn every_pattern_compiles() {
        for r in [
            &REGION,
            &ENDPOINT,
            &INTERVAL,
            &DNS_SUBDOMAIN,
            &ROLE_ARN,
            &SECRET_KEY,
            &SESSION_NAME,
            &BUCKET_CHARS,
            &IPV4,
        ] {
            LazyLock::force(r);
        }
        regex(BUCKET_FIELD_PATTERN);
    }
}
