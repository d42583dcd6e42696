//! An object already at the probe key: a leftover of this connection's,
//! removed only when its keyed marker proves it; anything else left alone
//! while the probe uses a fresh key. Deletes are conditional on the ETag,
//! with a checked plain delete where the store cannot do that.

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

/// The keys other than [`KEY`] in the world.
fn other_keys(w: &crate::testing::World) -> Vec<String> {
    w.objects.keys().filter(|k| *k != KEY).cloned().collect()
}

#[tokio::test]
async fn an_object_at_the_probe_key_without_our_marker_is_left_alone_and_another_key_used() {
    let forged = |uid: &str| {
        // What anyone who can write to the bucket could write before the
        // marker was keyed: the UID marker, and a MAC made up or signed
        // with another key.
        let mut m =
            std::collections::HashMap::from([(crate::probe::MARKER.to_string(), uid.to_string())]);
        let other = crate::probe::MarkerKeys::new(&[1; 32], None).unwrap();
        m.insert(
            crate::probe::MAC.to_string(),
            other.sign(uid, KEY, b"finance data"),
        );
        m
    };
    let metas = [
        None,
        Some(crate::testing::marker(
            &keys(),
            "another-connection",
            KEY,
            b"finance data",
        )),
        Some(std::collections::HashMap::from([(
            crate::probe::MARKER.to_string(),
            "uid-1".to_string(),
        )])),
        Some(forged("uid-1")),
        // Our MAC, copied onto other content.
        Some(crate::testing::marker(
            &keys(),
            "uid-1",
            KEY,
            b"what we wrote",
        )),
    ];
    for meta in metas {
        let w = world_with(World::default(), KEY, b"finance data", meta.clone());
        let r = run_with(w, &plan(&all())).await;
        assert_eq!(
            r.out.reason,
            Reason::Validated,
            "{meta:?}: {}",
            r.out.message
        );
        assert_eq!(result(&r.out, PutObject), PermissionOutcome::Allowed);
        assert_eq!(result(&r.out, GetObject), PermissionOutcome::Allowed);
        assert_eq!(result(&r.out, DeleteObject), PermissionOutcome::Allowed);
        assert!(r.out.leftover.is_none(), "not recorded as ours");
        let w = r.world.lock().unwrap();
        assert_eq!(
            w.objects.get(KEY).map(Vec::as_slice),
            Some(&b"finance data"[..]),
            "{meta:?}"
        );
        assert!(!w.delete_calls.iter().any(|k| k == KEY), "never deleted");
        assert!(other_keys(&w).is_empty(), "the probe at the other key went");
        assert_eq!(w.writes, 1);
        let used = w.delete_calls.first().expect("the probe was deleted");
        assert!(
            crate::probe::is_probe_key("customers/", crate::probe::PROBE_DIR, "uid-1", used),
            "{used}"
        );
        assert_ne!(used, KEY);
    }
}

#[tokio::test]
async fn an_object_replaced_between_reading_its_marker_and_deleting_is_left_alone() {
    let mut w = world_with_object(World::default(), b"ours, then theirs", Some("uid-1"));
    w.replaced_after_head = true;
    let r = run_with(w, &plan(&all())).await;
    assert!(r.world.lock().unwrap().objects.contains_key(KEY));
    assert!(r.world.lock().unwrap().plain_deletes.is_empty());
    // The probe object at the other key was "replaced" too: left alone,
    // not recorded as ours, DeleteObject unproved.
    assert_eq!(result(&r.out, DeleteObject), PermissionOutcome::Unverified);
    assert!(r.out.leftover.is_none());
}

#[tokio::test]
async fn the_probe_object_is_deleted_on_condition_of_the_etag_written() {
    let r = run_with(World::default(), &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    let w = r.world.lock().unwrap();
    assert!(w.objects.is_empty());
    assert_eq!(w.conditional_deletes, [KEY]);
    assert!(w.plain_deletes.is_empty());
}

#[tokio::test]
async fn without_conditional_deletes_or_etags_the_marker_is_checked_before_a_plain_delete() {
    for (no_conditional_deletes, no_etags) in [(true, false), (false, true), (true, true)] {
        let w = World {
            no_conditional_deletes,
            no_etags,
            ..Default::default()
        };
        let r = run_with(w, &plan(&all())).await;
        assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
        assert_eq!(result(&r.out, DeleteObject), PermissionOutcome::Allowed);
        let w = r.world.lock().unwrap();
        assert!(w.objects.is_empty());
        assert_eq!(w.plain_deletes, [KEY], "one plain delete, once checked");
    }
}

#[tokio::test]
async fn without_conditional_deletes_a_replaced_probe_object_is_left_alone() {
    // 501 to If-Match, and what the store now holds at the key is not what
    // was written: the check before the plain delete finds it is not ours.
    let w = World {
        no_conditional_deletes: true,
        corrupt_reads: Some(b"replaced by someone".to_vec()),
        ..Default::default()
    };
    let world = Arc::new(std::sync::Mutex::new(w));
    let p = plan(&[PutObject, DeleteObject]);
    let r = run_shared(&world, &p).await;
    assert_eq!(result(&r.out, DeleteObject), PermissionOutcome::Unverified);
    let w = r.world.lock().unwrap();
    assert!(w.plain_deletes.is_empty(), "nothing deleted unchecked");
    assert!(w.objects.contains_key(KEY));
}

#[tokio::test]
async fn stores_without_conditional_deletes_get_a_plain_delete_of_our_own_object() {
    let mut w = world_with_object(World::default(), b"ours", Some("uid-1"));
    w.no_conditional_deletes = true;
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    let w = r.world.lock().unwrap();
    assert_eq!(w.writes, 1);
    assert!(w.objects.is_empty());
    assert_eq!(w.plain_deletes, [KEY, KEY], "the leftover, then the probe");
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
