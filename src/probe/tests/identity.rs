//! STS and IAM: who the credentials are (asked, known, or skipped while STS
//! does not answer) and s3:ReplicateObject by IAM policy simulation.

use std::sync::Arc;

use super::*;
use crate::crd::Permission::*;
use crate::outcome::{Leftover, Reason};
use crate::probe::principal_arn;

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
        version: None,
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

#[tokio::test]
async fn replication_is_simulated_in_the_principals_partition_with_its_path() {
    let world = Arc::new(std::sync::Mutex::new(World {
        simulation: Ok("allowed".into()),
        ..Default::default()
    }));
    let role = "arn:aws-cn:iam::123456789012:role/team/sync";
    let mut p = plan(&[ReplicateObject]);
    p.role_arn = Some(role.into());
    let out = run_remembering(&world, &p, Arc::default()).await.out;
    let r = &out.permissions[0];
    assert_eq!(r.result, PermissionOutcome::Allowed, "{}", r.message);
    assert!(r.message.contains(role), "{}", r.message);
    assert!(
        r.message.contains("arn:aws-cn:s3:::output/customers/*"),
        "{}",
        r.message
    );
}
