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
        proved_at: None,
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
        usage: None,
        depth: Default::default(),
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
        ("Unknown", ConditionReason::Progressing.as_str())
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
