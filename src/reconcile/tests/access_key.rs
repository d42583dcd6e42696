//! Access keys from a Secret: Ready, the Secret missing or incomplete, an
//! invalid spec, RBAC refusing the read, one GetCallerIdentity per
//! credentials, and nothing secret in any request.

use super::*;

#[tokio::test]
async fn secret_credentials_validate_and_write_ready_status_and_no_event() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    let ready = condition(&patch, "Ready");
    assert_eq!(ready["status"], "True", "{patch}");
    assert_eq!(ready["reason"], "Validated");
    assert_eq!(condition(&patch, "Failed")["status"], "False");
    assert_eq!(condition(&patch, "PermissionsGranted")["status"], "Unknown");
    assert_eq!(patch["status"]["observedGeneration"], 2);
    assert_eq!(patch["status"]["auth"], "AccessKey");
    assert_eq!(
        patch["status"]["identity"],
        "arn:aws:iam::123456789012:user/sync"
    );
    assert_eq!(patch["status"]["permissions"].as_array().unwrap().len(), 5);
    assert!(patch["status"].get("lastValidationTime").is_none());
    assert_eq!(patch["kind"], "S3Connection");
    // The credentials handed to S3 came from the Secret.
    assert_eq!(h.aws.used.lock().unwrap()[0].access_key_id(), ACCESS_KEY);
    // A first result that is Ready: the status says it, no event repeats it.
    assert_eq!(h.api.events(), Vec::<serde_json::Value>::new());
    assert_no_secret_in(&h, &[ACCESS_KEY, SECRET_KEY]);
}

#[tokio::test]
async fn missing_secret_is_secret_not_found() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "SecretNotFound");
    assert_eq!(condition(&patch, "Authenticated")["status"], "False");
    let msg = condition(&patch, "Ready")["message"].as_str().unwrap();
    assert!(
        msg.contains("\"creds\"") && msg.contains("\"team\""),
        "{msg}"
    );
    let events = h.api.events();
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "SecretNotFound");
}

#[tokio::test]
async fn secret_without_the_key_is_secret_key_missing() {
    let h = harness(
        vec![(
            Method::GET,
            SECRET_PATH,
            200,
            secret(&[("AWS_ACCESS_KEY_ID", ACCESS_KEY)]),
        )],
        World::default(),
        None,
        Config::default(),
    );
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    assert_failed(&patch, "SecretKeyMissing");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("AWS_SECRET_ACCESS_KEY")
    );
    assert_no_secret_in(&h, &[ACCESS_KEY]);
}

#[tokio::test]
async fn invalid_spec_is_reported_without_calling_anything() {
    let h = harness(vec![], World::default(), None, Config::default());
    let patch = reconcile_once(
        &h,
        connection(json!({"bucket": "Bad_Bucket", "region": "us-east-1", "auth": {"accessKey": {"secretName": "creds"}}})),
    )
    .await;
    assert_failed(&patch, "InvalidSpec");
    assert!(
        condition(&patch, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("Bad_Bucket")
    );
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 0);
    assert!(h.aws.used.lock().unwrap().is_empty());
}

#[tokio::test]
async fn forbidden_secret_read_is_an_operator_error_with_a_hint() {
    let h = harness(
        vec![(Method::GET, SECRET_PATH, 403, forbidden())],
        World::default(),
        None,
        Config::default(),
    );
    let err = reconcile(Arc::new(connection(access_key_spec())), h.ctx.clone())
        .await
        .expect_err("RBAC problems are operator errors");
    assert_eq!(err.metric_label(), "kube_forbidden");
    assert!(err.to_string().contains("get Secret team/creds"), "{err}");
    assert!(err.hint().unwrap().contains("RBAC"));
    assert!(matches!(err, Error::Kube { .. }));
    assert!(h.api.status_patches().is_empty());
}

#[tokio::test]
async fn connections_sharing_credentials_ask_sts_who_they_are_once() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    for (name, uid) in [("a", "uid-a"), ("b", "uid-b"), ("c", "uid-c")] {
        reconcile(Arc::new(named(name, uid, access_key_spec())), h.ctx.clone())
            .await
            .unwrap();
    }
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 3);
    for p in &patches {
        assert_eq!(condition(p, "Ready")["status"], "True", "{p}");
        assert_eq!(
            condition(p, "Authenticated")["status"],
            "True",
            "S3 accepted the credentials: {p}"
        );
        assert_eq!(
            p["status"]["identity"],
            "arn:aws:iam::123456789012:user/sync"
        );
    }
    // Every validation sent its S3 requests; only the first asked STS.
    let w = h.aws.world.lock().unwrap();
    assert_eq!(w.caller_calls, 1);
    assert_eq!(w.writes, 3);
}

#[tokio::test]
async fn credentials_s3_rejects_are_asked_about_again() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let run = |name: &'static str| {
        let ctx = h.ctx.clone();
        async move {
            reconcile(Arc::new(named(name, name, access_key_spec())), ctx)
                .await
                .unwrap()
        }
    };
    run("a").await;
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    // The key was deactivated: S3 says so though STS is not asked.
    h.aws.world.lock().unwrap().unknown_key = true;
    run("b").await;
    let rejected = h.api.status_patches().pop().unwrap();
    assert_failed(&rejected, "InvalidCredentials");
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    // Active again: who the key belongs to is asked anew.
    h.aws.world.lock().unwrap().unknown_key = false;
    run("c").await;
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 2);
}

#[tokio::test]
async fn an_identity_that_echoes_the_secret_is_kept_and_shown_scrubbed() {
    // A hostile STS answers with an "ARN" that carries the secret key.
    let h = harness(
        valid_secret(),
        World {
            caller: Ok(format!("arn:aws:iam::123456789012:user/{SECRET_KEY}")),
            ..Default::default()
        },
        None,
        Config::default(),
    );
    for (name, uid) in [("a", "uid-a"), ("b", "uid-b")] {
        reconcile(Arc::new(named(name, uid, access_key_spec())), h.ctx.clone())
            .await
            .unwrap();
    }
    assert_eq!(h.api.status_patches().len(), 2);
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 1);
    assert_no_secret_in(&h, &[ACCESS_KEY, SECRET_KEY]);
}
