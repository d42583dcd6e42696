//! Resolving a connection's credentials: a Secret of its namespace, an IRSA
//! exchange for a ServiceAccount of its namespace, or (only when the operator
//! allows it) an AssumeRole with the operator's own identity.
//!
//! Assumed-role credentials are cached until shortly before they expire, so
//! re-validating does not call STS every time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::api::{AccessKeyAuth, IamRoleAuth, S3Connection};
use crate::aws::AwsFactory;
use crate::classify::{Class, Op, classify, facts};
use crate::error::Error;
use crate::outcome::{Problem, Reason, Redactor};
use crate::validation::is_role_arn;

pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Requested lifetime of assumed-role sessions and ServiceAccount tokens.
const SESSION_SECONDS: i32 = 3600;
const TOKEN_SECONDS: i64 = 600;
/// Cached credentials are renewed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How the connection authenticates, as shown in `status.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    AccessKey,
    Irsa,
    OperatorRole,
}

impl AuthKind {
    pub fn of(c: &S3Connection) -> Option<Self> {
        match (&c.spec.auth.access_key, &c.spec.auth.iam_role) {
            (Some(_), None) => Some(Self::AccessKey),
            (None, Some(r)) if r.service_account_name.is_some() => Some(Self::Irsa),
            (None, Some(_)) => Some(Self::OperatorRole),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessKey => "AccessKey",
            Self::Irsa => "IRSA",
            Self::OperatorRole => "OperatorRole",
        }
    }
}

/// Credentials ready for use, with what is needed to keep them out of text.
#[derive(Clone)]
pub struct Resolved {
    pub credentials: Credentials,
    /// Where assumed-role credentials are cached, to forget them when S3 or
    /// STS rejects them.
    pub cache_key: Option<String>,
    /// The ARN of the assumed role, when a role was assumed.
    pub role_arn: Option<String>,
    pub redactor: Redactor,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("cache_key", &self.cache_key)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

/// Resolution either yields credentials, a problem to report in status, or an
/// operator-side error (Kubernetes API failures such as missing RBAC).
pub type Resolution = Result<Result<Resolved, Problem>, Error>;

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    expires: SystemTime,
}

/// Caches assumed-role credentials by everything that identifies the session.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl CredentialCache {
    fn get(&self, key: &str, now: SystemTime) -> Option<Credentials> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(key)
            .filter(|c| c.expires > now + REFRESH_MARGIN)
            .map(|c| c.credentials.clone())
    }

    fn put(&self, key: String, credentials: Credentials, expires: SystemTime) {
        let mut entries = self.entries.lock().unwrap();
        let now = SystemTime::now();
        entries.retain(|_, c| c.expires > now);
        entries.insert(
            key,
            Cached {
                credentials,
                expires,
            },
        );
    }

    /// Forget credentials S3 or STS rejected, so the next attempt re-assumes.
    pub fn invalidate(&self, key: &str) {
        self.entries.lock().unwrap().remove(key);
    }
}

/// Resolves credentials for connections.
pub struct Resolver<'a> {
    pub client: &'a Client,
    pub aws: &'a dyn AwsFactory,
    pub cache: &'a CredentialCache,
    pub allow_operator_identity: bool,
}

impl Resolver<'_> {
    pub async fn resolve(&self, conn: &S3Connection) -> Resolution {
        let ns = conn.namespace().unwrap_or_default();
        match (&conn.spec.auth.access_key, &conn.spec.auth.iam_role) {
            (Some(ak), None) => self.secret_credentials(&ns, ak).await,
            (None, Some(role)) => match &role.service_account_name {
                Some(sa) => self.irsa(conn, &ns, sa, role).await,
                None => self.operator_role(conn, &ns, role).await,
            },
            _ => Ok(Err(Problem::new(
                Reason::InvalidSpec,
                "Set exactly one of spec.auth.accessKey or spec.auth.iamRole.",
            ))),
        }
    }

    async fn secret_credentials(&self, ns: &str, ak: &AccessKeyAuth) -> Resolution {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret = api
            .get_opt(&ak.secret_name)
            .await
            .map_err(|e| Error::kube(format!("get Secret {ns}/{}", ak.secret_name), e))?;
        let Some(secret) = secret else {
            return Ok(Err(Problem::new(
                Reason::SecretNotFound,
                format!(
                    "Secret {:?} does not exist in namespace {ns:?}. Create it with keys {} and {} (Secrets of other namespaces cannot be used).",
                    ak.secret_name,
                    ak.access_key_id_key(),
                    ak.secret_access_key_key()
                ),
            )));
        };
        Ok(credentials_from_secret(&secret, ak))
    }

    async fn irsa(
        &self,
        conn: &S3Connection,
        ns: &str,
        sa_name: &str,
        role: &IamRoleAuth,
    ) -> Resolution {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        let sa = api
            .get_opt(sa_name)
            .await
            .map_err(|e| Error::kube(format!("get ServiceAccount {ns}/{sa_name}"), e))?;
        let Some(sa) = sa else {
            return Ok(Err(Problem::new(
                Reason::ServiceAccountNotFound,
                format!(
                    "ServiceAccount {sa_name:?} does not exist in namespace {ns:?}. Create it, or fix spec.auth.iamRole.serviceAccountName."
                ),
            )));
        };
        let role_arn = match pick_role_arn(role, &sa) {
            Ok(arn) => arn,
            Err(p) => return Ok(Err(p)),
        };
        let audience = sa
            .annotations()
            .get(AUDIENCE_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string());
        let session = session_name(role, ns, &conn.name_any());
        let cache_key = format!(
            "irsa:{ns}/{sa_name}:{}:{role_arn}:{audience}:{session}",
            sa.uid().unwrap_or_default()
        );
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Ok(resolved(credentials, Some(cache_key), Some(role_arn))));
        }

        let tr = TokenRequest {
            metadata: Default::default(),
            spec: TokenRequestSpec {
                audiences: vec![audience.clone()],
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            status: None,
        };
        let token = match api
            .create_token_request(sa_name, &PostParams::default(), &tr)
            .await
        {
            Ok(tr) => tr.status.map(|s| s.token).unwrap_or_default(),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Ok(Err(Problem::new(
                    Reason::ServiceAccountNotFound,
                    format!(
                        "ServiceAccount {sa_name:?} disappeared from namespace {ns:?} while requesting its token."
                    ),
                )));
            }
            Err(e) => {
                return Err(Error::kube(
                    format!("create token for ServiceAccount {ns}/{sa_name}"),
                    e,
                ));
            }
        };
        let mut redactor = Redactor::default();
        redactor.add(&token);

        let sts = self.aws.sts(&conn.spec.region, None);
        let out = sts
            .assume_role_with_web_identity()
            .role_arn(&role_arn)
            .role_session_name(&session)
            .web_identity_token(&token)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await;
        let result = match out {
            Ok(o) => o.credentials,
            Err(e) => {
                let f = facts(&e);
                return Ok(Err(redactor.scrub_problem(assume_role_problem(
                    &classify(Op::Sts, &f),
                    &f.describe(),
                    &format!(
                        "ServiceAccount {ns}/{sa_name} to assume role {role_arn}: the role's trust policy must allow the web identity system:serviceaccount:{ns}:{sa_name} with audience {audience}"
                    ),
                ))));
            }
        };
        Ok(self.finish(result, cache_key, role_arn, redactor))
    }

    async fn operator_role(&self, conn: &S3Connection, ns: &str, role: &IamRoleAuth) -> Resolution {
        if !self.allow_operator_identity {
            return Ok(Err(Problem::new(
                Reason::OperatorIdentityDisabled,
                "spec.auth.iamRole has no serviceAccountName, so the operator's own identity would assume the role, and this operator does not allow that. Set serviceAccountName to use IRSA, or run the operator with --allow-operator-identity.",
            )));
        }
        let Some(role_arn) = role.role_arn.clone() else {
            return Ok(Err(Problem::new(
                Reason::RoleArnMissing,
                "spec.auth.iamRole.roleArn is required when no serviceAccountName is set.",
            )));
        };
        let session = session_name(role, ns, &conn.name_any());
        let cache_key = format!(
            "operator:{role_arn}:{session}:{}",
            role.external_id.as_deref().unwrap_or("")
        );
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Ok(resolved(credentials, Some(cache_key), Some(role_arn))));
        }
        let Some(sts) = self.aws.operator_sts(&conn.spec.region) else {
            return Ok(Err(Problem::new(
                Reason::OperatorIdentityDisabled,
                "The operator's own identity is not available.",
            )));
        };
        let mut req = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&session)
            .duration_seconds(SESSION_SECONDS);
        if let Some(ext) = &role.external_id {
            req = req.external_id(ext);
        }
        let result = match req.send().await {
            Ok(o) => o.credentials,
            Err(e) => {
                let f = facts(&e);
                return Ok(Err(assume_role_problem(
                    &classify(Op::Sts, &f),
                    &f.describe(),
                    &format!(
                        "the operator to assume role {role_arn}: the role's trust policy must allow the operator's identity{}",
                        if role.external_id.is_some() {
                            " with this externalId"
                        } else {
                            ""
                        }
                    ),
                )));
            }
        };
        Ok(self.finish(result, cache_key, role_arn, Redactor::default()))
    }

    fn finish(
        &self,
        creds: Option<aws_sdk_sts::types::Credentials>,
        cache_key: String,
        role_arn: String,
        mut redactor: Redactor,
    ) -> Result<Resolved, Problem> {
        let Some(c) = creds else {
            return Err(Problem::new(
                Reason::AssumeRoleFailed,
                format!("STS returned no credentials for role {role_arn}."),
            ));
        };
        let expires = SystemTime::try_from(c.expiration)
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
        redactor.add(&c.access_key_id);
        redactor.add(&c.secret_access_key);
        redactor.add(&c.session_token);
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expires),
            "s3connection-assumed-role",
        );
        self.cache
            .put(cache_key.clone(), credentials.clone(), expires);
        Ok(Resolved {
            credentials,
            cache_key: Some(cache_key),
            role_arn: Some(role_arn),
            redactor,
        })
    }
}

fn resolved(
    credentials: Credentials,
    cache_key: Option<String>,
    role_arn: Option<String>,
) -> Resolved {
    let mut redactor = Redactor::default();
    redactor.add(credentials.access_key_id());
    redactor.add(credentials.secret_access_key());
    if let Some(t) = credentials.session_token() {
        redactor.add(t);
    }
    Resolved {
        credentials,
        cache_key,
        role_arn,
        redactor,
    }
}

/// Read the configured keys out of a Secret.
pub fn credentials_from_secret(secret: &Secret, ak: &AccessKeyAuth) -> Result<Resolved, Problem> {
    let name = secret.name_any();
    let data = secret.data.clone().unwrap_or_default();
    let read = |key: &str| -> Result<String, Problem> {
        let missing = |what: &str| {
            Problem::new(
                Reason::SecretKeyMissing,
                format!(
                    "Secret {name:?} {what}; add it, or name the right key in spec.auth.accessKey."
                ),
            )
        };
        let Some(bytes) = data.get(key) else {
            return Err(missing(&format!("has no key {key:?}")));
        };
        let text = std::str::from_utf8(&bytes.0)
            .map_err(|_| missing(&format!("key {key:?} is not UTF-8 text")))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(missing(&format!("key {key:?} is empty")));
        }
        Ok(text.to_string())
    };
    let id = read(ak.access_key_id_key())?;
    let secret_key = read(ak.secret_access_key_key())?;
    let token = match &ak.session_token_key {
        Some(k) => Some(read(k)?),
        None => None,
    };
    let credentials = Credentials::new(id, secret_key, token, None, "s3connection-secret");
    Ok(resolved(credentials, None, None))
}

/// The role ARN for IRSA: from the spec, else from the ServiceAccount.
pub fn pick_role_arn(role: &IamRoleAuth, sa: &ServiceAccount) -> Result<String, Problem> {
    if let Some(arn) = &role.role_arn {
        return Ok(arn.clone());
    }
    match sa.annotations().get(ROLE_ARN_ANNOTATION) {
        Some(arn) if is_role_arn(arn.trim()) => Ok(arn.trim().to_string()),
        Some(arn) => Err(Problem::new(
            Reason::RoleArnMissing,
            format!(
                "ServiceAccount {:?} has annotation {ROLE_ARN_ANNOTATION}={arn:?}, which is not a role ARN like arn:aws:iam::123456789012:role/name.",
                sa.name_any()
            ),
        )),
        None => Err(Problem::new(
            Reason::RoleArnMissing,
            format!(
                "No role to assume: set spec.auth.iamRole.roleArn, or annotate ServiceAccount {:?} with {ROLE_ARN_ANNOTATION}.",
                sa.name_any()
            ),
        )),
    }
}

/// `spec.auth.iamRole.sessionName`, or `s3connection-<namespace>-<name>`
/// cut to the 64 characters STS allows.
pub fn session_name(role: &IamRoleAuth, ns: &str, name: &str) -> String {
    if let Some(s) = &role.session_name {
        return s.clone();
    }
    let mut s: String = format!("s3connection-{ns}-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(64);
    s
}

fn assume_role_problem(class: &Class, described: &str, who: &str) -> Problem {
    match class {
        Class::Unreachable => Problem::new(
            Reason::EndpointUnreachable,
            format!("STS could not be reached while asking for {who} ({described}); retrying."),
        ),
        Class::Transient(_) => Problem::new(
            Reason::Transient,
            format!("STS failed temporarily while asking for {who} ({described}); retrying."),
        ),
        _ => Problem::new(
            Reason::AssumeRoleFailed,
            format!("STS refused {who} ({described})."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &[u8])]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("creds".into()),
                resource_version: Some("42".into()),
                ..Default::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn ak() -> AccessKeyAuth {
        AccessKeyAuth {
            secret_name: "creds".into(),
            access_key_id_key: None,
            secret_access_key_key: None,
            session_token_key: None,
        }
    }

    #[test]
    fn secret_with_default_keys_resolves_and_trims() {
        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE\n"),
            ("AWS_SECRET_ACCESS_KEY", b"secretsecret"),
        ]);
        let r = credentials_from_secret(&s, &ak()).unwrap();
        assert_eq!(r.credentials.access_key_id(), "AKIAEXAMPLE");
        assert_eq!(
            r.redactor.scrub("x AKIAEXAMPLE secretsecret"),
            "x [REDACTED] [REDACTED]"
        );
        assert!(!format!("{r:?}").contains("AKIAEXAMPLE"));
    }

    #[test]
    fn missing_or_empty_keys_are_reported_by_name_without_values() {
        let s = secret(&[("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE")]);
        let p = credentials_from_secret(&s, &ak()).unwrap_err();
        assert_eq!(p.reason, Reason::SecretKeyMissing);
        assert!(p.message.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!p.message.contains("AKIAEXAMPLE"));

        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", b"  "),
        ]);
        let p = credentials_from_secret(&s, &ak()).unwrap_err();
        assert!(p.message.contains("empty"));

        let mut with_token = ak();
        with_token.session_token_key = Some("TOKEN".into());
        let s = secret(&[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", b"secretsecret"),
        ]);
        let p = credentials_from_secret(&s, &with_token).unwrap_err();
        assert!(p.message.contains("TOKEN"));
    }

    #[test]
    fn custom_key_names_are_used() {
        let mut a = ak();
        a.access_key_id_key = Some("id".into());
        a.secret_access_key_key = Some("key".into());
        a.session_token_key = Some("tok".into());
        let s = secret(&[
            ("id", b"AKIAEXAMPLE"),
            ("key", b"secretsecret"),
            ("tok", b"token-value"),
        ]);
        let r = credentials_from_secret(&s, &a).unwrap();
        assert_eq!(r.credentials.session_token(), Some("token-value"));
    }

    fn sa(annotations: &[(&str, &str)]) -> ServiceAccount {
        ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some("s3-sync".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn role(arn: Option<&str>) -> IamRoleAuth {
        IamRoleAuth {
            role_arn: arn.map(Into::into),
            service_account_name: Some("s3-sync".into()),
            external_id: None,
            session_name: None,
        }
    }

    #[test]
    fn role_arn_comes_from_spec_then_annotation() {
        let from_spec = "arn:aws:iam::123456789012:role/spec";
        let from_sa = "arn:aws:iam::123456789012:role/annotated";
        let annotated = sa(&[(ROLE_ARN_ANNOTATION, from_sa)]);
        assert_eq!(
            pick_role_arn(&role(Some(from_spec)), &annotated).unwrap(),
            from_spec
        );
        assert_eq!(pick_role_arn(&role(None), &annotated).unwrap(), from_sa);
        let p = pick_role_arn(&role(None), &sa(&[])).unwrap_err();
        assert_eq!(p.reason, Reason::RoleArnMissing);
        let p = pick_role_arn(&role(None), &sa(&[(ROLE_ARN_ANNOTATION, "nope")])).unwrap_err();
        assert_eq!(p.reason, Reason::RoleArnMissing);
    }

    #[test]
    fn session_names_fit_sts_limits() {
        let long = "n".repeat(80);
        let s = session_name(&role(None), "analytics", &long);
        assert_eq!(s.len(), 64);
        assert!(s.starts_with("s3connection-analytics-"));
        let mut r = role(None);
        r.session_name = Some("custom".into());
        assert_eq!(session_name(&r, "a", "b"), "custom");
    }

    #[test]
    fn cache_expires_before_credentials_do() {
        let cache = CredentialCache::default();
        let now = SystemTime::now();
        let c = Credentials::new("a", "b", None, None, "t");
        cache.put("k".into(), c.clone(), now + Duration::from_secs(3600));
        assert!(cache.get("k", now).is_some());
        assert!(cache.get("k", now + Duration::from_secs(3400)).is_none());
        cache.invalidate("k");
        assert!(cache.get("k", now).is_none());
    }

    #[test]
    fn assume_role_failures_are_classified() {
        let p = assume_role_problem(&Class::Denied, "AccessDenied, HTTP 403", "x");
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(p.message.contains("AccessDenied"));
        assert_eq!(
            assume_role_problem(&Class::Unreachable, "connection failed", "x").reason,
            Reason::EndpointUnreachable
        );
        assert_eq!(
            assume_role_problem(&Class::Transient("t".into()), "HTTP 503", "x").reason,
            Reason::Transient
        );
    }
}
