//! Writing status: server-side apply on the subresource, the spec-edit
//! announcement, nothing written for an unchanged result, events on a
//! change of Ready, and the resourceVersion every write is computed from.

use super::*;

#[tokio::test]
async fn status_is_applied_server_side_on_the_status_subresource() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    reconcile(Arc::new(connection(access_key_spec())), h.ctx.clone())
        .await
        .unwrap();
    let patch = h
        .api
        .requests()
        .into_iter()
        .find(|s| s.method == Method::PATCH)
        .unwrap();
    assert_eq!(
        patch.path,
        "/apis/s3connection.dev/v1alpha1/namespaces/team/s3connections/conn/status"
    );
}

#[tokio::test]
async fn a_spec_edit_is_announced_before_the_new_generation_is_validated() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut first = reconcile_once(&h, connection(access_key_spec())).await;
    // That result, as if it had been for generation 1; the object is now at 2.
    first["status"]["observedGeneration"] = json!(1);
    for c in first["status"]["conditions"].as_array_mut().unwrap() {
        c["observedGeneration"] = json!(1);
    }
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(first["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let patches = h.api.status_patches();
    assert_eq!(
        patches.len(),
        3,
        "result, announcement, result: {patches:?}"
    );
    assert_progressing(&patches[1]);
    let ready = condition(&patches[2], "Ready");
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["observedGeneration"].as_i64()
        ),
        (Some("True"), Some(2))
    );
    assert!(
        patches[2]["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Reconciling"),
        "{}",
        patches[2]
    );
}

#[tokio::test]
async fn unchanged_result_writes_no_status_and_no_event() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let patch = reconcile_once(&h, connection(access_key_spec())).await;
    // The object now carries the status the first reconcile wrote.
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    assert_eq!(
        h.api.status_patches().len(),
        1,
        "second validation must not rewrite status nor announce itself"
    );
    assert_eq!(
        h.api.events().len(),
        0,
        "no event without a Ready transition (nor for the first Ready)"
    );
    // But it did validate again, and the metrics know it.
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 2);
    let uid = connection(access_key_spec()).metadata.uid.unwrap();
    let first = h.ctx.freshness.last_success(&uid);
    assert!(first.is_some());
    assert_eq!(h.ctx.freshness.last_validation(&uid), first);
}

#[tokio::test]
async fn a_recovery_is_a_normal_event() {
    let failing = harness(vec![], World::default(), None, Config::default());
    let failed = reconcile_once(&failing, connection(access_key_spec())).await;
    assert_failed(&failed, "SecretNotFound");
    // The Secret exists now; the object carries the failed result.
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut conn = connection(access_key_spec());
    conn.status = Some(serde_json::from_value(failed["status"].clone()).unwrap());
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let events = h.api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["reason"].as_str()),
        (Some("Normal"), Some("Validated"))
    );
}

#[tokio::test]
async fn a_reconcile_whose_cache_missed_the_last_write_reads_the_object_first() {
    // What a first validation proved, as the API server holds it at "12".
    let proved = reconcile_once(
        &harness(valid_secret(), World::default(), None, Config::default()),
        connection(access_key_spec()),
    )
    .await;
    let mut stored = serde_json::to_value(at_version(
        connection(access_key_spec()),
        "12",
        Some(&proved["status"]),
    ))
    .unwrap();
    stored["kind"] = json!("S3Connection");
    let mut routes = valid_secret();
    routes.push((Method::GET, CONN_PATH, 200, stored));
    // The endpoint fails now, transiently.
    let world = World {
        throttled: true,
        ..Default::default()
    };
    let h = harness(routes, world, None, Config::default());
    // This process wrote "12"; its cache still has "11", without a status.
    h.ctx.latest.note("uid-1", "12");
    let stale = at_version(connection(access_key_spec()), "11", None);
    reconcile(Arc::new(stale), h.ctx.clone()).await.unwrap();

    assert_eq!(h.api.count(Method::GET, CONN_PATH), 1, "read once");
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch = &patches[0];
    assert_eq!(patch["metadata"]["resourceVersion"], "12", "{patch}");
    assert_eq!(condition(patch, "Ready")["status"], "Unknown");
    // What was proved before stays visible through the transient problem.
    assert_eq!(
        patch["status"]["permissions"],
        proved["status"]["permissions"]
    );
    assert_eq!(patch["status"]["identity"], proved["status"]["identity"]);
    // The transition is from the stored Ready=True, not from nothing.
    let events = h.api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "Warning");

    // The cache caught up with the write: no read.
    let caught_up = at_version(connection(access_key_spec()), "13", Some(&patch["status"]));
    reconcile(Arc::new(caught_up), h.ctx.clone()).await.unwrap();
    assert_eq!(h.api.count(Method::GET, CONN_PATH), 1, "still one read");
}

#[tokio::test]
async fn a_write_that_finds_the_object_changed_is_retried_soon_without_an_event() {
    let failed = reconcile_once(
        &harness(vec![], World::default(), None, Config::default()),
        connection(access_key_spec()),
    )
    .await;
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified"});
    let mut routes = valid_secret();
    routes.push((Method::PATCH, STATUS_PATH, 409, conflict));
    let h = harness(routes, World::default(), None, Config::default());
    let conn = at_version(connection(access_key_spec()), "5", Some(&failed["status"]));
    let action = reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();

    assert_again_after(&h.ctx, action, crate::reconcile::conflict_retry("uid-1"));
    let patch = &h.api.status_patches()[0];
    assert_eq!(patch["metadata"]["resourceVersion"], "5");
    assert!(h.api.events().is_empty(), "nothing was written: no event");
    let conflicts = crate::telemetry::PatchLabels {
        outcome: crate::telemetry::PatchOutcome::Conflict,
    };
    assert_eq!(
        h.ctx.metrics.status_patches.get_or_create(&conflicts).get(),
        1
    );
}

#[tokio::test]
async fn a_spec_edits_result_is_written_at_the_version_its_announcement_made() {
    let h = harness(valid_secret(), World::default(), None, Config::default());
    let mut first = reconcile_once(&h, connection(access_key_spec())).await;
    first["status"]["observedGeneration"] = json!(1);
    for c in first["status"]["conditions"].as_array_mut().unwrap() {
        c["observedGeneration"] = json!(1);
    }
    let conn = at_version(connection(access_key_spec()), "40", Some(&first["status"]));
    reconcile(Arc::new(conn), h.ctx.clone()).await.unwrap();
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 3, "{patches:?}");
    assert_progressing(&patches[1]);
    assert_eq!(patches[1]["metadata"]["resourceVersion"], "40");
    assert_eq!(patches[2]["metadata"]["resourceVersion"], "41");
}
