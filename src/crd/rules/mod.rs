//! Every rule of the `S3Connection` spec in one place: patterns, limits, the
//! S3 bucket naming rules and the message each one gives. The CRD schema is
//! built from these (`crd::schema`) so the API server rejects what it can
//! express, and [`crate::spec`] checks the same rules again in the controller
//! for clusters where the CRD was installed without them.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use regex::Regex;

use super::{Auth, IamRoleAuth};

fn regex(p: &str) -> Regex {
    Regex::new(p).expect("the spec patterns are valid regular expressions")
}

/// A rule on one string field: its `pattern` and length limits in the CRD
/// schema (the API server's message is then its own), and the same check
/// in the controller ([`Field::check`]), whose message says the value is
/// not `what`.
pub struct Field {
    /// The JSON path users see, e.g. `spec.region`.
    pub path: &'static str,
    /// The pattern, in the syntax both the API server (RE2) and `regex` read.
    pub pattern: &'static str,
    /// Least and most bytes; `None`: no least beyond what the pattern says.
    pub len: (Option<u32>, u32),
    /// Completes "`<path> <value>` is not ...".
    pub what: &'static str,
    regex: OnceLock<Regex>,
}

impl Field {
    const fn new(
        path: &'static str,
        pattern: &'static str,
        len: (Option<u32>, u32),
        what: &'static str,
    ) -> Self {
        Self {
            path,
            pattern,
            len,
            what,
            regex: OnceLock::new(),
        }
    }

    /// Whether `value` meets the field's pattern and lengths.
    pub fn holds(&self, value: &str) -> bool {
        let (min, max) = self.len;
        value.len() >= min.unwrap_or(0) as usize
            && value.len() <= max as usize
            && self
                .regex
                .get_or_init(|| regex(self.pattern))
                .is_match(value)
    }

    /// The message for a `value` that does not hold.
    pub fn message(&self, value: &str) -> String {
        format!("{} {value:?} is not {}", self.path, self.what)
    }

    /// `Err` with [`Field::message`] unless `value` holds.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if self.holds(value) {
            Ok(())
        } else {
            Err(self.message(value))
        }
    }
}

/// Kubernetes object names (RFC 1123 subdomains).
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Lengths of Kubernetes object names and of Secret keys.
pub const NAME_LEN: (u32, u32) = (1, 253);
const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
const SESSION_NAME_MIN: u32 = 2;
const SESSION_NAME_MAX: u32 = 64;

/// `spec.region`.
pub static REGION: Field = Field::new(
    "spec.region",
    "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$",
    (Some(1), 64),
    "a region name such as us-west-1",
);
/// `spec.endpoint`.
pub static ENDPOINT: Field = Field::new(
    "spec.endpoint",
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?$",
    (None, 2048),
    "an http:// or https:// URL without credentials, query or fragment",
);
/// `spec.stsEndpoint`: an origin only (no path, query or credentials), at
/// most [`STS_ENDPOINT_MAX`] bytes; [`STS_ENDPOINT_ORIGIN`] has it read as a
/// URL too.
pub static STS_ENDPOINT: Field = Field::new(
    "spec.stsEndpoint",
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$",
    (None, STS_ENDPOINT_MAX),
    "an https:// (or http://) URL of a host and optional port, without a path, such as https://sts-fips.us-east-1.amazonaws.com",
);
/// The longest `spec.stsEndpoint`, in bytes (a host name is at most 253).
pub const STS_ENDPOINT_MAX: u32 = 300;
/// `spec.validationInterval` (its limits: [`INTERVAL_RULES`]).
pub static INTERVAL: Field = Field::new(
    "spec.validationInterval",
    "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
    (None, 32),
    "a duration such as 10m, 1h or 90s",
);
/// `spec.fullValidationInterval`: the same form as `validationInterval`.
pub static FULL_INTERVAL: Field = Field::new(
    "spec.fullValidationInterval",
    "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
    (None, 32),
    "a duration such as 24h, 6h or 90m",
);
/// `spec.caSecretRef.name`.
pub static CA_SECRET_NAME: Field = Field::new(
    "spec.caSecretRef.name",
    DNS_SUBDOMAIN_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid Secret name",
);
/// `spec.auth.accessKey.secretName`.
pub static SECRET_NAME: Field = Field::new(
    "spec.auth.accessKey.secretName",
    DNS_SUBDOMAIN_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid Secret name",
);
/// `spec.auth.accessKey.accessKeyIdKey`.
pub static ACCESS_KEY_ID_KEY: Field = Field::new(
    "spec.auth.accessKey.accessKeyIdKey",
    SECRET_KEY_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid Secret key",
);
/// `spec.auth.accessKey.secretAccessKeyKey`.
pub static SECRET_ACCESS_KEY_KEY: Field = Field::new(
    "spec.auth.accessKey.secretAccessKeyKey",
    SECRET_KEY_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid Secret key",
);
/// `spec.auth.accessKey.sessionTokenKey`.
pub static SESSION_TOKEN_KEY: Field = Field::new(
    "spec.auth.accessKey.sessionTokenKey",
    SECRET_KEY_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid Secret key",
);
/// An IAM role ARN: AWS in any partition (`aws`, `aws-cn`, `aws-us-gov`,
/// ...) with a 12-digit account; the forms S3-compatible stores issue,
/// MinIO `arn:minio:iam:::role/<id>` and Ceph RGW `arn:aws:iam:::role/<name>`
/// (no account) or `arn:aws:iam::<tenant>:role/<name>` (a tenant starting
/// with a letter or `_`, so a mistyped AWS account is still caught).
pub static ROLE_ARN: Field = Field::new(
    "spec.auth.iamRole.roleArn",
    r"^arn:(aws(-[a-z]+)*|minio):iam::([0-9]{12}|[A-Za-z_][A-Za-z0-9_]{0,63})?:role/[A-Za-z0-9_+=,.@/-]{1,512}$",
    (None, 2048),
    "a role ARN like arn:aws:iam::123456789012:role/name",
);
/// `spec.auth.iamRole.serviceAccountName`.
pub static SERVICE_ACCOUNT_NAME: Field = Field::new(
    "spec.auth.iamRole.serviceAccountName",
    DNS_SUBDOMAIN_PATTERN,
    (Some(NAME_LEN.0), NAME_LEN.1),
    "a valid ServiceAccount name",
);
/// `spec.auth.iamRole.sessionName`.
pub static SESSION_NAME: Field = Field::new(
    "spec.auth.iamRole.sessionName",
    r"^[A-Za-z0-9_+=,.@-]{2,64}$",
    (Some(SESSION_NAME_MIN), SESSION_NAME_MAX),
    // The pattern's {2,64} and the text's 2-64 are these two limits (a test
    // holds them together).
    "2-64 characters of letters, digits and +=,.@-",
);
/// `spec.expectedBucketOwner`.
pub static EXPECTED_BUCKET_OWNER: Field = Field::new(
    "spec.expectedBucketOwner",
    "^[0-9]{12}$",
    (None, 12),
    "a 12-digit AWS account ID",
);
/// The directory under a connection's prefix that holds its probe objects
/// when `spec.probe.keyPrefix` is not set.
pub const PROBE_DIR: &str = ".s3connection-probe";

/// `spec.probe.keyPrefix`: one path segment, not `.` or `..`.
pub static PROBE_KEY_PREFIX: Field = Field::new(
    "spec.probe.keyPrefix",
    r"^\.?[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}$",
    (Some(1), 64),
    "one path segment of letters, digits and _.- (not . or ..), such as .s3connection-probe",
);
/// `spec.probe.kmsKeyId`: a KMS key ID, key ARN, alias name or alias ARN
/// (letters, digits and `:/_-`; KMS allows at most 2048 characters).
pub static KMS_KEY_ID: Field = Field::new(
    "spec.probe.kmsKeyId",
    "^[A-Za-z0-9:/_-]+$",
    (Some(1), 2048),
    "a KMS key ID, key ARN, alias name or alias ARN",
);
/// `spec.bucket` as a whole: no whitespace, control characters or
/// backslashes, 3 to 900 bytes (the bucket and path rules follow).
pub static BUCKET_FIELD: Field = Field::new(
    "spec.bucket",
    r"^[^\s\x00-\x1f\x7f\\]+$",
    (Some(3), 900),
    "a bucket name with an optional path, without whitespace, control characters or backslashes",
);
/// The most bytes of the path part of `spec.bucket`.
pub const PATH_MAX_LEN: usize = 840;

/// `spec.validationInterval` when not set (and `--default-interval` not given).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// The shortest `spec.validationInterval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Validating less than daily would miss most credential and policy drift.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The two interval limits as the API server's CEL `duration()` spells them.
pub const MIN_INTERVAL_TEXT: &str = "1m";
/// The longest interval as CEL's `duration()` spells it.
pub const MAX_INTERVAL_TEXT: &str = "24h";

/// `spec.fullValidationInterval` when not set: one full validation a day.
pub const DEFAULT_FULL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The longest `spec.fullValidationInterval`: a week.
pub const MAX_FULL_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest full interval as CEL's `duration()` spells it.
pub const MAX_FULL_INTERVAL_TEXT: &str = "168h";

/// A rule the API server checks with the CEL expression `cel`
/// (`x-kubernetes-validations`) and the controller with `holds`; both give
/// `message`.
pub struct Rule<T: ?Sized> {
    /// The CEL expression, over the field it is set on.
    pub cel: fn() -> String,
    /// The same rule in the controller.
    pub holds: fn(&T) -> bool,
    /// What both say when it does not hold.
    pub message: fn() -> String,
}

impl<T: ?Sized> Rule<T> {
    /// `(cel, message)` as the schema wants it.
    pub fn schema(&self) -> (String, String) {
        ((self.cel)(), (self.message)())
    }
}

/// The rules of `spec.validationInterval`, on the parsed duration.
pub const INTERVAL_RULES: [Rule<Duration>; 2] = [
    Rule {
        cel: || format!("duration(self) >= duration('{MIN_INTERVAL_TEXT}')"),
        holds: |d| *d >= MIN_INTERVAL,
        message: || format!("validationInterval must be at least {MIN_INTERVAL_TEXT}"),
    },
    Rule {
        cel: || format!("duration(self) <= duration('{MAX_INTERVAL_TEXT}')"),
        holds: |d| *d <= MAX_INTERVAL,
        message: || format!("validationInterval must be at most {MAX_INTERVAL_TEXT}"),
    },
];

/// The rules of `spec.fullValidationInterval`, on the parsed duration.
pub const FULL_INTERVAL_RULES: [Rule<Duration>; 2] = [
    Rule {
        cel: || format!("duration(self) >= duration('{MIN_INTERVAL_TEXT}')"),
        holds: |d| *d >= MIN_INTERVAL,
        message: || format!("fullValidationInterval must be at least {MIN_INTERVAL_TEXT}"),
    },
    Rule {
        cel: || format!("duration(self) <= duration('{MAX_FULL_INTERVAL_TEXT}')"),
        holds: |d| *d <= MAX_FULL_INTERVAL,
        message: || format!("fullValidationInterval must be at most {MAX_FULL_INTERVAL_TEXT}"),
    },
];

/// The rule of `spec` across its two intervals: the full validations are
/// not more frequent than the validations. (Only when both are set: the
/// operator's `--default-interval` is not known to the API server; a full
/// interval shorter than the interval in effect makes every validation
/// full.)
pub const FULL_NOT_SHORTER: Rule<(Duration, Duration)> = Rule {
    cel: || {
        "!has(self.fullValidationInterval) || !has(self.validationInterval) || duration(self.fullValidationInterval) >= duration(self.validationInterval)".into()
    },
    holds: |(interval, full)| full >= interval,
    message: || "fullValidationInterval must not be shorter than validationInterval".into(),
};

/// The rule of `spec.auth`.
pub const AUTH_EXACTLY_ONE: Rule<Auth> = Rule {
    cel: || "has(self.accessKey) != has(self.iamRole)".into(),
    holds: |a| a.access_key.is_some() != a.iam_role.is_some(),
    message: || "set exactly one of auth.accessKey or auth.iamRole".into(),
};

/// The rule of `spec.auth.iamRole`.
pub const IAM_ROLE_NAMES_ONE: Rule<IamRoleAuth> = Rule {
    cel: || "has(self.roleArn) || has(self.serviceAccountName)".into(),
    holds: |r| r.role_arn.is_some() || r.service_account_name.is_some(),
    message: || "iamRole needs roleArn, serviceAccountName, or both".into(),
};

/// The rule of `spec.stsEndpoint` beyond its pattern: the API server's URL
/// parser (CEL `url()`) and the HTTP client's (`http::Uri`, which the
/// allowlist also reads endpoints with) both read it as a host, an
/// optional port and no path.
pub const STS_ENDPOINT_ORIGIN: Rule<str> = Rule {
    cel: || {
        "isURL(self) && url(self).getHostname() != '' && url(self).getEscapedPath() in ['', '/'] && url(self).getQuery().size() == 0".into()
    },
    holds: |v| {
        v.parse::<http::Uri>().is_ok_and(|u| {
            u.authority().is_some_and(|a| !a.host().is_empty())
                && matches!(u.path(), "" | "/")
                && u.query().is_none()
        })
    },
    message: || {
        "stsEndpoint must be scheme://host[:port] with no path, such as https://sts-fips.us-east-1.amazonaws.com".into()
    },
};

/// The values of `spec.probe.serverSideEncryption`, as S3 names them.
pub const SERVER_SIDE_ENCRYPTION: [&str; 3] = ["AES256", "aws:kms", "aws:kms:dsse"];
/// The values of `spec.probe.checksumAlgorithm`, as S3 names them.
pub const CHECKSUM_ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

/// The rule of `spec.probe`.
pub const KMS_KEY_NEEDS_KMS: Rule<super::ProbeSettings> = Rule {
    cel: || {
        "!has(self.kmsKeyId) || (has(self.serverSideEncryption) && self.serverSideEncryption.startsWith('aws:kms'))".into()
    },
    holds: |p| {
        p.kms_key_id.is_none()
            || p.server_side_encryption
                .as_deref()
                .is_some_and(|e| e.starts_with("aws:kms"))
    },
    message: || "kmsKeyId needs serverSideEncryption aws:kms or aws:kms:dsse".into(),
};

/// A value of `spec.probe` that is not one of `allowed`.
pub fn not_one_of(path: &str, value: &str, allowed: &[&str]) -> String {
    format!("{path} {value:?} is not one of {}", or_list(allowed))
}

/// Bucket names: 3-63 characters, lowercase letters, digits, dots, hyphens.
const BUCKET_CHARSET: &str = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// Bucket names must not look like an IPv4 address.
const IPV4_LIKE: &str = "^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$";
static BUCKET_CHARS: LazyLock<Regex> = LazyLock::new(|| regex(BUCKET_CHARSET));
static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(IPV4_LIKE));

/// Prefixes S3 reserves for bucket names.
pub const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes S3 reserves for bucket names.
pub const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

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

/// The S3 bucket naming rules, over the bucket part of `spec.bucket`
/// (`self.split('/')[0]` in CEL); each `message` completes "bucket name ...".
pub const BUCKET_RULES: [Rule<str>; 5] = [
    Rule {
        cel: || format!("{BUCKET_PART}.matches('{BUCKET_CHARSET}')"),
        holds: |b| BUCKET_CHARS.is_match(b),
        message: || {
            "must be 3-63 characters of lowercase letters, digits, dots and hyphens, and start and end with a letter or digit".into()
        },
    },
    Rule {
        cel: || format!("!{BUCKET_PART}.contains('..')"),
        holds: |b| !b.contains(".."),
        message: || "must not contain two adjacent periods".into(),
    },
    Rule {
        cel: || format!("!{BUCKET_PART}.matches('{IPV4_LIKE}')"),
        holds: |b| !IPV4.is_match(b),
        message: || "must not be formatted as an IP address".into(),
    },
    Rule {
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
    Rule {
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

/// The rules of the path part of `spec.bucket`: CEL over the whole field,
/// `holds` over the path alone.
pub const PATH_RULES: [Rule<str>; 2] = [
    Rule {
        cel: || "!self.contains('//')".into(),
        holds: |p| !p.starts_with('/') && !p.contains("//"),
        message: || "path must not start with '/' or contain '//'".into(),
    },
    Rule {
        cel: || "!self.split('/').exists(s, s == '..' || s == '.')".into(),
        holds: |p| !p.split('/').any(|s| s == "." || s == ".."),
        message: || "path must not contain '.' or '..' segments".into(),
    },
];

/// The rules of `spec.permissions` the schema states (at least one item,
/// each a known permission, no repeats; see `crd::schema::permissions`),
/// as the controller says them.
pub mod permissions {
    use crate::crd::Permission;
    use strum::IntoEnumIterator;

    /// An empty list.
    pub fn empty() -> String {
        "spec.permissions must not be empty; omit it to check all five".into()
    }

    /// A name that is not a permission.
    pub fn unknown(name: &str) -> String {
        let known: Vec<&str> = Permission::iter().map(Permission::as_str).collect();
        format!(
            "spec.permissions: unknown permission {name:?}; use {}",
            known.join(", ")
        )
    }

    /// A permission listed twice.
    pub fn repeated(p: Permission) -> String {
        format!("spec.permissions lists {p} twice")
    }
}

/// The message for a path part of `spec.bucket` longer than [`PATH_MAX_LEN`].
pub fn path_too_long() -> String {
    format!("path must be at most {PATH_MAX_LEN} bytes long")
}

/// The values of the requested-at annotations
/// ([`REQUESTED_AT`](crate::reconcile::REQUESTED_AT)): short printable
/// tokens, such as the time of the request. The CRD's schema cannot reach
/// annotations, so only the controller checks them; the status field that
/// echoes a handled one, `lastHandledRequestedAt`, has this `maxLength`.
pub mod requested_at {
    /// The longest token, in bytes.
    pub const MAX_LEN: usize = 256;

    /// At most [`MAX_LEN`] printable ASCII characters (space included): no
    /// control character can reach a log line, no long value the cache.
    pub fn holds(value: &str) -> bool {
        value.len() <= MAX_LEN && value.bytes().all(|b| (0x20..0x7f).contains(&b))
    }

    /// What is wrong with the value of `annotation`, and the fix. Never
    /// the value itself.
    pub fn message(annotation: &str) -> String {
        format!(
            "the annotation {annotation} must be at most {MAX_LEN} printable ASCII characters, such as the time of the request (kubectl annotate --overwrite s3connection NAME {annotation}=\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"); this request was not handled"
        )
    }

    /// What the operator keeps of `value`: the value if the rule holds,
    /// otherwise one character that breaks it too (a DEL). Whatever a tenant
    /// writes, at most [`MAX_LEN`] bytes are kept.
    pub fn kept(value: &str) -> &str {
        if holds(value) { value } else { "\u{7f}" }
    }
}

/// Object names as the controller checks them (names from annotations too).
pub fn is_dns_subdomain(s: &str) -> bool {
    SECRET_NAME.holds(s)
}

/// Role ARNs as the controller checks them (ARNs from annotations too).
pub fn is_role_arn(s: &str) -> bool {
    ROLE_ARN.holds(s)
}

#[cfg(test)]
mod tests;
