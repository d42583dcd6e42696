//! Which permissions are proved allowed, denied or unverified, and that
//! nothing is left behind.

use super::*;
use crate::crd::Permission::*;
use crate::outcome::Reason;

#[tokio::test]
async fn full_access_proves_four_permissions_and_leaves_nothing() {
    let r = run_with(World::default(), &plan(&all())).await;
    let o = &r.out;
    assert_eq!(o.reason, Reason::Validated, "{}", o.message);
    for a in [ListBucket, GetObject, PutObject, DeleteObject] {
        assert_eq!(result(o, a), PermissionOutcome::Allowed, "{a}");
    }
    assert_eq!(result(o, ReplicateObject), PermissionOutcome::Unverified);
    assert_eq!(
        o.identity.as_deref(),
        Some("arn:aws:iam::123456789012:user/sync")
    );
    assert_eq!(o.bucket_region.as_deref(), Some("us-east-1"));
    assert!(o.authenticated && o.bucket_reached);
    assert!(o.leftover.is_none());
    let w = r.world.lock().unwrap();
    assert_eq!(w.writes, 1);
    assert!(
        w.objects.is_empty(),
        "probe object left behind: {:?}",
        w.objects.keys()
    );
    // Results come back in the requested order.
    let order: Vec<_> = o.permissions.iter().map(|p| p.permission).collect();
    assert_eq!(order, all());
}

#[tokio::test]
async fn prefix_scoped_credentials_need_no_head_bucket() {
    let r = run_with(world_denying(&["head"]), &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    assert_eq!(result(&r.out, PutObject), PermissionOutcome::Allowed);
    assert!(r.out.bucket_reached);
}

#[tokio::test]
async fn denied_put_is_permission_denied_and_get_is_proved_without_writing() {
    let r = run_with(world_denying(&["put"]), &plan(&all())).await;
    let o = &r.out;
    assert_eq!(o.reason, Reason::PermissionDenied);
    assert!(o.message.contains("s3:PutObject"), "{}", o.message);
    assert_eq!(result(o, PutObject), PermissionOutcome::Denied);
    assert_eq!(result(o, GetObject), PermissionOutcome::Allowed);
    assert_eq!(result(o, DeleteObject), PermissionOutcome::Unverified);
    let w = r.world.lock().unwrap();
    assert_eq!(w.writes, 0);
    assert!(
        w.delete_calls.is_empty(),
        "must not delete what it did not write"
    );
}

#[tokio::test]
async fn without_put_nothing_is_written_or_deleted() {
    let r = run_with(
        World::default(),
        &plan(&[ListBucket, GetObject, DeleteObject]),
    )
    .await;
    let o = &r.out;
    assert_eq!(o.reason, Reason::Validated);
    assert_eq!(result(o, GetObject), PermissionOutcome::Allowed);
    assert_eq!(result(o, DeleteObject), PermissionOutcome::Unverified);
    let w = r.world.lock().unwrap();
    assert_eq!(w.writes, 0);
    assert!(w.delete_calls.is_empty());
}

#[tokio::test]
async fn a_403_for_a_missing_key_without_list_proves_nothing() {
    let r = run_with(world_denying(&["list"]), &plan(&[ListBucket, GetObject])).await;
    assert_eq!(result(&r.out, ListBucket), PermissionOutcome::Denied);
    assert_eq!(result(&r.out, GetObject), PermissionOutcome::Unverified);
    assert_eq!(r.out.reason, Reason::PermissionDenied);

    // With listing allowed, the same 403 is a real denial.
    let r = run_with(world_denying(&["get"]), &plan(&[ListBucket, GetObject])).await;
    assert_eq!(result(&r.out, GetObject), PermissionOutcome::Denied);
}

#[tokio::test]
async fn everything_denied_is_access_denied() {
    let r = run_with(
        world_denying(&["head", "list", "get", "put", "delete"]),
        &plan(&all()),
    )
    .await;
    assert_eq!(r.out.reason, Reason::AccessDenied, "{}", r.out.message);
    assert!(r.out.message.contains("arn:aws:s3:::output"));
    assert!(
        r.out
            .message
            .ends_with(crate::messages::REQUESTER_PAYS_HINT),
        "{}",
        r.out.message
    );
    // A partial denial is a grant's, not Requester Pays'.
    let r = run_with(world_denying(&["get"]), &plan(&all())).await;
    assert!(
        !r.out.message.contains("requesterPays"),
        "{}",
        r.out.message
    );
}

#[tokio::test]
async fn the_policy_hint_is_in_the_buckets_partition() {
    let mut p = plan(&all());
    p.region = "cn-north-1".into();
    let world = World {
        bucket_region: "cn-north-1".into(),
        ..world_denying(&["head", "list", "get", "put", "delete"])
    };
    let r = run_with(world, &p).await;
    assert!(
        r.out.message.contains("arn:aws-cn:s3:::output/customers/*"),
        "{}",
        r.out.message
    );
}

#[tokio::test]
async fn stores_without_conditional_writes_get_no_probe_object() {
    let w = World {
        no_conditional_writes: true,
        ..Default::default()
    };
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(result(&r.out, PutObject), PermissionOutcome::Unverified);
    assert_eq!(r.world.lock().unwrap().writes, 0);
    assert_eq!(r.out.reason, Reason::Validated);
}

#[tokio::test]
async fn read_back_of_other_content_fails_with_its_own_reason_and_is_still_cleaned_up() {
    let p = plan(&all());
    let same_length = vec![b'x'; p.probe_body.len()];
    for corrupt in [b"something else".to_vec(), same_length] {
        let w = World {
            corrupt_reads: Some(corrupt),
            ..Default::default()
        };
        let r = run_with(w, &p).await;
        assert_eq!(
            r.out.reason,
            Reason::ProbeContentMismatch,
            "{}",
            r.out.message
        );
        assert_eq!(r.out.reason.severity(), crate::outcome::Severity::Definite);
        assert!(r.out.message.contains(KEY), "{}", r.out.message);
        assert_eq!(result(&r.out, GetObject), PermissionOutcome::Unverified);
        assert!(r.world.lock().unwrap().objects.is_empty());
    }
}
