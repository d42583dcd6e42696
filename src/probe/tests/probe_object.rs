//! An object already at the probe key: a leftover of this connection's,
//! removed only when its marker says so; anything else left alone.

use std::sync::Arc;

use super::*;
use crate::crd::Permission::*;
use crate::outcome::Reason;

#[tokio::test]
async fn denied_delete_leaves_one_object_and_blocks_further_writes() {
    let world = Arc::new(std::sync::Mutex::new(world_denying(&["delete"])));
    let p = plan(&all());
    let first = run_shared(&world, &p).await.out;
    assert_eq!(first.reason, Reason::PermissionDenied);
    assert_eq!(result(&first, DeleteObject), PermissionOutcome::Denied);
    let leftover = first.leftover.clone().expect("leftover recorded");
    assert_eq!(leftover.key, KEY);
    assert_eq!(leftover.bucket, "output");
    assert!(first.message.contains(KEY));
    assert_eq!(world.lock().unwrap().writes, 1);

    // The next validation retries the delete, writes nothing new.
    let mut p2 = p.clone();
    p2.leftover = Some(leftover.clone());
    p2.previous = first.permissions.clone();
    let second = run_shared(&world, &p2).await.out;
    assert_eq!(second.leftover, Some(leftover.clone()));
    assert_eq!(result(&second, DeleteObject), PermissionOutcome::Denied);
    assert_eq!(
        result(&second, PutObject),
        PermissionOutcome::Allowed,
        "carried over"
    );
    assert_eq!(world.lock().unwrap().writes, 1, "no second probe object");
    assert_eq!(world.lock().unwrap().objects.len(), 1);

    // Once deleting is allowed, the leftover goes and a fresh probe runs.
    world.lock().unwrap().deny.clear();
    let third = run_shared(&world, &p2).await.out;
    assert_eq!(third.reason, Reason::Validated, "{}", third.message);
    assert!(third.leftover.is_none());
    let w = world.lock().unwrap();
    assert!(w.objects.is_empty());
    assert_eq!(w.writes, 2);
}

#[tokio::test]
async fn our_own_object_at_the_probe_key_is_replaced_only_after_deleting_it() {
    let w = world_with_object(World::default(), b"from a crashed run", Some("uid-1"));
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    let w = r.world.lock().unwrap();
    assert!(w.objects.is_empty());
    assert_eq!(w.writes, 1);
    assert_eq!(
        w.conditional_deletes.first().map(String::as_str),
        Some(KEY),
        "the delete was conditional on the ETag that was read"
    );
}

#[tokio::test]
async fn an_object_at_the_probe_key_without_our_marker_is_left_alone() {
    for marker in [None, Some("another-connection")] {
        let w = world_with_object(World::default(), b"finance data", marker);
        let r = run_with(w, &plan(&all())).await;
        assert_eq!(r.out.reason, Reason::ProbeKeyInUse, "{}", r.out.message);
        assert!(r.out.message.contains(KEY), "{}", r.out.message);
        assert_eq!(result(&r.out, PutObject), PermissionOutcome::Unverified);
        assert_eq!(result(&r.out, ListBucket), PermissionOutcome::Allowed);
        assert!(r.out.leftover.is_none(), "not recorded as ours");
        let w = r.world.lock().unwrap();
        assert_eq!(
            w.objects.get(KEY).map(Vec::as_slice),
            Some(&b"finance data"[..])
        );
        assert!(w.delete_calls.is_empty(), "never deleted");
        assert_eq!(w.writes, 0);
    }
}

#[tokio::test]
async fn an_object_replaced_between_reading_its_marker_and_deleting_is_left_alone() {
    let mut w = world_with_object(World::default(), b"ours, then theirs", Some("uid-1"));
    w.replaced_after_head = true;
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::ProbeKeyInUse, "{}", r.out.message);
    assert!(r.world.lock().unwrap().objects.contains_key(KEY));
}

#[tokio::test]
async fn stores_without_conditional_deletes_get_a_plain_delete_of_our_own_object() {
    let mut w = world_with_object(World::default(), b"ours", Some("uid-1"));
    w.no_conditional_deletes = true;
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    assert_eq!(r.world.lock().unwrap().writes, 1);
}

#[tokio::test]
async fn an_unreadable_marker_keeps_the_object_and_writes_nothing() {
    // Without s3:GetObject the marker cannot be read: nothing is deleted.
    let w = world_with_object(world_denying(&["get"]), b"unknown", Some("uid-1"));
    let r = run_with(w, &plan(&all())).await;
    let w = r.world.lock().unwrap();
    assert!(w.objects.contains_key(KEY));
    assert!(w.delete_calls.is_empty());
    assert_eq!(w.writes, 0);
    assert_eq!(r.out.reason, Reason::PermissionDenied, "{}", r.out.message);
}

#[tokio::test]
async fn an_undeletable_object_at_the_probe_key_becomes_the_leftover() {
    let w = world_with_object(world_denying(&["delete"]), b"old", Some("uid-1"));
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.leftover.as_ref().map(|l| l.key.as_str()), Some(KEY));
    assert_eq!(result(&r.out, DeleteObject), PermissionOutcome::Denied);
    assert_eq!(r.world.lock().unwrap().writes, 0);
}
