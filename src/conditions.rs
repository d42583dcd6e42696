//! Conditions derived from an [`Outcome`], and merging them into the previous
//! status so `lastTransitionTime` only moves when a condition's status flips.
//! Pure functions: the caller passes the one timestamp of this validation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::PermissionOutcome;
use crate::outcome::{Outcome, Reason, Severity, Stage};

pub const READY: &str = "Ready";
pub const FAILED: &str = "Failed";
pub const AUTHENTICATED: &str = "Authenticated";
pub const BUCKET_ACCESSIBLE: &str = "BucketAccessible";
pub const PERMISSIONS_GRANTED: &str = "PermissionsGranted";

pub const TYPES: [&str; 5] = [
    READY,
    FAILED,
    AUTHENTICATED,
    BUCKET_ACCESSIBLE,
    PERMISSIONS_GRANTED,
];

/// A condition without timestamps: what a validation decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

fn desired(
    type_: &'static str,
    status: &'static str,
    reason: &str,
    message: impl Into<String>,
) -> Desired {
    Desired {
        type_,
        status,
        reason: reason.to_string(),
        message: message.into(),
    }
}

const TRUE: &str = "True";
const FALSE: &str = "False";
const UNKNOWN: &str = "Unknown";

/// The five conditions an outcome implies, in a fixed order.
pub fn from_outcome(o: &Outcome) -> Vec<Desired> {
    let reason = o.reason.as_str();
    let severity = o.reason.severity();
    let stage = o.reason.stage();
    let not_checked = |what: &str| {
        if severity == Severity::Transient {
            format!("{what} not known yet: {}", o.message)
        } else {
            format!("{what} not checked because of {reason}.")
        }
    };
    let unknown_reason = if severity == Severity::Transient {
        reason
    } else {
        "NotChecked"
    };

    let (ready, failed) = match severity {
        Severity::Ok => (
            desired(READY, TRUE, reason, o.message.clone()),
            desired(FAILED, FALSE, reason, "No problem found."),
        ),
        Severity::Definite => (
            desired(READY, FALSE, reason, o.message.clone()),
            desired(FAILED, TRUE, reason, o.message.clone()),
        ),
        Severity::Transient => (
            desired(READY, UNKNOWN, reason, o.message.clone()),
            desired(FAILED, UNKNOWN, reason, o.message.clone()),
        ),
    };

    let authenticated = if o.authenticated {
        let msg = match &o.identity {
            Some(id) => format!("The credentials are valid; they belong to {id}."),
            None => "The credentials were accepted by S3.".to_string(),
        };
        desired(AUTHENTICATED, TRUE, "CredentialsValid", msg)
    } else if severity == Severity::Definite && stage <= Stage::Credentials && stage != Stage::Spec
    {
        desired(AUTHENTICATED, FALSE, reason, o.message.clone())
    } else {
        desired(
            AUTHENTICATED,
            UNKNOWN,
            unknown_reason,
            not_checked("Authentication"),
        )
    };

    let bucket = if severity == Severity::Definite && stage == Stage::Bucket {
        desired(BUCKET_ACCESSIBLE, FALSE, reason, o.message.clone())
    } else if o.bucket_reached {
        let msg = match &o.bucket_region {
            Some(r) => format!("The bucket answers in region {r}."),
            None => "The bucket answers.".to_string(),
        };
        desired(BUCKET_ACCESSIBLE, TRUE, "BucketReachable", msg)
    } else {
        desired(
            BUCKET_ACCESSIBLE,
            UNKNOWN,
            unknown_reason,
            not_checked("Bucket access"),
        )
    };

    let denied = o.actions_with(PermissionOutcome::Denied);
    let unverified = o.actions_with(PermissionOutcome::Unverified);
    let perms = if o.permissions.is_empty() || severity == Severity::Transient {
        desired(
            PERMISSIONS_GRANTED,
            UNKNOWN,
            unknown_reason,
            not_checked("Permissions"),
        )
    } else if !denied.is_empty() {
        let reason = if o.reason == Reason::AccessDenied {
            Reason::AccessDenied
        } else {
            Reason::PermissionDenied
        };
        desired(
            PERMISSIONS_GRANTED,
            FALSE,
            reason.as_str(),
            format!("Denied: {}.", denied.join(", ")),
        )
    } else if !unverified.is_empty() {
        desired(
            PERMISSIONS_GRANTED,
            UNKNOWN,
            "Unverified",
            format!(
                "Could not be proved either way: {}. See status.permissions for why.",
                unverified.join(", ")
            ),
        )
    } else {
        desired(
            PERMISSIONS_GRANTED,
            TRUE,
            "AllAllowed",
            "Every requested permission was proved by a real request.",
        )
    };

    vec![ready, failed, authenticated, bucket, perms]
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
    desired
        .iter()
        .map(|d| {
            let old = existing.iter().find(|c| c.type_ == d.type_);
            let last_transition_time = match old {
                Some(c) if c.status == d.status => c.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: d.type_.to_string(),
                status: d.status.to_string(),
                reason: d.reason.clone(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// Our conditions compared without their timestamps.
pub fn same_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    let ours = |c: &&Condition| TYPES.contains(&c.type_.as_str());
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

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PermissionResult;
    use crate::outcome::Problem;

    fn t(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn perm(action: &str, result: PermissionOutcome) -> PermissionResult {
        PermissionResult {
            action: action.into(),
            result,
            message: String::new(),
        }
    }

    fn validated(perms: Vec<PermissionResult>) -> Outcome {
        Outcome {
            reason: Reason::Validated,
            message: "ok".into(),
            authenticated: true,
            bucket_reached: true,
            identity: Some("arn:aws:iam::123456789012:user/sync".into()),
            bucket_region: Some("us-west-1".into()),
            permissions: perms,
            leftover: None,
        }
    }

    fn by_type<'a>(d: &'a [Desired], t: &str) -> &'a Desired {
        d.iter().find(|x| x.type_ == t).unwrap()
    }

    #[test]
    fn validated_with_unverified_is_ready_but_permissions_unknown() {
        let d = from_outcome(&validated(vec![
            perm("s3:ListBucket", PermissionOutcome::Allowed),
            perm("s3:ReplicateObject", PermissionOutcome::Unverified),
        ]));
        assert_eq!(by_type(&d, READY).status, "True");
        assert_eq!(by_type(&d, READY).reason, "Validated");
        assert_eq!(by_type(&d, FAILED).status, "False");
        assert_eq!(by_type(&d, AUTHENTICATED).status, "True");
        assert_eq!(by_type(&d, BUCKET_ACCESSIBLE).status, "True");
        let p = by_type(&d, PERMISSIONS_GRANTED);
        assert_eq!(p.status, "Unknown");
        assert!(p.message.contains("s3:ReplicateObject"));
    }

    #[test]
    fn all_allowed_grants_permissions() {
        let d = from_outcome(&validated(vec![perm(
            "s3:ListBucket",
            PermissionOutcome::Allowed,
        )]));
        assert_eq!(by_type(&d, PERMISSIONS_GRANTED).status, "True");
    }

    #[test]
    fn definite_problems_set_ready_false_and_failed_true_with_same_reason() {
        for reason in Reason::ALL {
            if reason.severity() != Severity::Definite {
                continue;
            }
            let d = from_outcome(&Outcome::problem(Problem::new(reason, "msg")));
            assert_eq!(by_type(&d, READY).status, "False", "{reason}");
            assert_eq!(by_type(&d, FAILED).status, "True", "{reason}");
            assert_eq!(by_type(&d, READY).reason, reason.as_str());
            assert_eq!(by_type(&d, FAILED).reason, reason.as_str());
        }
    }

    #[test]
    fn credential_problems_fail_authenticated_bucket_problems_fail_bucket() {
        let d = from_outcome(&Outcome::problem(Problem::new(Reason::SecretNotFound, "m")));
        assert_eq!(by_type(&d, AUTHENTICATED).status, "False");
        assert_eq!(by_type(&d, BUCKET_ACCESSIBLE).status, "Unknown");
        assert_eq!(by_type(&d, BUCKET_ACCESSIBLE).reason, "NotChecked");
        let mut o = Outcome::problem(Problem::new(Reason::BucketNotFound, "m"));
        o.authenticated = true;
        let d = from_outcome(&o);
        assert_eq!(by_type(&d, AUTHENTICATED).status, "True");
        assert_eq!(by_type(&d, BUCKET_ACCESSIBLE).status, "False");
        let d = from_outcome(&Outcome::problem(Problem::new(Reason::InvalidSpec, "m")));
        assert_eq!(by_type(&d, AUTHENTICATED).status, "Unknown");
    }

    #[test]
    fn permission_denied_lists_actions() {
        let mut o = validated(vec![
            perm("s3:ListBucket", PermissionOutcome::Allowed),
            perm("s3:PutObject", PermissionOutcome::Denied),
        ]);
        o.reason = Reason::PermissionDenied;
        let d = from_outcome(&o);
        assert_eq!(by_type(&d, READY).status, "False");
        let p = by_type(&d, PERMISSIONS_GRANTED);
        assert_eq!(p.status, "False");
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
            assert_eq!(c.status, "Unknown", "{}", c.type_);
            assert_eq!(c.reason, "EndpointUnreachable");
        }
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
        assert_eq!(find(&second, READY).unwrap().observed_generation, Some(2));

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
        assert_eq!(find(&third, READY).unwrap().last_transition_time, t(300));
        assert_eq!(find(&third, FAILED).unwrap().last_transition_time, t(300));
    }

    #[test]
    fn merge_leaves_foreign_conditions_to_their_owners() {
        let foreign = Condition {
            type_: "Custom".into(),
            status: "True".into(),
            reason: "X".into(),
            message: String::new(),
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
