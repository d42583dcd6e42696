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
