//! Roles: IRSA (the ServiceAccount token, its audience, STS refusing it,
//! the ServiceAccount or role ARN missing) and the operator's own identity.

use super::*;

#[tokio::test]
async fn irsa_exchanges_the_service_account_token_and_caches_the_role() {
    let role = "arn:aws:iam::123456789012:role/sync";
    let h = harness(
        vec![
            (
                Method::GET,
                SA_PATH,
                200,
                service_account(json!({"eks.amazonaws.com/role-arn": role})),
            ),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World {
            caller: Ok("arn:aws:sts::123456789012:assumed-role/sync/s3connection-team-conn".into()),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa_spec(None))).await;
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
    assert_eq!(patch["status"]["auth"], "IRSA");
    assert!(
        patch["status"]["identity"]
            .as_str()
            .unwrap()
            .contains("assumed-role/sync")
    );
    assert_eq!(h.aws.used.lock().unwrap()[0].access_key_id(), "ASIAASSUMED");
    let token_req = h.api.request(TOKEN_PATH);
    assert_eq!(token_req.body["spec"]["audiences"][0], "sts.amazonaws.com");

    // A second validation reuses the assumed-role credentials.
    reconcile(Arc::new(connection(irsa_spec(None))), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 1);
    assert_no_secret_in(
        &h,
        &[
            "eyJ.web-identity-token.sig",
            "assumed-secret",
            "assumed-token",
        ],
    );
}

#[tokio::test]
async fn irsa_audience_annotation_is_used() {
    let h = harness(
        vec![
            (
                Method::GET,
                SA_PATH,
                200,
                service_account(json!({"eks.amazonaws.com/audience": "custom-aud"})),
            ),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        None,
        Config::default(),
    );
    reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    let token_req = h.api.request(TOKEN_PATH);
    assert_eq!(token_req.body["spec"]["audiences"][0], "custom-aud");
}

#[tokio::test]
async fn refused_web_identity_is_assume_role_failed() {
    let refuse: HttpResponseFn = Arc::new(|| query_error(403, "AccessDenied"));
    let h = harness(
        vec![
            (Method::GET, SA_PATH, 200, service_account(json!({}))),
            (Method::POST, TOKEN_PATH, 201, token_request()),
        ],
        World::default(),
        Some(refuse),
        Config::default(),
    );
    let patch = reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    assert_failed(&patch, "AssumeRoleFailed");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(msg.contains("system:serviceaccount:team:s3-sync"), "{msg}");
    assert!(h.aws.used.lock().unwrap().is_empty());
}

#[tokio::test]
async fn missing_service_account_is_service_account_not_found() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(
        &h,
        connection(irsa_spec(Some("arn:aws:iam::123456789012:role/sync"))),
    )
    .await;
    assert_failed(&patch, "ServiceAccountNotFound");
    assert_eq!(h.api.count(Method::POST, TOKEN_PATH), 0);
}

#[tokio::test]
async fn no_role_arn_anywhere_is_role_arn_missing() {
    let h = harness(
        vec![(Method::GET, SA_PATH, 200, service_account(json!({})))],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(irsa_spec(None))).await;
    assert_failed(&patch, "RoleArnMissing");
}

#[tokio::test]
async fn operator_identity_is_off_by_default() {
    let h = harness(vec![], World::default(), None, Config::default());
    // A tenant's own externalId (a removed field) is ignored: the operator
    // chooses it.
    let spec = json!({"bucket": "output", "region": "us-east-1", "auth": {"iamRole": {"roleArn": "arn:aws:iam::123456789012:role/sync", "externalId": "borrowed"}}});
    let patch = reconcile_once(&h, connection(spec.clone())).await;
    assert_failed(&patch, "OperatorIdentityDisabled");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("--allow-operator-identity")
    );

    // Allowed, the operator's own STS client assumes the role.
    let (client, api) = ApiServer::start(vec![]);
    let mut aws = FakeAws::new(World::default(), None);
    aws.operator_identity = true;
    let aws = Arc::new(aws);
    let ctx = Arc::new(Context::new(
        client,
        Metrics::default(),
        aws.clone(),
        Config {
            allow_operator_identity: true,
            cluster_name: Some("cluster-uid".into()),
            ..Config::default()
        },
    ));
    reconcile(Arc::new(connection(spec)), ctx).await.unwrap();
    let patch = api.status_patches().pop().unwrap();
    assert_eq!(condition(&patch, "Ready")["status"], "True", "{patch}");
    assert_eq!(patch["status"]["auth"], "OperatorRole");
    assert_eq!(aws.used.lock().unwrap()[0].access_key_id(), "ASIAASSUMED");
    // The ExternalId is the operator's `<cluster>:<namespace>`, shown in
    // status; the session names the namespace.
    assert_eq!(patch["status"]["externalId"], "cluster-uid:team");
    let calls = aws.world.lock().unwrap().assume_role_calls.clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].external_id.as_deref(), Some("cluster-uid:team"));
    assert_eq!(calls[0].session_name, "s3c-team-conn");
}
