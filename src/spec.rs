//! From the user's `S3ConnectionSpec` to a [`ValidSpec`]: every rule of
//! [`crate::crd::rules`] checked again, defaults filled in, strings turned
//! into types. Everything after this stage works on a `ValidSpec` only.
//! Pure functions, no I/O.

use std::time::Duration;

use crate::crd::rules::{self, BUCKET_RULES, PATH_MAX_LEN, PATH_RULES};
use crate::crd::{
    AccessKeyAuth, Auth, AuthKind, DEFAULT_ACCESS_KEY_ID_KEY, DEFAULT_SECRET_ACCESS_KEY_KEY,
    IamRoleAuth, Permission, S3ConnectionSpec,
};
use strum::IntoEnumIterator;

/// A bucket and the prefix the connection is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPath {
    pub bucket: String,
    /// Empty, or a prefix ending in `/` (`customers/`).
    pub prefix: String,
}

/// Where the Secret's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeys {
    pub secret_name: String,
    pub access_key_id_key: String,
    pub secret_access_key_key: String,
    /// No default: without it no session token is used.
    pub session_token_key: Option<String>,
}

/// IRSA: a ServiceAccount's token exchanged for a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrsaRole {
    pub service_account: String,
    /// From the spec; else the ServiceAccount's annotation decides.
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
}

/// A role the operator's own identity assumes. The operator, not the
/// tenant, chooses the ExternalId (`<cluster>:<namespace>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRole {
    pub role_arn: String,
    pub session_name: Option<String>,
}

/// The one way a connection authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    AccessKey(SecretKeys),
    Irsa(IrsaRole),
    OperatorRole(OperatorRole),
}

impl AuthMethod {
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthMethod::AccessKey(_) => AuthKind::AccessKey,
            AuthMethod::Irsa(_) => AuthKind::Irsa,
            AuthMethod::OperatorRole(_) => AuthKind::OperatorRole,
        }
    }
}

/// A spec that passed every rule, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpec {
    pub target: BucketPath,
    pub region: String,
    /// An S3-compatible endpoint; `None` for AWS.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub auth: AuthMethod,
    /// In the order the user listed them (default: all five).
    pub permissions: Vec<Permission>,
    pub interval: Duration,
    /// A Secret of the namespace whose `ca.crt` the endpoint is trusted with.
    pub ca_secret: Option<String>,
    /// The account that must own the bucket.
    pub expected_bucket_owner: Option<String>,
}

/// Why a spec is invalid: names the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

/// Check every rule the CRD schema expresses. The error names the first
/// problem and how to fix it.
pub fn validate(
    spec: &S3ConnectionSpec,
    default_interval: Duration,
) -> Result<ValidSpec, InvalidSpec> {
    let target =
        parse_bucket(&spec.bucket).map_err(|e| InvalidSpec(format!("spec.bucket: {e}")))?;
    if !rules::REGION.is_match(&spec.region) {
        return Err(InvalidSpec(format!(
            "spec.region {:?} is not a region name such as us-west-1",
            spec.region
        )));
    }
    if let Some(ep) = &spec.endpoint
        && !rules::ENDPOINT.is_match(ep)
    {
        return Err(InvalidSpec(
            "spec.endpoint must be an http:// or https:// URL without credentials, query or fragment"
                .into(),
        ));
    }
    let auth = auth_method(&spec.auth).map_err(InvalidSpec)?;
    let permissions = permissions(spec.permissions.as_deref()).map_err(InvalidSpec)?;
    let interval = match &spec.validation_interval {
        None => default_interval,
        Some(s) => parse_interval(s).map_err(|e| InvalidSpec(format!("spec.{e}")))?,
    };
    if let Some(ca) = &spec.ca_secret_ref
        && !rules::is_dns_subdomain(&ca.name)
    {
        return Err(InvalidSpec(format!(
            "spec.caSecretRef.name {:?} is not a valid Secret name",
            ca.name
        )));
    }
    if let Some(owner) = &spec.expected_bucket_owner
        && !rules::ACCOUNT_ID.is_match(owner)
    {
        return Err(InvalidSpec(format!(
            "spec.expectedBucketOwner {owner:?} is not a 12-digit AWS account ID"
        )));
    }
    Ok(ValidSpec {
        target,
        region: spec.region.clone(),
        endpoint: spec.endpoint.clone(),
        force_path_style: spec.force_path_style.unwrap_or(false),
        auth,
        permissions,
        interval,
        ca_secret: spec.ca_secret_ref.as_ref().map(|r| r.name.clone()),
        expected_bucket_owner: spec.expected_bucket_owner.clone(),
    })
}

/// Split `<bucket>[/<path>]` and check both halves against the S3 rules.
pub fn parse_bucket(value: &str) -> Result<BucketPath, String> {
    let (bucket, path) = match value.split_once('/') {
        Some((b, p)) => (b, Some(p)),
        None => (value, None),
    };
    if let Some(rule) = BUCKET_RULES.iter().find(|r| !(r.holds)(bucket)) {
        return Err(format!("bucket name {bucket:?} {}", (rule.message)()));
    }
    let prefix = match path {
        None => String::new(),
        Some(p) => check_path(p)?,
    };
    Ok(BucketPath {
        bucket: bucket.to_string(),
        prefix,
    })
}

/// Returns the normalised prefix: empty, or the path with one trailing `/`.
fn check_path(p: &str) -> Result<String, String> {
    if p.is_empty() {
        return Ok(String::new());
    }
    if let Some(rule) = PATH_RULES.iter().find(|r| !(r.holds)(p)) {
        return Err(rule.message.into());
    }
    if p.chars().any(|c| c.is_control() || c == '\\') || p.contains(char::is_whitespace) {
        return Err("path must not contain whitespace, control characters or backslashes".into());
    }
    if p.len() > PATH_MAX_LEN {
        return Err(format!("path must be at most {PATH_MAX_LEN} bytes long"));
    }
    let p = p.trim_end_matches('/');
    Ok(format!("{p}/"))
}

/// Parse a duration such as `1h30m`, `10m` or `90s`, within the limits of
/// `validationInterval`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    if s.is_empty() || !rules::INTERVAL.is_match(s) {
        return Err(format!(
            "validationInterval {s:?} must be a duration such as 10m, 1h or 90s"
        ));
    }
    let d = parse_duration(s).map_err(|e| format!("validationInterval {e}"))?;
    if d < rules::MIN_INTERVAL {
        return Err(format!(
            "validationInterval {s:?} must be at least {}",
            rules::MIN_INTERVAL_TEXT
        ));
    }
    if d > rules::MAX_INTERVAL {
        return Err(format!(
            "validationInterval {s:?} must be at most {}",
            rules::MAX_INTERVAL_TEXT
        ));
    }
    Ok(d)
}

/// Parse a non-zero duration such as `1h30m`, `10m` or `90s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() || !rules::INTERVAL.is_match(s) {
        return Err(format!("{s:?} must be a duration such as 10m, 1h or 90s"));
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
            .map_err(|_| format!("{s:?} has a number that is too large"))?;
        num.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            _ => 1,
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?} is too large"))?;
    }
    if total == 0 {
        return Err(format!("{s:?} must not be zero"));
    }
    Ok(Duration::from_secs(total))
}

fn permissions(list: Option<&[String]>) -> Result<Vec<Permission>, String> {
    let Some(list) = list else {
        return Ok(Permission::iter().collect());
    };
    if list.is_empty() {
        return Err("spec.permissions must not be empty; omit it to check all five".into());
    }
    let mut out: Vec<Permission> = Vec::with_capacity(list.len());
    for name in list {
        let Ok(p) = name.parse::<Permission>() else {
            let known: Vec<&str> = Permission::iter().map(Permission::as_str).collect();
            return Err(format!(
                "spec.permissions: unknown permission {name:?}; use {}",
                known.join(", ")
            ));
        };
        if out.contains(&p) {
            return Err(format!("spec.permissions lists {p} twice"));
        }
        out.push(p);
    }
    Ok(out)
}

fn auth_method(auth: &Auth) -> Result<AuthMethod, String> {
    let exactly_one = || "set exactly one of spec.auth.accessKey or spec.auth.iamRole".to_string();
    match (auth.kind(), &auth.access_key, &auth.iam_role) {
        (Some(AuthKind::AccessKey), Some(ak), _) => secret_keys(ak).map(AuthMethod::AccessKey),
        (Some(kind), _, Some(role)) => iam_role(kind, role),
        _ => Err(exactly_one()),
    }
}

fn secret_keys(ak: &AccessKeyAuth) -> Result<SecretKeys, String> {
    if !rules::is_dns_subdomain(&ak.secret_name) {
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
            && (k.len() > rules::NAME_LEN.1 as usize || !rules::SECRET_KEY.is_match(k))
        {
            return Err(format!(
                "spec.auth.accessKey.{field} {k:?} is not a valid Secret key"
            ));
        }
    }
    Ok(SecretKeys {
        secret_name: ak.secret_name.clone(),
        access_key_id_key: ak
            .access_key_id_key
            .clone()
            .unwrap_or_else(|| DEFAULT_ACCESS_KEY_ID_KEY.into()),
        secret_access_key_key: ak
            .secret_access_key_key
            .clone()
            .unwrap_or_else(|| DEFAULT_SECRET_ACCESS_KEY_KEY.into()),
        session_token_key: ak.session_token_key.clone(),
    })
}

fn iam_role(kind: AuthKind, role: &IamRoleAuth) -> Result<AuthMethod, String> {
    if let Some(arn) = &role.role_arn
        && !rules::is_role_arn(arn)
    {
        return Err(format!(
            "spec.auth.iamRole.roleArn {arn:?} is not a role ARN like arn:aws:iam::123456789012:role/name"
        ));
    }
    if let Some(sa) = &role.service_account_name
        && !rules::is_dns_subdomain(sa)
    {
        return Err(format!(
            "spec.auth.iamRole.serviceAccountName {sa:?} is not a valid ServiceAccount name"
        ));
    }
    if let Some(s) = &role.session_name
        && !rules::SESSION_NAME.is_match(s)
    {
        return Err(format!(
            "spec.auth.iamRole.sessionName {s:?} must be 2-64 characters of letters, digits and +=,.@-"
        ));
    }
    match (kind, &role.service_account_name, &role.role_arn) {
        (AuthKind::Irsa, Some(sa), arn) => Ok(AuthMethod::Irsa(IrsaRole {
            service_account: sa.clone(),
            role_arn: arn.clone(),
            session_name: role.session_name.clone(),
        })),
        (AuthKind::OperatorRole, None, Some(arn)) => Ok(AuthMethod::OperatorRole(OperatorRole {
            role_arn: arn.clone(),
            session_name: role.session_name.clone(),
        })),
        _ => Err("spec.auth.iamRole needs roleArn, serviceAccountName, or both".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::rules::{DEFAULT_INTERVAL, MAX_INTERVAL};

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
            suspend: None,
            ca_secret_ref: None,
            expected_bucket_owner: None,
        }
    }

    /// The message a user would see.
    fn validate_spec(s: &S3ConnectionSpec, d: Duration) -> Result<ValidSpec, String> {
        validate(s, d).map_err(|e| e.0)
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
        assert_eq!(v.permissions, Permission::iter().collect::<Vec<_>>());
        assert_eq!(v.target.bucket, "output");
        assert_eq!(v.region, "us-west-1");
        assert!(!v.force_path_style);
        assert_eq!(
            v.auth,
            AuthMethod::AccessKey(SecretKeys {
                secret_name: "s3-creds".into(),
                access_key_id_key: "AWS_ACCESS_KEY_ID".into(),
                secret_access_key_key: "AWS_SECRET_ACCESS_KEY".into(),
                session_token_key: None,
            })
        );
    }

    #[test]
    fn auth_must_have_exactly_one_method() {
        let mut s = spec();
        s.auth.iam_role = Some(IamRoleAuth {
            role_arn: Some("arn:aws:iam::123456789012:role/sync".into()),
            service_account_name: None,
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
        let role = |arn: Option<&str>, sa: Option<&str>| IamRoleAuth {
            role_arn: arn.map(Into::into),
            service_account_name: sa.map(Into::into),
            session_name: None,
        };
        s.auth.iam_role = Some(role(Some("arn:aws:s3:::bucket"), None));
        assert!(
            validate_spec(&s, DEFAULT_INTERVAL)
                .unwrap_err()
                .contains("roleArn")
        );
        s.auth.iam_role = Some(role(None, None));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_err());
        s.auth.iam_role = Some(role(None, Some("s3-sync")));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
        s.auth.iam_role = Some(role(Some("arn:aws:iam::123456789012:role/path/sync"), None));
        assert!(validate_spec(&s, DEFAULT_INTERVAL).is_ok());
    }

    #[test]
    fn role_arns_of_every_partition_and_of_s3_compatible_stores() {
        for good in [
            "arn:aws:iam::123456789012:role/sync",
            "arn:aws-cn:iam::123456789012:role/path/sync",
            "arn:aws-us-gov:iam::123456789012:role/sync",
            "arn:aws-iso-b:iam::123456789012:role/sync",
            "arn:minio:iam:::role/oxnUw3DAuQF1uggjXGxI2AmW8IA",
            "arn:aws:iam:::role/ceph-role",
            "arn:aws:iam::tenant_a:role/ceph-role",
        ] {
            assert!(rules::is_role_arn(good), "{good}");
        }
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:user/sync",
            "arn:aws:iam::12345:role/x",
            "arn:evil:iam::123456789012:role/x",
            "arn:minio:iam::: role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:aws-:iam::123456789012:role/x",
        ] {
            assert!(!rules::is_role_arn(bad), "{bad}");
        }
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
            [Permission::ListBucket]
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
