//! IAM roles: IRSA (a ServiceAccount token of the connection's namespace,
//! exchanged with STS AssumeRoleWithWebIdentity) and, only when the operator
//! allows it, AssumeRole with the operator's own identity.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use super::cache::believed_expiry;
use super::versions::{IndexWriter, Indexes};
use super::{Part, Redactor, ResolveError, Resolved, Resolver, SessionKey, check_value};
use crate::aws::S3Target;
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::crd::ConnectionId;
use crate::crd::rules::is_role_arn;
use crate::error::{Error, within};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::{IrsaRole, OperatorRole};

/// The ServiceAccount annotation naming the role IRSA assumes.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The ServiceAccount annotation naming the token's audience.
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
/// The token audience when the ServiceAccount names none.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Requested lifetime of assumed-role sessions and ServiceAccount tokens.
const SESSION_SECONDS: i32 = 3600;
/// [`SESSION_SECONDS`]: no credentials are kept longer than this.
const SESSION_LIFETIME: Duration = Duration::from_secs(SESSION_SECONDS as u64);
const TOKEN_SECONDS: i64 = 600;

impl Resolver<'_> {
    pub(super) async fn irsa(
        &self,
        role: &IrsaRole,
        target: &S3Target,
        id: &ConnectionId,
    ) -> Result<Resolved, ResolveError> {
        let ns = id.namespace.as_str();
        let sa_name = role.service_account.as_str();
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        // From the ServiceAccount watch when it has seen it; read otherwise
        // (a ServiceAccount created a moment ago, or one whose annotations
        // are too long to keep).
        let account = match self.accounts.get(ns, sa_name) {
            Some(account) => account,
            None => {
                let what = || format!("get ServiceAccount {ns}/{sa_name}");
                within(self.api_timeout, what, api.get_opt(sa_name))
                    .await?
                    .map_err(|e| Error::kube(what(), e))?
                    .map(|sa| Account::of(&sa.metadata))
                    .ok_or_else(|| messages::service_account_not_found(sa_name, ns))?
            }
        };
        let role_arn = pick_role_arn(role, account.role_arn.as_deref())?;
        // Never a token AWS accepts for a store (`audience`).
        let recipient = self.recipient(target);
        let audience = super::audience::choose(recipient, &account, sa_name, DEFAULT_AUDIENCE)?;
        let session = irsa_session_name(role.session_name.as_deref(), ns, sa_name);
        // Per ServiceAccount and role, not per connection: connections
        // sharing them share one session.
        let cache_key = SessionKey::Irsa {
            namespace: ns.to_string(),
            service_account: sa_name.to_string(),
            uid: account.uid.clone(),
            role_arn: role_arn.clone(),
            audience: audience.clone(),
            session: session.clone(),
        };
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Resolved::new(credentials, Some(cache_key), Some(role_arn)));
        }
        let _fetching = self.cache.fetching(&cache_key).await;
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Resolved::new(credentials, Some(cache_key), Some(role_arn)));
        }

        let token = self.token(&api, sa_name, ns, &audience).await?;
        let mut redactor = Redactor::default();
        redactor.add(&token);
        let sts = self.aws.sts(target, None);
        let request = messages::irsa_request(ns, sa_name, &role_arn, &audience);
        let asked_at = SystemTime::now();
        let issued =
            exchange_web_identity(&sts.client, &role_arn, &session, &token, &request).await?;
        Ok(self.finish(issued, asked_at, cache_key, role_arn, redactor)?)
    }

    /// A short-lived token of the ServiceAccount for `audience`.
    async fn token(
        &self,
        api: &Api<ServiceAccount>,
        sa_name: &str,
        ns: &str,
        audience: &str,
    ) -> Result<String, ResolveError> {
        let tr = TokenRequest {
            metadata: Default::default(),
            spec: TokenRequestSpec {
                audiences: vec![audience.to_string()],
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            status: None,
        };
        let what = || format!("create token for ServiceAccount {ns}/{sa_name}");
        let params = PostParams::default();
        let request = api.create_token_request(sa_name, &params, &tr);
        match within(self.api_timeout, what, request).await? {
            Ok(tr) => Ok(tr.status.map(|s| s.token).unwrap_or_default()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                Err(messages::service_account_disappeared(sa_name, ns).into())
            }
            Err(e) => Err(Error::kube(what(), e).into()),
        }
    }

    pub(super) async fn operator_role(
        &self,
        role: &OperatorRole,
        region: &str,
        id: &ConnectionId,
    ) -> Result<Resolved, ResolveError> {
        if !self.allow_operator_identity {
            return Err(messages::operator_identity_disabled().into());
        }
        let Some(cluster) = self.cluster_name else {
            return Err(messages::operator_identity_unavailable().into());
        };
        let role_arn = role.role_arn.clone();
        let external_id = external_id(cluster, &id.namespace);
        let session = operator_session_name(role.session_name.as_deref(), id);
        let cache_key = SessionKey::Operator {
            namespace: id.namespace.clone(),
            role_arn: role_arn.clone(),
            session: session.clone(),
        };
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Resolved::new(credentials, Some(cache_key), Some(role_arn)));
        }
        let sts = self
            .aws
            .operator_sts(region)
            .ok_or_else(messages::operator_identity_unavailable)?;
        let req = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&session)
            .external_id(&external_id)
            .duration_seconds(SESSION_SECONDS);
        let asked_at = SystemTime::now();
        let issued = match attempt(Op::Sts, req.send()).await {
            Ok(o) => o.credentials,
            Err(f) => {
                let request = messages::operator_request(&role_arn, &external_id);
                return Err(sts_failed(&f, &request).into());
            }
        };
        Ok(self.finish(issued, asked_at, cache_key, role_arn, Redactor::default())?)
    }

    /// Credentials STS issued for a request sent at `asked_at`: checked
    /// (each value bounded and header-safe), cached until the expiry the
    /// operator believes (see [`believed_expiry`]) and ready for use.
    fn finish(
        &self,
        issued: Option<aws_sdk_sts::types::Credentials>,
        asked_at: SystemTime,
        cache_key: SessionKey,
        role_arn: String,
        mut redactor: Redactor,
    ) -> Result<Resolved, Problem> {
        let c = issued.ok_or_else(|| messages::sts_returned_no_credentials(&role_arn))?;
        for (part, value) in [
            (Part::AccessKeyId, &c.access_key_id),
            (Part::SecretAccessKey, &c.secret_access_key),
            (Part::SessionToken, &c.session_token),
        ] {
            check_value(part, value)
                .map_err(|flaw| messages::sts_credentials_unusable(&role_arn, flaw))?;
        }
        let expires = believed_expiry(
            asked_at,
            SESSION_LIFETIME,
            SystemTime::try_from(c.expiration).ok(),
        );
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

/// STS `AssumeRoleWithWebIdentity` for `role_arn` with `token`. A refusal
/// (wrong audience, a token the STS cannot verify, a trust policy that does
/// not match) is `AssumeRoleFailed` and names `request`, never the token.
pub async fn exchange_web_identity(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session: &str,
    token: &str,
    request: &str,
) -> Result<Option<aws_sdk_sts::types::Credentials>, Problem> {
    let call = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session)
        .web_identity_token(token)
        .duration_seconds(SESSION_SECONDS)
        .send();
    match attempt(Op::Sts, call).await {
        Ok(o) => Ok(o.credentials),
        Err(f) => {
            let mut redactor = Redactor::default();
            redactor.add(token);
            let problem = sts_failed(&f, request);
            Err(redactor.scrub_problem(problem))
        }
    }
}

/// The problem of an STS call for `request` that failed: TLS, an
/// unreachable STS and temporary failures are the endpoint's (the last two
/// retried); anything else is STS refusing the request, and `AccessDenied`
/// the role's trust policy refusing it.
fn sts_failed(f: &Failure, request: &str) -> Problem {
    let described = f.describe();
    match &f.class {
        Class::Tls(why) => messages::sts_tls_failed(request, why),
        Class::Denied => messages::sts_denied(request, &described),
        Class::Unreachable => messages::sts_unreachable(request, &described),
        Class::Transient(_) => messages::sts_transient(request, &described),
        _ => messages::sts_refused(request, &described),
    }
}

/// The role ARN for IRSA: from the spec, else from the ServiceAccount's
/// annotation.
pub fn pick_role_arn(role: &IrsaRole, annotation: Option<&str>) -> Result<String, Problem> {
    if let Some(arn) = &role.role_arn {
        return Ok(arn.clone());
    }
    let sa = &role.service_account;
    match annotation {
        Some(arn) if is_role_arn(arn.trim()) => Ok(arn.trim().to_string()),
        Some(arn) => Err(messages::role_annotation_not_an_arn(
            sa,
            ROLE_ARN_ANNOTATION,
            arn,
        )),
        None => Err(messages::no_role_arn(sa, ROLE_ARN_ANNOTATION)),
    }
}

/// What IRSA needs of a ServiceAccount: its uid (credentials are kept per
/// ServiceAccount object) and the role and audience annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// The ServiceAccount's uid.
    pub uid: String,
    /// Its role annotation, if it is a role ARN of bounded length.
    pub role_arn: Option<String>,
    /// Its audience annotation, if bounded.
    pub audience: Option<String>,
    /// Its audience for stores ([`super::audience::STORE_AUDIENCE_ANNOTATION`]).
    pub store_audience: Option<String>,
}

/// The longest annotation value the ServiceAccount watch keeps (an ARN has
/// at most 2048 characters). A ServiceAccount with a longer one is not kept
/// and is read when a connection needs it, so that whatever a tenant writes
/// into annotations, what the operator holds per ServiceAccount is small.
const ANNOTATION_MAX: usize = 2048;

impl Account {
    /// What IRSA needs of a ServiceAccount's metadata.
    pub fn of(m: &ObjectMeta) -> Self {
        let annotation = |k: &str| m.annotations.as_ref().and_then(|a| a.get(k)).cloned();
        Self {
            uid: m.uid.clone().unwrap_or_default(),
            role_arn: annotation(ROLE_ARN_ANNOTATION),
            audience: annotation(AUDIENCE_ANNOTATION),
            store_audience: annotation(super::audience::STORE_AUDIENCE_ANNOTATION),
        }
    }

    /// What the ServiceAccount watch keeps of `m`, if it is small.
    fn indexed(m: &ObjectMeta) -> Option<Self> {
        let a = Self::of(m);
        let long = |v: &Option<String>| v.as_ref().is_some_and(|v| v.len() > ANNOTATION_MAX);
        (!long(&a.role_arn) && !long(&a.audience) && !long(&a.store_audience)).then_some(a)
    }
}

/// What the ServiceAccount watches saw, by namespace and name.
#[derive(Default)]
pub struct ServiceAccounts(Indexes<Account>);

impl ServiceAccounts {
    /// A writer for one more ServiceAccount watch.
    pub fn watch(&self) -> IndexWriter<ServiceAccount, Account> {
        self.0.watch(Account::indexed)
    }

    /// What the watches last saw of ServiceAccount `ns/name`.
    pub fn get(&self, ns: &str, name: &str) -> Option<Account> {
        self.0.get(ns, name)
    }
}

/// The ExternalId the operator sends when its own identity assumes a role
/// for a connection of `namespace`: the tenant cannot choose it, so a role
/// whose trust policy requires it serves that namespace only.
pub fn external_id(cluster: &str, namespace: &str) -> String {
    format!("{cluster}:{namespace}")
}

/// The default `<cluster>` of [`external_id`]: the UID of the
/// `kube-system` namespace, a stable name of this cluster (the call given
/// at most `timeout`).
pub async fn kube_system_uid(client: &kube::Client, timeout: Duration) -> Result<String, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let what = || "get namespaces/kube-system".to_string();
    let ns = within(timeout, what, api.get("kube-system"))
        .await?
        .map_err(|e| Error::kube(what(), e))?;
    Ok(ns.metadata.uid.unwrap_or_default())
}

/// With the operator's own identity: `s3c-<namespace>-<sessionName or name>`,
/// so the session always names the namespace (cut to 64 characters).
pub fn operator_session_name(configured: Option<&str>, id: &ConnectionId) -> String {
    let rest = configured.unwrap_or(&id.name);
    sanitize_session(&format!("s3c-{}-{rest}", id.namespace))
}

/// Characters STS allows in session names, at most 64 of them.
fn sanitize_session(s: &str) -> String {
    let mut s: String = s
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

/// IRSA: `spec.auth.iamRole.sessionName`, or
/// `s3connection-<namespace>-<serviceaccount>`, so that connections sharing
/// a ServiceAccount share a session (cut to 64 characters).
pub fn irsa_session_name(configured: Option<&str>, namespace: &str, sa: &str) -> String {
    if let Some(s) = configured {
        return s.to_string();
    }
    sanitize_session(&format!("s3connection-{namespace}-{sa}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::facts::ErrorFacts;
    use crate::outcome::Reason;

    #[test]
    fn sts_failures_are_the_endpoints_or_a_refusal() {
        let failed = |class: Class, status: u16, code: Option<&str>| Failure {
            class,
            facts: ErrorFacts::response(status, code),
        };
        let p = sts_failed(&failed(Class::Denied, 403, Some("AccessDenied")), "x");
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(p.message.contains("AccessDenied"), "{}", p.message);
        // A trust policy refused it: the message names the command that
        // prints the trust policy; other refusals do not.
        assert!(p.message.contains("policy --trust -f"), "{}", p.message);
        let p = sts_failed(
            &failed(
                Class::Other("InvalidIdentityToken".into()),
                400,
                Some("InvalidIdentityToken"),
            ),
            "x",
        );
        assert_eq!(p.reason, Reason::AssumeRoleFailed);
        assert!(!p.message.contains("policy --trust"), "{}", p.message);
        let p = sts_failed(&failed(Class::Unreachable, 0, None), "x");
        assert_eq!(p.reason, Reason::EndpointUnreachable);
        let p = sts_failed(&failed(Class::Transient("t".into()), 503, None), "x");
        assert_eq!(p.reason, Reason::Transient);
        let p = sts_failed(&failed(Class::Tls("unknown CA".into()), 0, None), "x");
        assert_eq!(p.reason, Reason::TlsError);
        assert!(p.message.contains("unknown CA"), "{}", p.message);
    }

    fn sa(annotations: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("s3-sync".into()),
            uid: Some("sa-uid".into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn role(arn: Option<&str>) -> IrsaRole {
        IrsaRole {
            role_arn: arn.map(Into::into),
            service_account: "s3-sync".into(),
            session_name: None,
        }
    }

    fn id(ns: &str, name: &str) -> ConnectionId {
        ConnectionId {
            namespace: ns.into(),
            name: name.into(),
            uid: "u".into(),
        }
    }

    #[test]
    fn role_arn_comes_from_spec_then_annotation() {
        let from_spec = "arn:aws:iam::123456789012:role/spec";
        let from_sa = "arn:aws:iam::123456789012:role/annotated";
        let annotated = Account::of(&sa(&[(ROLE_ARN_ANNOTATION, from_sa)]));
        let annotation = annotated.role_arn.as_deref();
        assert_eq!(
            pick_role_arn(&role(Some(from_spec)), annotation).unwrap(),
            from_spec
        );
        assert_eq!(pick_role_arn(&role(None), annotation).unwrap(), from_sa);
        let p = pick_role_arn(&role(None), None).unwrap_err();
        assert_eq!(p.reason, Reason::RoleArnMissing);
        let p = pick_role_arn(&role(None), Some("nope")).unwrap_err();
        assert_eq!(p.reason, Reason::RoleArnMissing);
        assert!(p.message.contains("\"nope\""), "{}", p.message);
        // A tenant's 100 KB annotation is not echoed into the status whole.
        let huge = "x".repeat(100_000);
        let p = pick_role_arn(&role(None), Some(&huge)).unwrap_err();
        assert!(p.message.len() < 600, "{} bytes", p.message.len());
        assert!(p.message.contains("xxx..."), "{}", p.message);
    }

    #[test]
    fn the_watch_keeps_small_accounts_and_forgets_large_ones() {
        use kube::core::PartialObjectMeta;
        use kube::runtime::watcher::Event;
        let accounts = ServiceAccounts::default();
        let mut writer = accounts.watch();
        let event = |m: ObjectMeta| {
            Event::Apply(PartialObjectMeta::<ServiceAccount> {
                types: None,
                metadata: ObjectMeta {
                    namespace: Some("ns".into()),
                    ..m
                },
                _phantom: Default::default(),
            })
        };
        let arn = "arn:aws:iam::123456789012:role/r";
        writer.apply(&event(sa(&[
            (ROLE_ARN_ANNOTATION, arn),
            ("example.com/other", "x"),
        ])));
        let a = accounts.get("ns", "s3-sync").unwrap();
        assert_eq!(
            (a.uid.as_str(), a.role_arn.as_deref(), a.audience.as_deref()),
            ("sa-uid", Some(arn), None)
        );
        assert_eq!(accounts.get("other", "s3-sync"), None);
        // An annotation too long to keep: the entry goes, and the
        // ServiceAccount is read when it is needed.
        let huge = "x".repeat(ANNOTATION_MAX + 1);
        writer.apply(&event(sa(&[(AUDIENCE_ANNOTATION, &huge)])));
        assert_eq!(accounts.get("ns", "s3-sync"), None);
    }

    #[test]
    fn session_names_fit_sts_limits() {
        let long = "n".repeat(80);
        let s = irsa_session_name(None, "analytics", &long);
        assert_eq!(s.len(), 64);
        assert!(s.starts_with("s3connection-analytics-"));
        assert_eq!(irsa_session_name(Some("custom"), "a", "b"), "custom");
        assert_eq!(irsa_session_name(None, "a", "sync"), "s3connection-a-sync");
    }

    #[test]
    fn the_operator_identity_names_the_namespace_in_session_and_external_id() {
        assert_eq!(external_id("c0ffee", "team-a"), "c0ffee:team-a");
        assert_eq!(
            operator_session_name(Some("custom"), &id("team-a", "b")),
            "s3c-team-a-custom"
        );
        assert_eq!(
            operator_session_name(None, &id("team-a", "conn")),
            "s3c-team-a-conn"
        );
        let long = operator_session_name(None, &id(&"n".repeat(63), "conn"));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("s3c-nnn"));
    }
}
