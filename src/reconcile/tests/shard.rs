//! A reconcile that reads its connection again by name validates it only
//! if it still belongs to this process's shard.

use super::*;
use crate::reconcile::shard::{SHARD_LABEL, Shard};
use kube::runtime::controller::Action;

/// The API server holds the connection at "12" with `labels`; this
/// process (shard `!SHARD_LABEL`) wrote "12", its cache still has "11"
/// (without labels, as the cache keeps it): the reconcile reads it first.
async fn reread_with(labels: Value) -> (Harness, Action) {
    let mut stored =
        serde_json::to_value(at_version(connection(access_key_spec()), "12", None)).unwrap();
    stored["kind"] = json!("S3Connection");
    stored["metadata"]["labels"] = labels;
    let mut routes = valid_secret();
    routes.push((Method::GET, CONN_PATH, 200, stored));
    let config = Config {
        shard: Shard::parse(&format!("!{SHARD_LABEL}")).unwrap(),
        ..Config::default()
    };
    let h = harness(routes, World::default(), None, config);
    h.ctx.latest.note("uid-1", "12");
    let cached = at_version(connection(access_key_spec()), "11", None);
    let action = reconcile(Arc::new(cached), h.ctx.clone()).await.unwrap();
    assert_eq!(h.api.count(Method::GET, CONN_PATH), 1, "read once");
    (h, action)
}

#[tokio::test]
async fn a_connection_relabelled_to_another_shard_is_not_validated_here() {
    let (h, action) = reread_with(json!({SHARD_LABEL: "shard1", "app": "x"})).await;
    assert_eq!(action, Action::await_change());
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 0, "no Secret read");
    assert!(h.api.status_patches().is_empty() && h.api.status_removals().is_empty());
    assert!(h.api.events().is_empty());
    assert!(h.aws.used.lock().unwrap().is_empty(), "no S3 client made");
    assert_eq!(h.aws.world.lock().unwrap().caller_calls, 0, "no STS call");
}

#[tokio::test]
async fn a_connection_still_in_this_shard_is_validated_after_the_read() {
    let (h, _) = reread_with(json!({"app": "x"})).await;
    assert_eq!(h.api.count(Method::GET, SECRET_PATH), 1);
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(condition(&patches[0], "Ready")["status"], "True");
}
