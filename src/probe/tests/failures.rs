//! What ends a validation early: rejected credentials, a missing bucket, a
//! wrong region or owner, throttling, an endpoint that cannot be reached.

use std::sync::Arc;

use super::*;
use crate::outcome::Reason;

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
async fn throttling_is_transient() {
    let w = World {
        throttled: true,
        ..Default::default()
    };
    let r = run_with(w, &plan(&all())).await;
    assert_eq!(r.out.reason, Reason::Transient, "{}", r.out.message);
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
        sts_endpoint: None,
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
