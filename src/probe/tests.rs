//! Unit tests of the validation engine against the fake S3/STS/IAM in
//! [`crate::testing`]: one scenario per outcome the engine can reach.

use std::sync::Arc;

use strum::IntoEnumIterator;

use crate::aws::{Clients, Outages, Remote};
use crate::crd::Permission::{self, *};
use crate::crd::PermissionOutcome;
use crate::outcome::{Leftover, Outcome, Reason};
use crate::probe::{self, Plan, principal_arn, probe_key};
use crate::testing::{World, iam_client, s3_client, sts_client};

/// All five permissions, in their canonical order.
fn all() -> Vec<Permission> {
    Permission::iter().collect()
}

const KEY: &str = "customers/.s3connection-probe/uid-1";

fn plan(perms: &[Permission]) -> Plan {
    Plan {
        bucket: "output".into(),
        prefix: "customers/".into(),
        region: "us-east-1".into(),
        endpoint: "https://s3.us-east-1.amazonaws.com".into(),
        permissions: perms.to_vec(),
        probe_key: KEY.into(),
        uid: "uid-1".into(),
        probe_body: "probe body".into(),
        leftover: None,
        previous: vec![],
        sts_authoritative: true,
        role_arn: None,
        expected_owner: None,
        known_identity: None,
    }
}

struct Run {
    world: crate::testing::Shared,
    out: Outcome,
}

async fn run_with(world: World, plan: &Plan) -> Run {
    let world = Arc::new(std::sync::Mutex::new(world));
    run_shared(&world, plan).await
}

async fn run_shared(world: &crate::testing::Shared, plan: &Plan) -> Run {
    run_remembering(world, plan, Arc::default()).await
}

/// A run whose STS and IAM outages are remembered in `outages`.
async fn run_remembering(
    world: &crate::testing::Shared,
    plan: &Plan,
    outages: Arc<Outages>,
) -> Run {
    let clients = Clients {
        s3: s3_client(world),
        sts: Remote {
            client: sts_client(world, None),
            location: "https://sts.fake".into(),
        },
        iam: Some(Remote {
            client: iam_client(world),
            location: "https://iam.fake".into(),
        }),
        outages,
    };
    let out = probe::run(&clients, plan).await;
    Run {
        world: world.clone(),
        out,
    }
}

fn result(o: &Outcome, action: Permission) -> PermissionOutcome {
    o.permissions
        .iter()
        .find(|p| p.permission == action)
        .unwrap_or_else(|| panic!("no result for {action} in {:?}", o.permissions))
        .result
}

fn world_denying(actions: &[&'static str]) -> World {
    World {
        deny: actions.iter().copied().collect(),
        ..Default::default()
    }
}

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
async fn replicate_message_says_why_it_cannot_be_proved() {
    let r = run_with(World::default(), &plan(&[ReplicateObject])).await;
    let p = &r.out.permissions[0];
    assert_eq!(p.result, PermissionOutcome::Unverified);
    assert!(
        p.message.contains("no request can exercise it"),
        "{}",
        p.message
    );
    assert_eq!(r.out.reason, Reason::Validated);
}

#[tokio::test]
async fn replicate_uses_iam_policy_simulation_when_possible() {
    let mut w = World {
        simulation: Ok("allowed".into()),
        ..Default::default()
    };
    let r = run_with(w.clone(), &plan(&[ReplicateObject])).await;
    assert_eq!(result(&r.out, ReplicateObject), PermissionOutcome::Allowed);
    w.simulation = Ok("explicitDeny".into());
    let r = run_with(w.clone(), &plan(&[ReplicateObject])).await;
    assert_eq!(result(&r.out, ReplicateObject), PermissionOutcome::Denied);
    w.simulation = Ok("implicitDeny".into());
    let r = run_with(w, &plan(&[ReplicateObject])).await;
    assert_eq!(
        result(&r.out, ReplicateObject),
        PermissionOutcome::Unverified
    );
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

/// A world holding an object at the probe key, with `marker` metadata.
fn world_with_object(mut w: World, body: &[u8], marker: Option<&str>) -> World {
    w.objects.insert(KEY.into(), body.to_vec());
    if let Some(uid) = marker {
        w.metadata.insert(KEY.into(), crate::testing::marker(uid));
    }
    w
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

#[tokio::test]
async fn unknown_access_key_is_invalid_credentials() {
    let w = World {
        unknown_key: true,
        caller: Err("InvalidClientTokenId".into()),
        ..Default::default()
    };
    let r = run_with(w.clone(), &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::InvalidCredentials);
    assert!(r.out.message.contains("STS"), "{}", r.out.message);

    // Against an S3-compatible store STS is not authoritative: S3 decides.
    let mut p = plan(&all());
    p.sts_authoritative = false;
    let r = run_with(w, &p).await;
    assert_eq!(r.out.reason, Reason::InvalidCredentials);
    assert!(
        r.out.message.contains("InvalidAccessKeyId"),
        "{}",
        r.out.message
    );
    assert!(r.out.permissions.is_empty());
}

#[tokio::test]
async fn wrong_secret_key_is_invalid_credentials() {
    let w = World {
        bad_secret: true,
        caller: Err("SignatureDoesNotMatch".into()),
        ..Default::default()
    };
    let mut p = plan(&all());
    p.sts_authoritative = false;
    let r = run_with(w, &p).await;
    assert_eq!(r.out.reason, Reason::InvalidCredentials);
    assert!(
        r.out.message.contains("secret access key"),
        "{}",
        r.out.message
    );
}

#[tokio::test]
async fn missing_bucket_is_bucket_not_found() {
    let w = World {
        bucket_exists: false,
        ..Default::default()
    };
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::BucketNotFound);
    assert!(r.out.message.contains("\"output\""));
}

#[tokio::test]
async fn bucket_in_another_region_is_wrong_region_with_the_actual_region() {
    let w = World {
        bucket_region: "eu-west-1".into(),
        ..Default::default()
    };
    let r = run_with(w.clone(), &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::WrongRegion);
    assert!(r.out.message.contains("eu-west-1"), "{}", r.out.message);
    assert_eq!(r.world.lock().unwrap().writes, 0);

    // Also when HeadBucket is denied: the 403 still names the region.
    let mut w = w;
    w.deny.insert("head");
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::WrongRegion);
}

/// A run of all probes expecting the bucket owner 123456789012.
async fn expecting_owner(world: World) -> Run {
    let mut p = plan(&all());
    p.expected_owner = Some("123456789012".into());
    run_with(world, &p).await
}

#[tokio::test]
async fn a_bucket_of_another_account_is_owner_mismatch_and_nothing_is_written() {
    let w = World {
        owner: "999999999999".into(),
        ..Default::default()
    };
    let r = expecting_owner(w).await;
    assert_eq!(
        r.out.reason,
        Reason::BucketOwnerMismatch,
        "{}",
        r.out.message
    );
    assert!(r.out.message.contains("123456789012"), "{}", r.out.message);
    assert_eq!(r.world.lock().unwrap().writes, 0);
    assert!(r.world.lock().unwrap().delete_calls.is_empty());
}

#[tokio::test]
async fn an_owner_mismatch_is_found_by_listing_when_head_is_denied_anyway() {
    let mut w = world_denying(&["head"]);
    w.owner = "999999999999".into();
    let r = expecting_owner(w).await;
    assert_eq!(
        r.out.reason,
        Reason::BucketOwnerMismatch,
        "{}",
        r.out.message
    );
    assert_eq!(r.world.lock().unwrap().writes, 0);
}

#[tokio::test]
async fn the_expected_owner_matching_changes_nothing() {
    let r = expecting_owner(World::default()).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    assert!(r.world.lock().unwrap().objects.is_empty());
}

#[tokio::test]
async fn an_expected_owner_with_denied_head_is_not_called_a_mismatch() {
    // Prefix-scoped credentials: HEAD is denied with and without the owner
    // condition, so the bucket's owner cannot be told apart; go on.
    let mut w = world_denying(&["head"]);
    w.owner = "123456789012".into();
    let r = expecting_owner(w).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
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
}

#[tokio::test]
async fn throttling_is_transient() {
    let w = World {
        throttled: true,
        ..Default::default()
    };
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Transient, "{}", r.out.message);
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
async fn read_back_of_other_content_is_unverified_and_still_cleaned_up() {
    let w = World {
        corrupt_reads: Some(b"something else".to_vec()),
        ..Default::default()
    };
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(result(&r.out, GetObject), PermissionOutcome::Unverified);
    assert!(r.world.lock().unwrap().objects.is_empty());
}

#[tokio::test]
async fn unreachable_endpoint_is_endpoint_unreachable() {
    // A real client against a closed local port.
    let factory = crate::aws::SdkFactory::new(
        crate::aws::Timeouts {
            connect: std::time::Duration::from_millis(500),
            attempt: std::time::Duration::from_secs(2),
            operation: std::time::Duration::from_secs(5),
        },
        false,
        |_| None,
    )
    .await;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let target = crate::aws::S3Target {
        region: "us-east-1".into(),
        endpoint: Some("http://127.0.0.1:9".into()),
        force_path_style: true,
        trust: None,
    };
    let creds = aws_credential_types::Credentials::new("AKIAFAKE", "secret", None, None, "t");
    let clients = Clients::new(&factory, &target, &creds, Arc::default());
    let mut p = plan(&all());
    p.endpoint = "http://127.0.0.1:9".into();
    let out = probe::run(&clients, &p).await;
    assert_eq!(out.reason, Reason::EndpointUnreachable, "{}", out.message);
    assert!(out.message.contains("http://127.0.0.1:9"));
}

#[test]
fn a_recorded_leftover_other_than_the_own_probe_key_is_ignored() {
    use crate::crd::ConnectionId;
    use crate::credentials::Resolved;
    use crate::probe::Previous;
    use crate::spec::{AuthMethod, BucketPath, SecretKeys, ValidSpec};
    let spec = ValidSpec {
        target: BucketPath {
            bucket: "output".into(),
            prefix: "customers/".into(),
        },
        region: "us-east-1".into(),
        endpoint: None,
        force_path_style: false,
        auth: AuthMethod::AccessKey(SecretKeys {
            secret_name: "s".into(),
            access_key_id_key: "a".into(),
            secret_access_key_key: "b".into(),
            session_token_key: None,
        }),
        permissions: all(),
        interval: std::time::Duration::from_secs(600),
        ca_secret: None,
        expected_bucket_owner: None,
    };
    let resolved = Resolved::new(
        aws_credential_types::Credentials::new("AKIAX", "secret", None, None, "t"),
        None,
        None,
    );
    let id = ConnectionId {
        namespace: "ns".into(),
        name: "c".into(),
        uid: "uid-1".into(),
    };
    let with = |bucket: &str, key: &str| Previous {
        leftover: Some(Leftover {
            bucket: bucket.into(),
            key: key.into(),
        }),
        results: vec![],
    };
    let now = jiff::Timestamp::UNIX_EPOCH;
    for (bucket, key) in [
        ("output", "finance/ledger.csv"),
        ("other-bucket", KEY),
        ("output", "old/.s3connection-probe/uid-1"),
        ("output", "customers/.s3connection-probe/another-uid"),
    ] {
        let plan = Plan::new(&spec, &resolved, &id, with(bucket, key), now);
        assert_eq!(plan.leftover, None, "{bucket}/{key} must be ignored");
    }
    let plan = Plan::new(&spec, &resolved, &id, with("output", KEY), now);
    assert_eq!(plan.leftover.map(|l| l.key), Some(KEY.to_string()));
}

#[test]
fn probe_keys_live_under_the_prefix() {
    assert_eq!(
        probe_key("customers/", "u-1"),
        "customers/.s3connection-probe/u-1"
    );
    assert_eq!(probe_key("", "u-1"), ".s3connection-probe/u-1");
}

#[test]
fn principals_for_policy_simulation() {
    let role = "arn:aws:iam::123456789012:role/sync";
    assert_eq!(principal_arn(Some(role), Some("x")).unwrap(), role);
    assert_eq!(
        principal_arn(None, Some("arn:aws:iam::123456789012:user/sync")).unwrap(),
        "arn:aws:iam::123456789012:user/sync"
    );
    assert_eq!(
        principal_arn(
            None,
            Some("arn:aws:sts::123456789012:assumed-role/sync/session")
        )
        .unwrap(),
        role
    );
    assert_eq!(principal_arn(None, None), None);
    assert_eq!(
        principal_arn(None, Some("arn:aws:iam::123456789012:root")),
        None
    );
}

#[tokio::test]
async fn an_sts_without_get_caller_identity_is_asked_once_for_a_while() {
    // As MinIO answers: InvalidParameterValue, Unsupported action.
    let world = Arc::new(std::sync::Mutex::new(World {
        caller: Err("InvalidParameterValue".into()),
        ..Default::default()
    }));
    let outages: Arc<Outages> = Arc::default();
    let mut p = plan(&[ListBucket]);
    p.sts_authoritative = false;
    for _ in 0..3 {
        let out = run_remembering(&world, &p, outages.clone()).await.out;
        assert_eq!(out.reason, Reason::Validated, "{}", out.message);
    }
    assert_eq!(world.lock().unwrap().caller_calls, 1, "STS asked once");
}

#[tokio::test]
async fn an_iam_that_fails_is_skipped_for_a_while_with_the_same_message() {
    let world = Arc::new(std::sync::Mutex::new(World {
        simulation: Err("InternalFailure".into()),
        ..Default::default()
    }));
    let outages: Arc<Outages> = Arc::default();
    let p = plan(&[ReplicateObject]);
    let first = run_remembering(&world, &p, outages.clone()).await.out;
    let second = run_remembering(&world, &p, outages.clone()).await.out;
    assert_eq!(world.lock().unwrap().simulation_calls, 1, "IAM asked once");
    assert_eq!(
        first.permissions, second.permissions,
        "the status does not change"
    );
    let r = &second.permissions[0];
    assert_eq!(r.result, PermissionOutcome::Unverified);
    assert!(
        r.message
            .contains("IAM at https://iam.fake did not answer (InternalFailure"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_denied_simulation_is_about_the_identity_not_an_outage() {
    let world = Arc::new(std::sync::Mutex::new(World {
        simulation: Err("AccessDenied".into()),
        ..Default::default()
    }));
    let outages: Arc<Outages> = Arc::default();
    let p = plan(&[ReplicateObject]);
    run_remembering(&world, &p, outages.clone()).await;
    run_remembering(&world, &p, outages).await;
    assert_eq!(world.lock().unwrap().simulation_calls, 2);
}

#[tokio::test]
async fn a_known_identity_sends_no_get_caller_identity_and_s3_still_decides() {
    let known = "arn:aws:iam::123456789012:user/known";
    let p = plan(&all()).knowing(Some(known));
    let r = run_with(World::default(), &p).await;
    assert_eq!(r.out.reason, Reason::Validated, "{}", r.out.message);
    assert_eq!(r.out.identity.as_deref(), Some(known));
    assert!(r.out.authenticated, "S3 accepted the credentials");
    assert!(r.out.message.contains(known), "{}", r.out.message);
    assert_eq!(r.world.lock().unwrap().caller_calls, 0);

    // Credentials S3 no longer knows fail the validation all the same.
    let r = run_with(
        World {
            unknown_key: true,
            ..Default::default()
        },
        &p,
    )
    .await;
    assert_eq!(
        r.out.reason,
        Reason::InvalidCredentials,
        "{}",
        r.out.message
    );
    assert_eq!(r.world.lock().unwrap().caller_calls, 0);
}

#[tokio::test]
async fn a_known_identity_is_asked_again_when_no_s3_answer_could_reject_the_key() {
    // HeadBucket's 403 has no body: with only these permissions nothing
    // but STS can tell a revoked key, so STS is asked.
    for perms in [vec![ReplicateObject], vec![DeleteObject, ReplicateObject]] {
        let p = plan(&perms).knowing(Some("arn:aws:iam::123456789012:user/known"));
        let r = run_with(World::default(), &p).await;
        assert_eq!(r.world.lock().unwrap().caller_calls, 1, "{perms:?}");
        assert_eq!(
            r.out.identity.as_deref(),
            Some("arn:aws:iam::123456789012:user/sync"),
            "STS's answer, not the one known"
        );
    }
    // A leftover probe object blocks the write: only ListObjectsV2 would do.
    let mut p = plan(&[PutObject, GetObject]).knowing(Some("arn:aws:iam::1:user/k"));
    p.leftover = Some(Leftover {
        bucket: "output".into(),
        key: KEY.into(),
    });
    let r = run_with(World::default(), &p).await;
    assert_eq!(r.world.lock().unwrap().caller_calls, 1);
}

#[tokio::test]
async fn a_known_identity_that_s3_never_got_to_prove_is_asked_about_after_all() {
    // The bucket is missing (HeadBucket's 404 has no body): no S3 answer
    // proved the credentials. The outcome must be the one a validation
    // without the known identity gives, or Authenticated flips between
    // True and Unknown each time the known identity expires. (In another
    // region, HeadBucket's 200 or 301 proves them, and STS is not asked.)
    let sts_says = "arn:aws:iam::123456789012:user/sync";
    for (bucket_exists, region, sts_calls) in [(false, "us-east-1", 1), (true, "eu-west-1", 0)] {
        let world = || World {
            bucket_exists,
            bucket_region: region.into(),
            ..Default::default()
        };
        let cold = run_with(world(), &plan(&all())).await;
        let warm = run_with(world(), &plan(&all()).knowing(Some(sts_says))).await;
        assert_ne!(warm.out.reason, Reason::Validated);
        assert_eq!(warm.out.reason, cold.out.reason, "{}", warm.out.message);
        assert!(warm.out.authenticated, "{}", warm.out.message);
        assert_eq!(warm.out.authenticated, cold.out.authenticated);
        assert_eq!(warm.out.identity, cold.out.identity);
        assert_eq!(
            warm.world.lock().unwrap().caller_calls,
            sts_calls,
            "{region}"
        );
    }
    // STS rejecting the credentials then is what the validation reports.
    let world = World {
        bucket_exists: false,
        caller: Err("InvalidClientTokenId".into()),
        ..Default::default()
    };
    let r = run_with(world, &plan(&all()).knowing(Some(sts_says))).await;
    assert_eq!(
        r.out.reason,
        Reason::InvalidCredentials,
        "{}",
        r.out.message
    );
}
