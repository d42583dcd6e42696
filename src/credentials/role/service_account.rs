//! What IRSA reads of a ServiceAccount (its uid, role and audience
//! annotations), the watch that keeps it, and the role ARN picked from it.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::ObjectMeta;

use crate::crd::rules::is_role_arn;
use crate::credentials::versions::{IndexWriter, Indexes};
use crate::messages;
use crate::outcome::Problem;
use crate::spec::IrsaRole;

/// The ServiceAccount annotation naming the role IRSA assumes.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The ServiceAccount annotation naming the token's audience.
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";

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
    /// Its audience for stores ([`crate::credentials::audience::STORE_AUDIENCE_ANNOTATION`]).
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
            store_audience: annotation(crate::credentials::audience::STORE_AUDIENCE_ANNOTATION),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;

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
}
