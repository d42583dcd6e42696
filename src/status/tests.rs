use super::conditions::{CondStatus, ConditionType, find};
use super::*;
use crate::crd::{AuthKind, Permission, PermissionOutcome};
use crate::outcome::{Leftover, PermissionCheck, Problem, Reason};
use crate::probe::Previous;
use jiff::Timestamp;

fn t(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

const GENERATION: Option<i64> = Some(3);

/// How long a proof stands in these tests: a day.
const REFRESH: Duration = Duration::from_secs(86_400);

fn build(
    generation: Option<i64>,
    old: &S3ConnectionStatus,
    o: &Outcome,
    now: &Time,
) -> S3ConnectionStatus {
    build_status(generation, old, o, now, REFRESH)
}

fn ok_outcome() -> Outcome {
    Outcome {
        reason: Reason::Validated,
        message: "fine".into(),
        auth: Some(AuthKind::AccessKey),
        external_id: None,
        requested_at: None,
        authenticated: true,
        bucket_reached: true,
        identity: Some("arn:aws:iam::123456789012:user/u".into()),
        bucket_region: Some("us-east-1".into()),
        permissions: vec![PermissionCheck {
            permission: Permission::ListBucket,
            result: PermissionOutcome::Allowed,
            message: String::new(),
            proved_at: None,
        }],
        leftover: None,
        usage: None,
        depth: Depth::Full,
    }
}

#[test]
fn status_from_validated_outcome() {
    let s = build(
        GENERATION,
        &S3ConnectionStatus::default(),
        &ok_outcome(),
        &t(100),
    );
    assert_eq!(s.observed_generation, Some(3));
    assert_eq!(s.auth.as_deref(), Some("AccessKey"));
    assert_eq!(
        s.identity.as_deref(),
        Some("arn:aws:iam::123456789012:user/u")
    );
    assert_eq!(s.conditions.len(), 5);
    assert!(
        s.conditions
            .iter()
            .all(|c| c.last_transition_time == t(100))
    );
}

#[test]
fn transient_outcome_keeps_what_was_proved() {
    let first = build(
        GENERATION,
        &S3ConnectionStatus::default(),
        &ok_outcome(),
        &t(100),
    );
    let down = Outcome::problem(Problem::new(Reason::EndpointUnreachable, "down"));
    let second = build(GENERATION, &first, &down, &t(200));
    assert_eq!(second.permissions, first.permissions);
    assert_eq!(second.identity, first.identity);
    assert_eq!(second.bucket_region, first.bucket_region);
    let ready = find(&second.conditions, ConditionType::Ready).unwrap();
    assert_eq!(ready.status, CondStatus::Unknown.as_str());
    assert_eq!(ready.last_transition_time, t(200));
}

#[test]
fn leftover_is_kept_in_status() {
    let mut o = ok_outcome();
    o.leftover = Some(Leftover {
        bucket: "b".into(),
        key: ".s3connection-probe/u1".into(),
        version: None,
    });
    let s = build(GENERATION, &S3ConnectionStatus::default(), &o, &t(1));
    assert_eq!(
        s.leftover_probe_object.as_deref(),
        Some(".s3connection-probe/u1")
    );
    assert_eq!(Previous::of(Some(&s), "u1").leftover, o.leftover);
    assert_eq!(Previous::of(Some(&s), "other-uid").leftover, None);
}

#[test]
fn fields_that_go_away_are_named_for_removal() {
    let old = S3ConnectionStatus {
        leftover_probe_object: Some("finance/ledger.csv".into()),
        leftover_probe_bucket: Some("b".into()),
        identity: Some("arn".into()),
        ..Default::default()
    };
    let new = S3ConnectionStatus {
        identity: Some("arn".into()),
        ..Default::default()
    };
    assert_eq!(
        stale_fields(&old, &new),
        ["leftoverProbeBucket", "leftoverProbeObject"]
    );
    // Every optional field by the name the API gives it.
    let full = S3ConnectionStatus {
        observed_generation: Some(1),
        auth: Some("AccessKey".into()),
        external_id: Some("c:ns".into()),
        identity: Some("arn".into()),
        bucket_region: Some("us-east-1".into()),
        permissions: vec![crate::crd::PermissionResult {
            action: "s3:ListBucket".into(),
            result: crate::crd::PermissionOutcome::Allowed,
            message: String::new(),
            last_proved: Some(t(1)),
        }],
        last_handled_requested_at: Some("now".into()),
        leftover_probe_object: Some("k".into()),
        leftover_probe_bucket: Some("b".into()),
        requests_per_day: Some(720),
        ..Default::default()
    };
    assert_eq!(
        stale_fields(&full, &S3ConnectionStatus::default()),
        [
            "auth",
            "bucketRegion",
            "externalId",
            "identity",
            "lastHandledRequestedAt",
            "leftoverProbeBucket",
            "leftoverProbeObject",
            "observedGeneration",
            "permissions",
            "requestsPerDay"
        ]
    );
    assert!(stale_fields(&new, &old).is_empty());
}

#[test]
fn an_unchanged_result_is_never_rewritten() {
    let first = build(
        GENERATION,
        &S3ConnectionStatus::default(),
        &ok_outcome(),
        &t(1000),
    );
    assert!(needs_write(&S3ConnectionStatus::default(), &first));
    // Within the refresh: the same result, nothing to write.
    for later in [1100, 1000 + 86_399] {
        let again = build(GENERATION, &first, &ok_outcome(), &t(later));
        assert!(!needs_write(&first, &again), "at {later}");
        assert_eq!(again, first, "not even a timestamp differs");
    }
    // Once a refresh later, one write moves when it was proved, and
    // nothing else.
    let refreshed = build(GENERATION, &first, &ok_outcome(), &t(1000 + 86_400));
    assert!(needs_write(&first, &refreshed));
    assert_eq!(refreshed.permissions[0].last_proved, Some(t(1000 + 86_400)));
    let mut moved = first.clone();
    moved.permissions[0].last_proved = Some(t(1000 + 86_400));
    assert_eq!(refreshed, moved);
    let mut changed = ok_outcome();
    changed.reason = Reason::PermissionDenied;
    let flipped = build(GENERATION, &first, &changed, &t(1010));
    assert!(needs_write(&first, &flipped));
    let mut worded = ok_outcome();
    worded.message = "fine, said differently".into();
    let reworded = build(GENERATION, &first, &worded, &t(1010));
    assert!(needs_write(&first, &reworded), "a new message is news");
    // Timestamps of unchanged conditions survive a rewrite.
    assert!(
        reworded
            .conditions
            .iter()
            .all(|c| c.last_transition_time == t(1000))
    );
    let next = build(Some(4), &first, &ok_outcome(), &t(1010));
    assert!(needs_write(&first, &next), "a new generation");
}

/// `requestsPerDay`: the S3 requests of the validation at its
/// interval; written when it changes, never because STS or IAM
/// requests did.
#[test]
fn requests_per_day_follow_each_validation_and_only_s3() {
    use crate::cost::{Requests, Tally, Usage, counting, sent};
    use std::time::Duration;
    let usage = |s3: &[&str], sts: usize, every: u64| {
        let t = std::sync::Arc::new(Tally::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(counting(t.clone(), async {
            s3.iter().for_each(|op| sent("S3", op));
            (0..sts).for_each(|_| sent("STS", "GetCallerIdentity"));
        }));
        Usage {
            requests: t.requests(),
            interval: Duration::from_secs(every),
            full_interval: Duration::from_secs(every),
            light: Default::default(),
        }
    };
    let probes = [
        "HeadBucket",
        "ListObjectsV2",
        "PutObject",
        "GetObject",
        "DeleteObject",
    ];
    let with = |u: Option<Usage>| Outcome {
        usage: u,
        ..ok_outcome()
    };
    let none = S3ConnectionStatus::default();
    let first = build(GENERATION, &none, &with(Some(usage(&probes, 1, 60))), &t(1));
    assert_eq!(first.requests_per_day, Some(5 * 1440));
    // The next validation finds the identity in the cache: one STS
    // request fewer, nothing to write.
    let next = build(
        GENERATION,
        &first,
        &with(Some(usage(&probes, 0, 60))),
        &t(2),
    );
    assert!(!needs_write(&first, &next));
    // A retried request is a request: written.
    let retried = [&probes[..], &["PutObject"]].concat();
    let more = build(
        GENERATION,
        &first,
        &with(Some(usage(&retried, 0, 60))),
        &t(3),
    );
    assert_eq!(more.requests_per_day, Some(6 * 1440));
    assert!(needs_write(&first, &more));
    // A transient failure reports what it sent, too.
    let down = Outcome {
        usage: Some(usage(&["HeadBucket"; 3], 0, 600)),
        ..Outcome::problem(Problem::new(Reason::EndpointUnreachable, "down"))
    };
    let unknown = build(GENERATION, &first, &down, &t(4));
    assert_eq!(unknown.requests_per_day, Some(3 * 144));
    // Nobody counted: what the status said stays.
    let uncounted = build(GENERATION, &first, &with(None), &t(5));
    assert_eq!(uncounted.requests_per_day, first.requests_per_day);
    assert_eq!(Requests::default().to(crate::cost::Service::S3), 0);
    // Suspended: none.
    assert_eq!(
        suspended_status(GENERATION, &first, &t(6)).requests_per_day,
        Some(0)
    );
}

#[test]
fn a_spec_edit_is_announced_once_and_a_new_object_not_at_all() {
    let none = S3ConnectionStatus::default();
    assert!(
        !announce_progress(&none, Some(1)),
        "a new object: one write"
    );
    let validated = build(Some(1), &none, &ok_outcome(), &t(10));
    assert!(!announce_progress(&validated, Some(1)), "a re-validation");
    assert!(announce_progress(&validated, Some(2)), "a spec edit");

    let validating = progressing_status(2, &validated, &t(20));
    assert!(!announce_progress(&validating, Some(2)), "already said");
    let ready = find(&validating.conditions, ConditionType::Ready).unwrap();
    assert_eq!(ready.status, CondStatus::Unknown.as_str());
    assert_eq!(ready.reason, "Progressing");
    assert_eq!(ready.observed_generation, Some(2));
    let reconciling = find(&validating.conditions, ConditionType::Reconciling).unwrap();
    assert_eq!(reconciling.status, CondStatus::True.as_str());
    assert_eq!(validating.observed_generation, Some(2));
    // What the last validation proved stays until this one is done.
    assert_eq!(validating.permissions, validated.permissions);
    assert_eq!(validating.identity, validated.identity);
}
