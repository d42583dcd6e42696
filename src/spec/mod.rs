//! From the user's `S3ConnectionSpec` to a [`ValidSpec`]: every rule of
//! [`crate::crd::rules`] checked again, defaults filled in, strings turned
//! into types. Everything after this stage works on a `ValidSpec` only.
//! Pure functions, no I/O.

use std::time::Duration;

use crate::crd::rules::{
    self, AUTH_EXACTLY_ONE, BUCKET_RULES, IAM_ROLE_NAMES_ONE, INTERVAL_RULES, KMS_KEY_NEEDS_KMS,
    PATH_MAX_LEN, PATH_RULES, Rule,
};
use crate::crd::{
    AccessKeyAuth, Auth, AuthKind, DEFAULT_ACCESS_KEY_ID_KEY, DEFAULT_SECRET_ACCESS_KEY_KEY,
    IamRoleAuth, Permission, ProbeSettings, S3ConnectionSpec,
};
use strum::IntoEnumIterator;

/// A bucket and the prefix the connection is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPath {
    /// The bucket's name.
    pub bucket: String,
    /// Empty, or a prefix ending in `/` (`customers/`).
    pub prefix: String,
}

/// Where the Secret's keys are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretKeys {
    /// The Secret's name.
    pub secret_name: String,
    /// The key of the access key ID.
    pub access_key_id_key: String,
    /// The key of the secret access key.
    pub secret_access_key_key: String,
    /// No default: without it no session token is used.
    pub session_token_key: Option<String>,
}

/// IRSA: a ServiceAccount's token exchanged for a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrsaRole {
    /// The ServiceAccount whose token is exchanged.
    pub service_account: String,
    /// From the spec; else the ServiceAccount's annotation decides.
    pub role_arn: Option<String>,
    /// The role session name, if the spec sets one.
    pub session_name: Option<String>,
}

/// A role the operator's own identity assumes. The operator, not the
/// tenant, chooses the ExternalId (`<cluster>:<namespace>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRole {
    /// The role to assume.
    pub role_arn: String,
    /// The role session name, if the spec sets one.
    pub session_name: Option<String>,
}

/// The one way a connection authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// Static credentials from a Secret.
    AccessKey(SecretKeys),
    /// A ServiceAccount's token exchanged for a role.
    Irsa(IrsaRole),
    /// A role assumed with the operator's own identity.
    OperatorRole(OperatorRole),
}

impl AuthMethod {
    /// Which of the three methods.
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthMethod::AccessKey(_) => AuthKind::AccessKey,
            AuthMethod::Irsa(_) => AuthKind::Irsa,
            AuthMethod::OperatorRole(_) => AuthKind::OperatorRole,
        }
    }
}

/// Server-side encryption of the probe object (`spec.probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
pub enum Encryption {
    /// SSE-S3.
    #[strum(serialize = "AES256")]
    Aes256,
    /// SSE-KMS.
    #[strum(serialize = "aws:kms")]
    Kms,
    /// Dual-layer SSE-KMS.
    #[strum(serialize = "aws:kms:dsse")]
    KmsDsse,
}

impl Encryption {
    /// The value of `x-amz-server-side-encryption`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The checksum sent with the probe object (`spec.probe.checksumAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
pub enum Checksum {
    /// CRC-32.
    #[strum(serialize = "CRC32")]
    Crc32,
    /// CRC-32C.
    #[strum(serialize = "CRC32C")]
    Crc32c,
    /// CRC-64/NVME.
    #[strum(serialize = "CRC64NVME")]
    Crc64Nvme,
    /// SHA-1.
    #[strum(serialize = "SHA1")]
    Sha1,
    /// SHA-256.
    #[strum(serialize = "SHA256")]
    Sha256,
}

impl Checksum {
    /// The name S3 gives it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How the probe's requests are made (`spec.probe`, defaults applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Encryption the probe object is written with.
    pub encryption: Option<Encryption>,
    /// The KMS key for [`Encryption::Kms`] and [`Encryption::KmsDsse`].
    pub kms_key_id: Option<String>,
    /// `x-amz-request-payer: requester` on every request.
    pub requester_pays: bool,
    /// The probe object's checksum; `None`: the client's default.
    pub checksum: Option<Checksum>,
    /// Write nothing.
    pub read_only: bool,
    /// The directory under the connection's prefix for probe objects.
    pub key_prefix: String,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            encryption: None,
            kms_key_id: None,
            requester_pays: false,
            checksum: None,
            read_only: false,
            key_prefix: rules::PROBE_DIR.into(),
        }
    }
}

/// A spec that passed every rule, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpec {
    /// The bucket and prefix.
    pub target: BucketPath,
    /// The bucket's region.
    pub region: String,
    /// An S3-compatible endpoint; `None` for AWS.
    pub endpoint: Option<String>,
    /// Where every STS request goes instead of the one `endpoint` implies
    /// (`spec.stsEndpoint`).
    pub sts_endpoint: Option<String>,
    /// Path-style requests (`https://host/bucket`) instead of virtual-hosted ones.
    pub force_path_style: bool,
    /// How the connection authenticates.
    pub auth: AuthMethod,
    /// In the order the user listed them (default: all five).
    pub permissions: Vec<Permission>,
    /// How often it is validated.
    pub interval: Duration,
    /// How often a validation is a full one (never less than `interval`:
    /// a shorter `fullValidationInterval` makes every validation full).
    pub full_interval: Duration,
    /// A Secret of the namespace whose `ca.crt` the endpoint is trusted with.
    pub ca_secret: Option<String>,
    /// The account that must own the bucket.
    pub expected_bucket_owner: Option<String>,
    /// How the probe's requests are made.
    pub probe: ProbeOptions,
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
    rules::REGION.check(&spec.region).map_err(InvalidSpec)?;
    if let Some(ep) = &spec.endpoint {
        rules::ENDPOINT.check(ep).map_err(InvalidSpec)?;
    }
    if let Some(sts) = &spec.sts_endpoint {
        rules::STS_ENDPOINT.check(sts).map_err(InvalidSpec)?;
        if !(rules::STS_ENDPOINT_ORIGIN.holds)(sts) {
            return Err(InvalidSpec((rules::STS_ENDPOINT_ORIGIN.message)()));
        }
    }
    let auth = auth_method(&spec.auth).map_err(InvalidSpec)?;
    let permissions = permissions(spec.permissions.as_deref()).map_err(InvalidSpec)?;
    let interval = match &spec.validation_interval {
        None => default_interval,
        Some(s) => parse_interval(s).map_err(InvalidSpec)?,
    };
    let full_interval = match &spec.full_validation_interval {
        None => rules::DEFAULT_FULL_INTERVAL,
        Some(s) => parse_limited(s, &rules::FULL_INTERVAL, &rules::FULL_INTERVAL_RULES)
            .map_err(InvalidSpec)?,
    };
    // Only when both are set, as the schema says it; else the larger.
    if spec.validation_interval.is_some()
        && spec.full_validation_interval.is_some()
        && !(rules::FULL_NOT_SHORTER.holds)(&(interval, full_interval))
    {
        return Err(InvalidSpec((rules::FULL_NOT_SHORTER.message)()));
    }
    let full_interval = full_interval.max(interval);
    if let Some(ca) = &spec.ca_secret_ref {
        rules::CA_SECRET_NAME.check(&ca.name).map_err(InvalidSpec)?;
    }
    if let Some(owner) = &spec.expected_bucket_owner {
        rules::EXPECTED_BUCKET_OWNER
            .check(owner)
            .map_err(InvalidSpec)?;
    }
    let probe = probe_options(spec.probe.as_deref()).map_err(InvalidSpec)?;
    Ok(ValidSpec {
        target,
        region: spec.region.clone(),
        endpoint: spec.endpoint.clone(),
        sts_endpoint: spec.sts_endpoint.clone(),
        force_path_style: spec.force_path_style.unwrap_or(false),
        auth,
        permissions,
        interval,
        full_interval,
        ca_secret: spec.ca_secret_ref.as_ref().map(|r| r.name.clone()),
        expected_bucket_owner: spec.expected_bucket_owner.clone(),
        probe,
    })
}

/// An enumerated field's value as its type; the message names the values
/// the schema allows.
fn one_of<T: std::str::FromStr>(
    path: &str,
    value: Option<&str>,
    allowed: &[&str],
) -> Result<Option<T>, String> {
    value
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| rules::not_one_of(path, v, allowed))
        })
        .transpose()
}

/// `spec.probe`, checked against the rules the schema states.
fn probe_options(p: Option<&ProbeSettings>) -> Result<ProbeOptions, String> {
    let Some(p) = p else {
        return Ok(ProbeOptions::default());
    };
    let encryption = one_of(
        "spec.probe.serverSideEncryption",
        p.server_side_encryption.as_deref(),
        &rules::SERVER_SIDE_ENCRYPTION,
    )?;
    let checksum = one_of(
        "spec.probe.checksumAlgorithm",
        p.checksum_algorithm.as_deref(),
        &rules::CHECKSUM_ALGORITHMS,
    )?;
    if let Some(k) = &p.kms_key_id {
        rules::KMS_KEY_ID.check(k)?;
    }
    if let Some(d) = &p.key_prefix {
        rules::PROBE_KEY_PREFIX.check(d)?;
    }
    if !(KMS_KEY_NEEDS_KMS.holds)(p) {
        return Err(broken("spec.probe", &KMS_KEY_NEEDS_KMS));
    }
    Ok(ProbeOptions {
        encryption,
        kms_key_id: p.kms_key_id.clone(),
        requester_pays: p.requester_pays.unwrap_or(false),
        checksum,
        read_only: p.read_only.unwrap_or(false),
        key_prefix: p
            .key_prefix
            .clone()
            .unwrap_or_else(|| rules::PROBE_DIR.into()),
    })
}

/// `<path>: <message>` of a rule the API server checks with CEL, as the
/// controller reports it.
fn broken<T: ?Sized>(path: &str, rule: &Rule<T>) -> String {
    format!("{path}: {}", (rule.message)())
}

/// Split `<bucket>[/<path>]` and check both halves against the S3 rules.
pub fn parse_bucket(value: &str) -> Result<BucketPath, String> {
    if !rules::BUCKET_FIELD.holds(value) {
        return Err(format!("{value:?} is not {}", rules::BUCKET_FIELD.what));
    }
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
        return Err((rule.message)());
    }
    if p.len() > PATH_MAX_LEN {
        return Err(rules::path_too_long());
    }
    let p = p.trim_end_matches('/');
    Ok(format!("{p}/"))
}

/// How often `spec` is validated: its `validationInterval`, else
/// `default` (also for a value the schema would refuse: such a spec fails
/// its validation with the reason).
pub fn interval_of(spec: &S3ConnectionSpec, default: Duration) -> Duration {
    spec.validation_interval
        .as_deref()
        .and_then(|i| parse_interval(i).ok())
        .unwrap_or(default)
}

/// Parse a duration such as `1h30m`, `10m` or `90s`, within the limits of
/// `validationInterval`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_limited(s, &rules::INTERVAL, &INTERVAL_RULES)
}

/// A duration field `field` holding `s`, checked against its `limits`.
fn parse_limited(
    s: &str,
    field: &rules::Field,
    limits: &[Rule<Duration>],
) -> Result<Duration, String> {
    if s.is_empty() {
        return Err(field.message(s));
    }
    field.check(s)?;
    let d = parse_duration(s).map_err(|e| format!("{} {e}", field.path))?;
    match limits.iter().find(|r| !(r.holds)(&d)) {
        Some(rule) => Err(broken(field.path, rule)),
        None => Ok(d),
    }
}

/// Parse a non-zero duration such as `1h30m`, `10m` or `90s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() || !rules::INTERVAL.holds(s) {
        return Err(format!("{s:?} must be {}", rules::INTERVAL.what));
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
        return Err(rules::permissions::empty());
    }
    let mut out: Vec<Permission> = Vec::with_capacity(list.len());
    for name in list {
        let Ok(p) = name.parse::<Permission>() else {
            return Err(rules::permissions::unknown(name));
        };
        if out.contains(&p) {
            return Err(rules::permissions::repeated(p));
        }
        out.push(p);
    }
    Ok(out)
}

fn auth_method(auth: &Auth) -> Result<AuthMethod, String> {
    if !(AUTH_EXACTLY_ONE.holds)(auth) {
        return Err(broken("spec.auth", &AUTH_EXACTLY_ONE));
    }
    match (auth.kind(), &auth.access_key, &auth.iam_role) {
        (Some(AuthKind::AccessKey), Some(ak), _) => secret_keys(ak).map(AuthMethod::AccessKey),
        (Some(kind), _, Some(role)) => iam_role(kind, role),
        _ => Err(broken("spec.auth", &AUTH_EXACTLY_ONE)),
    }
}

fn secret_keys(ak: &AccessKeyAuth) -> Result<SecretKeys, String> {
    rules::SECRET_NAME.check(&ak.secret_name)?;
    for (field, key) in [
        (&rules::ACCESS_KEY_ID_KEY, &ak.access_key_id_key),
        (&rules::SECRET_ACCESS_KEY_KEY, &ak.secret_access_key_key),
        (&rules::SESSION_TOKEN_KEY, &ak.session_token_key),
    ] {
        if let Some(k) = key {
            field.check(k)?;
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
    if !(IAM_ROLE_NAMES_ONE.holds)(role) {
        return Err(broken("spec.auth.iamRole", &IAM_ROLE_NAMES_ONE));
    }
    for (field, value) in [
        (&rules::ROLE_ARN, &role.role_arn),
        (&rules::SERVICE_ACCOUNT_NAME, &role.service_account_name),
        (&rules::SESSION_NAME, &role.session_name),
    ] {
        if let Some(v) = value {
            field.check(v)?;
        }
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
        _ => Err(broken("spec.auth.iamRole", &IAM_ROLE_NAMES_ONE)),
    }
}

#[cfg(test)]
mod tests;
