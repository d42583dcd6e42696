//! Buckets with rules (`spec.probe`): a read-only check writes nothing,
//! Requester Pays and encryption a bucket policy requires are sent when
//! the spec says so, and a correct grant then reads as allowed.

use super::*;
use crate::crd::Permission::*;
use crate::messages;
use crate::outcome::Reason;
use crate::spec::{Checksum, Encryption, ProbeOptions};

fn with_probe(probe: ProbeOptions) -> Plan {
    Plan {
        probe,
        ..plan(&all())
    }
}

#[tokio::test]
async fn a_read_only_check_writes_and_deletes_nothing() {
    let read_only = with_probe(ProbeOptions {
        read_only: true,
        ..Default::default()
    });
    let r = run_with(World::default(), &read_only).await;
    let o = &r.out;
    assert_eq!(o.reason, Reason::Validated, "{}", o.message);
    assert_eq!(result(o, ListBucket), PermissionOutcome::Allowed);
    assert_eq!(result(o, GetObject), PermissionOutcome::Allowed);
    for a in [PutObject, DeleteObject] {
        assert_eq!(result(o, a), PermissionOutcome::Unverified, "{a}");
        let m = &o
            .permissions
            .iter()
            .find(|p| p.permission == a)
            .unwrap()
            .message;
        assert_eq!(m, messages::READ_ONLY);
    }
    let w = r.world.lock().unwrap();
    assert_eq!(w.writes, 0);
    assert!(w.delete_calls.is_empty(), "{:?}", w.delete_calls);
}

#[tokio::test]
async fn a_requester_pays_bucket_is_reached_only_when_the_spec_says_so() {
    let world = || World {
        requester_pays: true,
        ..World::default()
    };
    // Without the header S3 refuses like a missing grant: the false answer
    // the setting exists for.
    let r = run_with(world(), &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::PermissionDenied, "{}", r.out.message);
    assert_eq!(result(&r.out, ListBucket), PermissionOutcome::Denied);
    let paying = with_probe(ProbeOptions {
        requester_pays: true,
        ..Default::default()
    });
    let r = run_with(world(), &paying).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    for a in [ListBucket, GetObject, PutObject, DeleteObject] {
        assert_eq!(result(&r.out, a), PermissionOutcome::Allowed, "{a}");
    }
}

#[tokio::test]
async fn encryption_a_bucket_policy_requires_is_sent_when_the_spec_names_it() {
    let world = || World {
        required_encryption: Some("aws:kms".into()),
        ..World::default()
    };
    let r = run_with(world(), &plan(&all())).await;
    assert_eq!(result(&r.out, PutObject), PermissionOutcome::Denied);
    assert!(
        r.out.message.ends_with(messages::ENCRYPTION_HINT),
        "{}",
        r.out.message
    );
    let encrypted = with_probe(ProbeOptions {
        encryption: Some(Encryption::Kms),
        kms_key_id: Some("alias/data".into()),
        checksum: Some(Checksum::Sha256),
        ..Default::default()
    });
    let r = run_with(world(), &encrypted).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    assert_eq!(result(&r.out, PutObject), PermissionOutcome::Allowed);
    let w = r.world.lock().unwrap();
    assert_eq!(w.put_checksums, vec![Some("SHA256".to_string())]);
    assert!(w.objects.is_empty());
}

const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kms_world(op: &'static str, code: &str, message: String) -> World {
    World {
        kms_refuses: Some((op, code.into(), message)),
        ..World::default()
    }
}

#[tokio::test]
async fn a_kms_refusal_names_the_action_and_key_and_is_no_s3_denial() {
    let encrypted = with_probe(ProbeOptions {
        encryption: Some(Encryption::Kms),
        kms_key_id: Some(KEY_ARN.into()),
        ..Default::default()
    });
    let not_authorized = |action: &str| {
        format!(
            "User: arn:aws:iam::123456789012:user/sync is not authorized to perform: {action} on resource: {KEY_ARN} because no identity-based policy allows the {action} action"
        )
    };
    // Writing: no data key.
    let w = kms_world("put", "AccessDenied", not_authorized("kms:GenerateDataKey"));
    let r = run_with(w, &encrypted).await;
    let o = &r.out;
    assert_eq!(o.reason, Reason::KmsAccessDenied, "{}", o.message);
    assert!(
        o.message.contains("kms:GenerateDataKey") && o.message.contains(KEY_ARN),
        "{}",
        o.message
    );
    assert_eq!(result(o, PutObject), PermissionOutcome::Unverified);
    assert_eq!(result(o, ListBucket), PermissionOutcome::Allowed);
    assert!(
        o.permissions
            .iter()
            .all(|p| p.result != PermissionOutcome::Denied),
        "{:?}",
        o.permissions
    );
    // Reading back: no decryption. The object written is still deleted.
    let w = kms_world("get", "AccessDenied", not_authorized("kms:Decrypt"));
    let r = run_with(w, &encrypted).await;
    assert_eq!(r.out.reason, Reason::KmsAccessDenied, "{}", r.out.message);
    assert!(r.out.message.contains("kms:Decrypt"), "{}", r.out.message);
    assert_eq!(result(&r.out, GetObject), PermissionOutcome::Unverified);
    assert_eq!(result(&r.out, PutObject), PermissionOutcome::Allowed);
    assert!(r.world.lock().unwrap().objects.is_empty());
    // A key that cannot be used at all.
    let w = kms_world("put", "KMS.DisabledException", "key is disabled".into());
    let r = run_with(w, &encrypted).await;
    assert_eq!(r.out.reason, Reason::KmsAccessDenied, "{}", r.out.message);
    assert!(
        r.out.message.contains("KMS.DisabledException"),
        "{}",
        r.out.message
    );
}

#[tokio::test]
async fn an_object_lock_retains_at_most_one_probe_version_at_a_time() {
    let world = World {
        object_lock: true,
        retention_running: true,
        ..World::default()
    };
    let first = run_with(world, &plan(&all())).await;
    let o = &first.out;
    assert_eq!(o.reason, Reason::Validated, "{}", o.message);
    // The delete itself worked (a delete marker): no missing grant.
    assert_eq!(result(o, DeleteObject), PermissionOutcome::Allowed);
    let retained = o
        .leftover
        .clone()
        .expect("the retained version is recorded");
    assert_eq!(retained.version.as_deref(), Some("v1"));
    assert!(
        o.message.contains("retained by the bucket's Object Lock"),
        "{}",
        o.message
    );

    // While the retention runs: nothing written, the earlier results kept.
    let world = std::mem::take(&mut *first.world.lock().unwrap());
    let again = Plan {
        leftover: Some(retained.clone()),
        previous: o.permissions.clone(),
        ..plan(&all())
    };
    let second = run_with(world, &again).await;
    assert_eq!(
        second.out.reason,
        Reason::Validated,
        "{}",
        second.out.message
    );
    assert_eq!(second.world.lock().unwrap().writes, 1);
    for a in [PutObject, GetObject, DeleteObject] {
        assert_eq!(result(&second.out, a), PermissionOutcome::Allowed, "{a}");
    }
    assert_eq!(second.out.leftover, Some(retained.clone()));

    // Once it ended: the old version goes, a new probe is written (and, no
    // longer retained, removed too).
    let mut world = std::mem::take(&mut *second.world.lock().unwrap());
    world.retention_running = false;
    let third = run_with(world, &again).await;
    assert_eq!(third.out.reason, Reason::Validated, "{}", third.out.message);
    assert!(third.out.leftover.is_none());
    let w = third.world.lock().unwrap();
    assert_eq!(w.writes, 2);
    assert!(w.versions.is_empty(), "{:?}", w.versions);
}
