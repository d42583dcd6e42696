//! Conditions derived from an [`Outcome`], and merging them into the previous
//! status so `lastTransitionTime` only moves when a condition's status flips.
//! Pure functions: the caller passes the one timestamp of this validation.
//!
//! Besides the five conditions that describe the connection, three
//! "abnormal-true" ones follow the kstatus convention (present only while
//! True): `Reconciling` while a generation is being validated or a transient
//! problem is retried, `Stalled` on a definite failure (with Ready's reason
//! and message), `Suspended` while `spec.suspend` is set.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::{Condition, PermissionOutcome, Text};
use crate::outcome::{Check, Outcome, Reason, Severity};

/// The condition types this operator owns, in the order it writes them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::EnumString,
)]
pub enum ConditionType {
    Ready,
    Failed,
    Authenticated,
    BucketAccessible,
    PermissionsGranted,
    Reconciling,
    Stalled,
    Suspended,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a condition in a status is one of ours.
    pub fn owns(c: &Condition) -> bool {
        c.type_.parse::<ConditionType>().is_ok()
    }
}

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum CondStatus {
    True,
    False,
    Unknown,
}

impl CondStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

use CondStatus::{False, True, Unknown};
use ConditionType::*;

/// A condition without timestamps: what a validation decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub type_: ConditionType,
    pub status: CondStatus,
    pub reason: String,
    pub message: String,
    /// A condition kept from an earlier validation keeps the generation it
    /// described; `None` means the generation being written.
    pub kept_generation: Option<i64>,
}

fn desired(
    type_: ConditionType,
    status: CondStatus,
    reason: &str,
    message: impl Into<String>,
) -> Desired {
    Desired {
        type_,
        status,
        reason: reason.to_string(),
        message: message.into(),
        kept_generation: None,
    }
}

/// An existing condition of ours, kept as it is.
fn kept(c: &Condition, type_: ConditionType) -> Desired {
    Desired {
        type_,
        status: c.status.parse().unwrap_or(Unknown),
        reason: c.reason.to_string(),
        message: c.message.to_string(),
        kept_generation: c.observed_generation,
    }
}

/// The five conditions an outcome implies, in a fixed order.
pub fn from_outcome(o: &Outcome) -> Vec<Desired> {
    let (ready, failed) = ready_and_failed(o);
    let mut all = vec![
        ready,
        failed,
        authenticated(o),
        bucket_accessible(o),
        permissions_granted(o),
    ];
    let reason = o.reason.as_str();
    match o.reason.severity() {
        Severity::Transient => all.push(desired(Reconciling, True, reason, o.message.clone())),
        Severity::Definite => all.push(desired(Stalled, True, reason, o.message.clone())),
        Severity::Ok => {}
    }
    all
}

/// The reason of Ready while a new generation is being validated.
pub const PROGRESSING: &str = "Progressing";

/// Before a new generation is validated: Ready=Unknown and Reconciling=True
/// for it, the other conditions as they were (Stalled goes: it described the
/// previous generation).
pub fn progressing(existing: &[Condition], generation: i64) -> Vec<Desired> {
    let message = format!("Validating generation {generation}.");
    let mut all = vec![
        desired(Ready, Unknown, PROGRESSING, message.clone()),
        desired(Reconciling, True, PROGRESSING, message),
    ];
    for c in existing {
        if let Ok(t @ (Failed | Authenticated | BucketAccessible | PermissionsGranted)) =
            c.type_.parse::<ConditionType>()
        {
            all.push(kept(c, t))
        }
    }
    all
}

/// While `spec.suspend` is set: Suspended=True, the other conditions as they
/// were.
pub fn suspended(existing: &[Condition]) -> Vec<Desired> {
    let mut all = vec![desired(
        Suspended,
        True,
        "Suspended",
        "Validation is suspended (spec.suspend); the conditions below are from the last validation.",
    )];
    for c in existing {
        if let Ok(t) = c.type_.parse::<ConditionType>()
            && t != Suspended
        {
            all.push(kept(c, t));
        }
    }
    all
}

/// Reason and message of a check this validation did not get to: for a
/// transient problem "not known yet" with its reason, else "not checked".
fn not_reached(o: &Outcome, what: &str) -> (&'static str, String) {
    let reason = o.reason.as_str();
    if o.reason.severity() == Severity::Transient {
        (reason, format!("{what} not known yet: {}", o.message))
    } else {
        (
            "NotChecked",
            format!("{what} not checked because of {reason}."),
        )
    }
}

fn ready_and_failed(o: &Outcome) -> (Desired, Desired) {
    let reason = o.reason.as_str();
    match o.reason.severity() {
        Severity::Ok => (
            desired(Ready, True, reason, o.message.clone()),
            desired(Failed, False, reason, "No problem found."),
        ),
        Severity::Definite => (
            desired(Ready, False, reason, o.message.clone()),
            desired(Failed, True, reason, o.message.clone()),
        ),
        Severity::Transient => (
            desired(Ready, Unknown, reason, o.message.clone()),
            desired(Failed, Unknown, reason, o.message.clone()),
        ),
    }
}

fn authenticated(o: &Outcome) -> Desired {
    if o.authenticated {
        let msg = match &o.identity {
            Some(id) => format!("The credentials are valid; they belong to {id}."),
            None => "The credentials were accepted by S3.".to_string(),
        };
        desired(Authenticated, True, "CredentialsValid", msg)
    } else if o.reason.fails(Check::Credentials) {
        desired(Authenticated, False, o.reason.as_str(), o.message.clone())
    } else {
        let (reason, message) = not_reached(o, "Authentication");
        desired(Authenticated, Unknown, reason, message)
    }
}

fn bucket_accessible(o: &Outcome) -> Desired {
    if o.reason.fails(Check::Bucket) {
        desired(
            BucketAccessible,
            False,
            o.reason.as_str(),
            o.message.clone(),
        )
    } else if o.bucket_reached {
        let msg = match &o.bucket_region {
            Some(r) => format!("The bucket answers in region {r}."),
            None => "The bucket answers.".to_string(),
        };
        desired(BucketAccessible, True, "BucketReachable", msg)
    } else {
        let (reason, message) = not_reached(o, "Bucket access");
        desired(BucketAccessible, Unknown, reason, message)
    }
}

fn permissions_granted(o: &Outcome) -> Desired {
    let denied = o.actions_with(PermissionOutcome::Denied);
    let unverified = o.actions_with(PermissionOutcome::Unverified);
    if o.permissions.is_empty() || o.reason.severity() == Severity::Transient {
        let (reason, message) = not_reached(o, "Permissions");
        desired(PermissionsGranted, Unknown, reason, message)
    } else if !denied.is_empty() {
        let reason = if o.reason == Reason::AccessDenied {
            Reason::AccessDenied
        } else {
            Reason::PermissionDenied
        };
        desired(
            PermissionsGranted,
            False,
            reason.as_str(),
            format!("Denied: {}.", denied.join(", ")),
        )
    } else if !unverified.is_empty() {
        desired(
            PermissionsGranted,
            Unknown,
            "Unverified",
            format!(
                "Could not be proved either way: {}. See status.permissions for why.",
                unverified.join(", ")
            ),
        )
    } else {
        desired(
            PermissionsGranted,
            True,
            "AllAllowed",
            "Every requested permission was proved by a real request.",
        )
    }
}

/// Merge desired conditions into the existing ones: a condition whose status
/// did not change keeps its `lastTransitionTime`. Conditions of other types
/// belong to whoever wrote them: they are not returned, and server-side apply
/// leaves them in place.
pub fn merge(
    existing: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = desired
        .iter()
        .map(|d| {
            let old = find(existing, d.type_);
            let last_transition_time = match old {
                Some(c) if c.status == d.status.as_str() => c.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: Text::word(d.type_.as_str()),
                status: Text::word(d.status.as_str()),
                reason: Text::word(&d.reason),
                message: Text::from(d.message.as_str()),
                observed_generation: d.kept_generation.or(generation),
                last_transition_time,
            }
        })
        .collect();
    crate::crd::condition::share_messages(&mut merged);
    merged
}

/// Our conditions compared without their timestamps.
pub fn same_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    let ours = |c: &&Condition| ConditionType::owns(c);
    let a: Vec<&Condition> = a.iter().filter(ours).collect();
    let b: Vec<&Condition> = b.iter().filter(ours).collect();
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter().any(|y| {
                x.type_ == y.type_
                    && x.status == y.status
                    && x.reason == y.reason
                    && x.message == y.message
                    && x.observed_generation == y.observed_generation
            })
        })
}

pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// The status of a condition, if present and well-formed.
pub fn status_of(conditions: &[Condition], type_: ConditionType) -> Option<CondStatus> {
    find(conditions, type_).and_then(|c| c.status.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Permission;
    use crate::outcome::{PermissionCheck, Problem};

    fn t(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn perm(action: &str, result: PermissionOutcome) -> PermissionCheck {
        PermissionCheck {
            permission: action.parse::<Permission>().unwrap(),
            result,
            message: String::new(),
        }
    }

    fn validated(perms: Vec<PermissionCheck>) -> Outcome {
        Outcome {
            reason: Reason::Validated,
            message: "ok".into(),
            auth: None,
            external_id: None,
            requested_at: None,
            authenticated: true,
            bucket_reached: true,
            identity: Some("arn:aws:iam::123456789012:user/sync".into()),
            bucket_region: Some("us-west-1".into()),
            permissions: perms,
            leftover: None,
        }
    }

    fn by_type(d: &[Desired], t: ConditionType) -> &Desired {
        d.iter().find(|x| x.type_ == t).unwrap()
    }

    #[test]
    fn validated_with_unverified_is_ready_but_permissions_unknown() {
        let d = from_outcome(&validated(vec![
            perm("s3:ListBucket", PermissionOutcome::Allowed),
            perm("s3:ReplicateObject", PermissionOutcome::Unverified),
        ]));
        assert_eq!(by_type(&d, Ready).status, True);
        assert_eq!(by_type(&d, Ready).reason, "Validated");
        assert_eq!(by_type(&d, Failed).status, False);
        assert_eq!(by_type(&d, Authenticated).status, True);
        assert_eq!(by_type(&d, BucketAccessible).status, True);
        let p = by_type(&d, PermissionsGranted);
        assert_eq!(p.status, Unknown);
        assert!(p.message.contains("s3:ReplicateObject"));
    }

    #[test]
    fn all_allowed_grants_permissions() {
        let d = from_outcome(&validated(vec![perm(
            "s3:ListBucket",
            PermissionOutcome::Allowed,
        )]));
        assert_eq!(by_type(&d, PermissionsGranted).status, True);
    }

    #[test]
    fn definite_problems_set_ready_false_and_failed_true_with_same_reason() {
        for reason in Reason::all() {
            if reason.severity() != Severity::Definite {
                continue;
            }
            let d = from_outcome(&Outcome::problem(Problem::new(reason, "msg")));
            assert_eq!(by_type(&d, Ready).status, False, "{reason}");
            assert_eq!(by_type(&d, Failed).status, True, "{reason}");
            assert_eq!(by_type(&d, Ready).reason, reason.as_str());
            assert_eq!(by_type(&d, Failed).reason, reason.as_str());
        }
    }

    #[test]
    fn credential_problems_fail_authenticated_bucket_problems_fail_bucket() {
        let d = from_outcome(&Outcome::problem(Problem::new(Reason::SecretNotFound, "m")));
        assert_eq!(by_type(&d, Authenticated).status, False);
        assert_eq!(by_type(&d, BucketAccessible).status, Unknown);
        assert_eq!(by_type(&d, BucketAccessible).reason, "NotChecked");
        let mut o = Outcome::problem(Problem::new(Reason::BucketNotFound, "m"));
        o.authenticated = true;
        let d = from_outcome(&o);
        assert_eq!(by_type(&d, Authenticated).status, True);
        assert_eq!(by_type(&d, BucketAccessible).status, False);
        let d = from_outcome(&Outcome::problem(Problem::new(Reason::InvalidSpec, "m")));
        assert_eq!(by_type(&d, Authenticated).status, Unknown);
    }

    #[test]
    fn permission_denied_lists_actions() {
        let mut o = validated(vec![
            perm("s3:ListBucket", PermissionOutcome::Allowed),
            perm("s3:PutObject", PermissionOutcome::Denied),
        ]);
        o.reason = Reason::PermissionDenied;
        let d = from_outcome(&o);
        assert_eq!(by_type(&d, Ready).status, False);
        let p = by_type(&d, PermissionsGranted);
        assert_eq!(p.status, False);
        assert_eq!(p.reason, "PermissionDenied");
        assert!(p.message.contains("s3:PutObject"));
    }

    #[test]
    fn transient_problems_are_unknown() {
        let d = from_outcome(&Outcome::problem(Problem::new(
            Reason::EndpointUnreachable,
            "down",
        )));
        for c in &d {
            // Reconciling is True while it is retried (kstatus: in progress).
            let want = if c.type_ == Reconciling {
                True
            } else {
                Unknown
            };
            assert_eq!(c.status, want, "{:?}", c.type_);
            assert_eq!(c.reason, "EndpointUnreachable");
        }
        assert!(d.iter().all(|c| c.type_ != Stalled));
    }

    #[test]
    fn definite_problems_stall_with_readys_reason_and_successes_do_neither() {
        let d = from_outcome(&Outcome::problem(Problem::new(
            Reason::BucketNotFound,
            "gone",
        )));
        let stalled = by_type(&d, Stalled);
        assert_eq!(stalled.status, True);
        assert_eq!(stalled.reason, "BucketNotFound");
        assert_eq!(stalled.message, "gone");
        assert!(d.iter().all(|c| c.type_ != Reconciling));
        let ok = from_outcome(&validated(vec![]));
        assert!(
            ok.iter()
                .all(|c| c.type_ != Reconciling && c.type_ != Stalled)
        );
        assert_eq!(ok.len(), 5);
    }

    #[test]
    fn progressing_keeps_the_rest_with_their_generation_and_drops_stalled() {
        let before = merge(
            &[],
            &from_outcome(&Outcome::problem(Problem::new(
                Reason::BucketNotFound,
                "gone",
            ))),
            Some(2),
            &t(100),
        );
        let during = merge(&before, &progressing(&before, 3), Some(3), &t(200));
        let ready = find(&during, Ready).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("Unknown", PROGRESSING)
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(find(&during, Reconciling).unwrap().status, "True");
        assert!(find(&during, Stalled).is_none());
        let failed = find(&during, Failed).unwrap();
        assert_eq!(
            failed.observed_generation,
            Some(2),
            "kept, for generation 2"
        );
        assert_eq!(failed.last_transition_time, t(100));
    }

    #[test]
    fn suspended_keeps_every_other_condition() {
        let before = merge(&[], &from_outcome(&validated(vec![])), Some(1), &t(1));
        let during = merge(&before, &suspended(&before), Some(2), &t(5));
        assert_eq!(find(&during, Suspended).unwrap().status, "True");
        assert_eq!(find(&during, Ready).unwrap().status, "True");
        assert_eq!(find(&during, Ready).unwrap().observed_generation, Some(1));
        assert_eq!(during.len(), 6);
    }

    #[test]
    fn merge_keeps_transition_time_when_status_unchanged() {
        let d1 = from_outcome(&validated(vec![perm(
            "s3:ListBucket",
            PermissionOutcome::Allowed,
        )]));
        let first = merge(&[], &d1, Some(1), &t(100));
        assert!(first.iter().all(|c| c.last_transition_time == t(100)));

        // Same statuses, new message: times stay.
        let mut o = validated(vec![perm("s3:ListBucket", PermissionOutcome::Allowed)]);
        o.message = "other".into();
        let second = merge(&first, &from_outcome(&o), Some(2), &t(200));
        assert!(second.iter().all(|c| c.last_transition_time == t(100)));
        assert_eq!(find(&second, Ready).unwrap().observed_generation, Some(2));

        // Ready flips: only flipped conditions move.
        let third = merge(
            &second,
            &from_outcome(&Outcome::problem(Problem::new(
                Reason::EndpointUnreachable,
                "x",
            ))),
            Some(2),
            &t(300),
        );
        assert_eq!(find(&third, Ready).unwrap().last_transition_time, t(300));
        assert_eq!(find(&third, Failed).unwrap().last_transition_time, t(300));
    }

    #[test]
    fn merge_leaves_foreign_conditions_to_their_owners() {
        let foreign = Condition {
            type_: "Custom".into(),
            status: "True".into(),
            reason: "X".into(),
            message: "".into(),
            observed_generation: None,
            last_transition_time: t(1),
        };
        let out = merge(
            std::slice::from_ref(&foreign),
            &from_outcome(&validated(vec![])),
            None,
            &t(5),
        );
        assert!(!out.contains(&foreign));
        assert_eq!(out.len(), 5);
        let mut with_foreign = out.clone();
        with_foreign.push(foreign);
        assert!(same_ignoring_time(&out, &with_foreign));
    }

    #[test]
    fn comparison_ignores_timestamps_only() {
        let d = from_outcome(&validated(vec![]));
        let a = merge(&[], &d, Some(1), &t(1));
        let b = merge(&[], &d, Some(1), &t(2));
        assert!(same_ignoring_time(&a, &b));
        let c = merge(&[], &d, Some(2), &t(1));
        assert!(!same_ignoring_time(&a, &c));
    }
}
