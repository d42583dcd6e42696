//! Spec validation in the controller: the same rules the CRD schema enforces,
//! checked again because a CRD can be installed without them (or an older
//! schema may still be served). Pure functions, no I/O.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use crate::api::{ALL_PERMISSIONS, Auth, S3ConnectionSpec};

pub const REGION_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";
pub const ENDPOINT_PATTERN: &str = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?$";
pub const INTERVAL_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
pub const ROLE_ARN_PATTERN: &str =
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$";
pub const SESSION_NAME_PATTERN: &str = r"^[A-Za-z0-9_+=,.@-]{2,64}$";
/// Length (2-1224) is checked separately: RE2 allows repeat counts up to 1000.
pub const EXTERNAL_ID_PATTERN: &str = r"^[A-Za-z0-9_+=,.@:/-]+$";
pub const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Validating less than daily would miss most credential and policy drift.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

static REGION: LazyLock<Regex> = LazyLock::new(|| Regex::new(REGION_PATTERN).unwrap());
static ENDPOINT: LazyLock<Regex> = LazyLock::new(|| Regex::new(ENDPOINT_PATTERN).unwrap());
static INTERVAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(INTERVAL_PATTERN).unwrap());
static DNS_SUBDOMAIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DNS_SUBDOMAIN_PATTERN).unwrap());
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| Regex::new(ROLE_ARN_PATTERN).unwrap());
static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| Regex::new(SECRET_KEY_PATTERN).unwrap());
static BUCKET_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").unwrap());
static IPV4_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$").unwrap());
static SESSION_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(SESSION_NAME_PATTERN).unwrap());
static EXTERNAL_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(EXTERNAL_ID_PATTERN).unwrap());

/// A bucket and the prefix the connection is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPath {
    pub bucket: String,
    /// Empty, or a prefix ending in `/` (`customers/`).
    pub prefix: String,
}

/// Split `<bucket>[/<path>]` and check both halves against the S3 rules.
pub fn parse_bucket(value: &str) -> Result<BucketPath, String> {
    let (bucket, path) = match value.split_once('/') {
        Some((b, p)) => (b, Some(p)),
        None => (value, None),
    };
    check_bucket_name(bucket)?;
    let prefix = match path {
        None => String::new(),
        Some(p) => check_path(p)?,
    };
    Ok(BucketPath {
        bucket: bucket.to_string(),
        prefix,
    })
}

fn check_bucket_name(b: &str) -> Result<(), String> {
    if !BUCKET_CHARS.is_match(b) {
        return Err(format!(
            "bucket name {b:?} must be 3-63 characters of lowercase letters, digits, dots and hyphens, and start and end with a letter or digit"
        ));
    }
    if b.contains("..") {
        return Err(format!(
            "bucket name {b:?} must not contain two adjacent periods"
        ));
    }
    if IPV4_LIKE.is_match(b) {
        return Err(format!(
            "bucket name {b:?} must not be formatted as an IP address"
        ));
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if b.starts_with(p) {
            return Err(format!(
                "bucket name {b:?} must not start with the reserved prefix {p}"
            ));
        }
    }
    for s in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if b.ends_with(s) {
            return Err(format!(
                "bucket name {b:?} must not end with the reserved suffix {s}"
            ));
        }
    }
    Ok(())
}

/// Returns the normalised prefix: empty, or the path with one trailing `/`.
fn check_path(p: &str) -> Result<String, String> {
    if p.is_empty() {
        return Ok(String::new());
    }
    if p.starts_with('/') || p.contains("//") {
        return Err("path must not start with '/' or contain '//'".into());
    }
    if p.split('/').any(|s| s == "." || s == "..") {
        return Err("path must not contain '.' or '..' segments".into());
    }
    if p.chars().any(|c| c.is_control() || c == '\\') || p.contains(char::is_whitespace) {
        return Err("path must not contain whitespace, control characters or backslashes".into());
    }
    if p.len() > 840 {
        return Err("path must be at most 840 bytes long".into());
    }
    let p = p.trim_end_matches('/');
    Ok(format!("{p}/"))
}

/// Parse a duration such as `1h30m`, `10m` or `90s`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    if s.is_empty() || !INTERVAL.is_match(s) {
        return Err(format!(
            "validationInterval {s:?} must be a duration such as 10m, 1h or 90s"
        ));
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("validationInterval {s:?} has a number that is too large"))?;
        num.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            _ => 1,
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("validationInterval {s:?} is too large"))?;
    }
    let d = Duration::from_secs(total);
    if d < MIN_INTERVAL {
        return Err(format!("validationInterval {s:?} must be at least 1m"));
    }
    if d > MAX_INTERVAL {
        return Err(format!("validationInterval {s:?} must be at most 24h"));
    }
    Ok(d)
}

/// The result of validating a spec: what the rest of the controller needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpec {
    pub target: BucketPath,
    pub interval: Duration,
    pub permissions: Vec<String>,
}

/// Check every rule the CRD schema expresses. Returns a message naming the
/// first problem and how to fix it.
pub fn validate_spec(
    spec: &S3ConnectionSpec,
    default_interval: Duration,
) -> Result<ValidSpec, String> {
    let target = parse_bucket(&spec.bucket).map_err(|e| format!("spec.bucket: {e}"))?;
    if !REGION.is_match(&spec.region) {
        return Err(format!(
            "spec.region {:?} is not a region name such as us-west-1",
            spec.region
        ));
    }
    if let Some(ep) = &spec.endpoint
        && !ENDPOINT.is_match(ep)
    {
        return Err(
            "spec.endpoint must be an http:// or https:// URL without credentials, query or fragment"
                .into(),
        );
    }
    validate_auth(&spec.auth)?;
    let permissions = match &spec.permissions {
        None => ALL_PERMISSIONS.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            if list.is_empty() {
                return Err("spec.permissions must not be empty; omit it to check all five".into());
            }
            let mut out: Vec<String> = Vec::new();
            for p in list {
                if !ALL_PERMISSIONS.contains(&p.as_str()) {
                    return Err(format!(
                        "spec.permissions: unknown permission {p:?}; use {}",
                        ALL_PERMISSIONS.join(", ")
                    ));
                }
                if out.contains(p) {
                    return Err(format!("spec.permissions lists {p} twice"));
                }
                out.push(p.clone());
            }
            out
        }
    };
    let interval = match &spec.validation_interval {
        None => default_interval,
        Some(s) => parse_interval(s).map_err(|e| format!("spec.{e}"))?,
    };
    Ok(ValidSpec {
        target,
        interval,
        permissions,
    })
}

fn validate_auth(auth: &Auth) -> Result<(), String> {
    match (&auth.access_key, &auth.iam_role) {
        (Some(_), Some(_)) | (None, None) => {
            Err("set exactly one of spec.auth.accessKey or spec.auth.iamRole".into())
        }
        (Some(ak), None) => {
            if !is_dns_subdomain(&ak.secret_name) {
                return Err(format!(
                    "spec.auth.accessKey.secretName {:?} is not a valid Secret name",
                    ak.secret_name
                ));
            }
            for (field, key) in [
                ("accessKeyIdKey", ak.access_key_id_key.as_deref()),
                ("secretAccessKeyKey", ak.secret_access_key_key.as_deref()),
                ("sessionTokenKey", ak.session_token_key.as_deref()),
            ] {
                if let Some(k) = key
                    && (k.len() > 253 || !SECRET_KEY.is_match(k))
                {
                    return Err(format!(
                        "spec.auth.accessKey.{field} {k:?} is not a valid Secret key"
                    ));
                }
            }
            Ok(())
        }
        (None, Some(role)) => {
            if role.role_arn.is_none() && role.service_account_name.is_none() {
                return Err("spec.auth.iamRole needs roleArn, serviceAccountName, or both".into());
            }
            if let Some(arn) = &role.role_arn
                && !ROLE_ARN.is_match(arn)
            {
                return Err(format!(
                    "spec.auth.iamRole.roleArn {arn:?} is not a role ARN like arn:aws:iam::123456789012:role/name"
                ));
            }
            if let Some(sa) = &role.service_account_name
                && !is_dns_subdomain(sa)
            {
                return Err(format!(
                    "spec.auth.iamRole.serviceAccountName {sa:?} is not a valid ServiceAccount name"
                ));
            }
            if role.external_id.is_some() && role.service_account_name.is_some() {
                return Err("spec.auth.iamRole.externalId applies only to the operator's own identity; remove it or remove serviceAccountName".into());
            }
            if let Some(e) = &role.external_id
                && (!(2..=1224).contains(&e.len()) || !EXTERNAL_ID.is_match(e))
            {
                return Err("spec.auth.iamRole.externalId must be 2-1224 characters of letters, digits and +=,.@:/-".into());
            }
            if let Some(s) = &role.session_name
                && !SESSION_NAME.is_match(s)
            {
                return Err(format!(
                    "spec.auth.iamRole.sessionName {s:?} must be 2-64 characters of letters, digits and +=,.@-"
                ));
            }
            Ok(())
        }
    }
}

/// Role ARNs as the controller checks them (for ARNs from annotations too).
pub fn is_role_arn(s: &str) -> bool {
    ROLE_ARN.is_match(s)
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && DNS_SUBDOMAIN.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AccessKeyAuth, IamRoleAuth};

    fn spec() -> S3ConnectionSpec {
        S3ConnectionSpec {
            bucket: "output/customers".into(),
            region: "us-west-1".into(),
            endpoint: None,
            force_path_style: None,
            auth: Auth {
                access_key: Some(AccessKeyAuth {
                    secret_name: "s3-creds".into(),
                    access_key_id_key: None,
                    secret_access_key_key: None,
                    session_token_key: None,
                }),
                iam_role: None,
            },
            permissions: None,
            validation_interval: None,
        }
    }

    #[test]
    fn bucket_with_path_splits_into_bucket_and_prefix() {
        assert_eq!(
            parse_bucket("output/customers").unwrap(),
            BucketPath {
                bucket: "output".into(),
                prefix: "customers/".into()
            }
        );
        assert_eq!(parse_bucket("output/a/b/").unwrap().prefix, "a/b/");
        assert_eq!(parse_bucket("output").unwrap().prefix, "");
        assert_eq!(parse_bucket("output/").unwrap().prefix, "");
        assert_eq!(parse_bucket("my.bucket-1").unwrap().bucket, "my.bucket-1");
    }

    #[test]
    fn bad_bucket_names_are_rejected() {
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "-start",
            "end-",
            ".start",
            "a..b",
            "192.168.1.1",
            "xn--bucket",
            "sthree-bucket",
            "amzn-s3-demo-bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
            "bucket.mrap",
            "bucket--x-s3",
            "bucket--table-s3",
            "",
        ] {
            assert!(parse_bucket(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn bad_paths_are_rejected() {
        for bad in [
            "bucket//x",
            "bucket/a//b",
            "bucket/../x",
            "bucket/a/..",
            "bucket/./a",
            "bucket/a b",
        ] {
            assert!(parse_bucket(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn intervals_parse_and_have_a_minimum() {
        assert_eq!(parse_interval("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("90s").unwrap(), Duration::from_secs(90));
        assert!(parse_interval("59s").is_err());
        assert!(parse_interval("0m").is_err());
        assert!(parse_interval("").is_err());
        assert!(parse_interval("10").is_err());
        assert!(parse_interval("1d").is_err());
        assert!(parse_interval("99999999999999999999h").is_err());
        assert_eq!(parse_interval("24h").unwrap(), MAX_INTERVAL);
        assert!(parse_interval("24h1s").unwrap_err().contains("at most 24h"));
    }

    #[test]
    fn valid_spec_defaults() {
        let v = validate_spec(&spec(), DEFAULT_INTERVAL).unwrap();
        assert_eq!(v.interval, DEFAULT_INTERVAL);
        assert_eq!(v.permissions, ALL_PERMISSIONS);
        assert_eq!(v.target.bucket, "output");
    }

    #[test]
    fn auth_must_have_exactly_one_method() {
        let mut s = spec();
        s.auth.iam_role = Some(IamRoleAuth {
            role_arn: Some("arn:aws:iam::123456789012:role/sync".into()),
            service_account_name: None,
            external_id: None,
            session_name: None,
        });
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("exactly one")
        );
        s.auth.access_key = None;
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
        s.auth.iam_role = None;
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("exactly one")
        );
    }

    #[test]
    fn role_arn_and_iam_role_rules() {
        let mut s = spec();
        s.auth.access_key = None;
        let role = |arn: Option<&str>, sa: Option<&str>, ext: Option<&str>| IamRoleAuth {
            role_arn: arn.map(Into::into),
            service_account_name: sa.map(Into::into),
            external_id: ext.map(Into::into),
            session_name: None,
        };
        s.auth.iam_role = Some(role(Some("arn:aws:s3:::bucket"), None, None));
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("roleArn")
        );
        s.auth.iam_role = Some(role(None, None, None));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
        s.auth.iam_role = Some(role(None, Some("s3-sync"), None));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
        s.auth.iam_role = Some(role(None, Some("s3-sync"), Some("ext-id")));
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("externalId")
        );
        s.auth.iam_role = Some(role(
            Some("arn:aws:iam::123456789012:role/path/sync"),
            None,
            Some("ext-id"),
        ));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
    }

    #[test]
    fn permissions_must_be_known_and_unique() {
        let mut s = spec();
        s.permissions = Some(vec!["s3:GetObject".into(), "s3:Nope".into()]);
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("unknown permission")
        );
        s.permissions = Some(vec!["s3:GetObject".into(), "s3:GetObject".into()]);
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("twice")
        );
        s.permissions = Some(vec![]);
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
        s.permissions = Some(vec!["s3:ListBucket".into()]);
        assert_eq!(
            validate_spec(&s, DEFAULT_INTERVAL).unwrap().permissions,
            ["s3:ListBucket"]
        );
    }

    #[test]
    fn endpoint_and_region_rules() {
        let mut s = spec();
        for ok in [
            "https://s3.example.com:9000",
            "http://127.0.0.1:15000",
            "https://minio.local/base",
            "http://[::1]:9000",
        ] {
            s.endpoint = Some(ok.into());
            assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://user:pw@host",
            "https://host?x=1",
            "host:9000",
            "https://",
        ] {
            s.endpoint = Some(bad.into());
            assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err(), "{bad}");
        }
        s.endpoint = None;
        s.region = "US-WEST-1".into();
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
    }
}
