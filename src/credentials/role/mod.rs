//! IAM roles: IRSA (a ServiceAccount token of the connection's namespace,
//! exchanged with STS AssumeRoleWithWebIdentity) and, only when the operator
//! allows it, AssumeRole with the operator's own identity.
//!
//! Here: a connection's role resolved into credentials. What IRSA reads of
//! a ServiceAccount is in `service_account`, the STS web-identity exchange
//! and what STS failures mean in `sts`, session names and the ExternalId
//! in `names`.

mod names;
mod service_account;
mod sts;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;

pub use names::{external_id, irsa_session_name, kube_system_uid, operator_session_name};
pub use service_account::{
    AUDIENCE_ANNOTATION, Account, ROLE_ARN_ANNOTATION, ServiceAccounts, pick_role_arn,
};
pub use sts::exchange_web_identity;

use super::cache::believed_expiry;
use super::{Part, Redactor, ResolveError, Resolved, Resolver, SessionKey, check_value};
use crate::aws::S3Target;
use crate::aws::classify::{Op, attempt};
use crate::crd::ConnectionId;
use crate::error::{Error, within};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::{IrsaRole, OperatorRole};
use sts::sts_failed;

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
        let sts = self.aws.sts(target, None);
        // Per ServiceAccount, role and STS, not per connection: connections
        // sharing them share one session.
        let cache_key = SessionKey::Irsa {
            namespace: ns.to_string(),
            service_account: sa_name.to_string(),
            uid: account.uid.clone(),
            role_arn: role_arn.clone(),
            audience: audience.clone(),
            session: session.clone(),
            sts: sts.location.clone(),
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
        target: &S3Target,
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
            sts: target.sts_endpoint.clone().unwrap_or_default(),
        };
        if let Some(credentials) = self.cache.get(&cache_key, SystemTime::now()) {
            return Ok(Resolved::new(credentials, Some(cache_key), Some(role_arn)));
        }
        let sts = self
            .aws
            .operator_sts(target)
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
