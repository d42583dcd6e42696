//! Failures: a leftover probe object, transient problems and their backoff,
//! an endpoint that is not allowed, a panic inside a validation.

use super::*;

#[tokio::test]
async fn leftover_probe_is_recorded_and_survives_an_early_failure() {
    let h = harness(
        valid_secret(),
        World {
            deny: ["delete"].into_iter().collect(),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "PermissionDenied");
    assert_eq!(
        patch["status"]["leftoverProbeObject"],
        "customers/.s3connection-probe/uid-1"
    );
    assert_eq!(patch["status"]["leftoverProbeBucket"], "output");

    // The Secret disappears: the status still names the leftover object.
    let (client, api) = ApiServer::start(vec![]);
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        h.aws.clone(),
        Config::default(),
    ));
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    reconcile(Arc::new(conn), ctx).await.unwrap();
    let patch = api.status_patches().pop().unwrap();
    assert_failed(&patch, "SecretNotFound");
    assert_eq!(
        patch["status"]["leftoverProbeObject"],
        "customers/.s3connection-probe/uid-1"
    );
    // What only the probes could tell is removed, whoever wrote it.
    let removal = api.status_removals().pop().expect("a removal");
    assert_eq!(removal["status"].get("identity"), Some(&Value::Null));
    assert!(removal["status"].get("leftoverProbeObject").is_none());
}

#[tokio::test]
async fn transient_problems_requeue_with_growing_backoff() {
    let h = harness(
        valid_secret(),
        World {
            throttled: true,
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let conn = Arc::new(connection(access_key_spec()));
    let first = reconcile(conn.clone(), h.ctx.clone()).await.unwrap();
    assert_again_after(&h.ctx, first, nth_retry(1));
    let second = reconcile(conn.clone(), h.ctx.clone()).await.unwrap();
    assert_again_after(&h.ctx, second, nth_retry(2));
    let patch = &h.api.status_patches()[0];
    assert_eq!(condition(patch, "Ready")["status"], "Unknown");
    assert_eq!(condition(patch, "Failed")["status"], "Unknown");
    assert_eq!(condition(patch, "Ready")["reason"], "Transient");
    let _ = conn.name_any();
}

#[tokio::test]
async fn an_endpoint_that_is_not_allowed_reads_no_secret_and_mints_no_token() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut spec = access_key_spec();
    spec["endpoint"] = json!("https://collector.attacker.example:8443");
    let patch = reconcile_once(&h, connection(spec.clone())).await;
    assert_failed(&patch, "EndpointNotAllowed");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(
        msg.contains("https://collector.attacker.example:8443")
            && msg.contains("--allowed-endpoint https://collector.attacker.example:8443"),
        "{msg}"
    );
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 0, "no Secret read");
    assert!(h.aws.used.lock().unwrap().is_empty(), "no S3 client");

    let mut irsa = irsa_spec(Some("arn:aws:iam::123456789012:role/sync"));
    irsa["endpoint"] = json!("http://10.0.0.1:9000");
    let h = harness(
        vec![
            (Method::GET, SA_PATH, 200, service_account(json!({}))),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa)).await;
    assert_failed(&patch, "EndpointNotAllowed");
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 0, "no token minted");
    assert_eq!(h.api.count(Method::GET, SA_PATH), 0);

    // Allowed, the same connection is validated.
    let config = Config {
        allowed_endpoints: crate::allowlist::Allowlist::parse(&[
            "https://collector.attacker.example:8443",
        ])
        .unwrap(),
        ..Config::default()
    };
    let h = harness(valid_secret(), World::default(), None, config);
    let patch = reconcile_once(&h, connection(spec)).await;
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
}

#[tokio::test]
async fn a_panic_in_a_validation_becomes_that_connections_internal_error() {
    let (client, api) = ApiServer::start(valid_secret());
    let mut aws = FakeAws::new(World::default(), None);
    aws.panic_in_s3 = true;
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        Arc::new(aws),
        Config::default(),
    ));
    drop(ctx.wakeups.open(None, 64));
    let action = reconcile(Arc::new(connection(access_key_spec())), ctx.clone())
        .await
        .expect("the reconcile itself does not fail");
    // Retried with backoff.
    assert_again_after(&ctx, action, nth_retry(1));
    let patch = api.status_patches().pop().unwrap();
    let ready = condition(&patch, "Ready");
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "InternalError");
    assert_eq!(ctx.metrics.panics.get(), 1);
}
