use serde_json::json;

use super::*;
use crate::reconcile::per_uid::key;

const UID: &str = "6f1d2c3b-0a9e-4c8d-8b7a-1234567890ab";

fn conn(generation: i64, status_message: &str) -> S3Connection {
    serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": "c", "namespace": "ns", "uid": UID, "generation": generation,
                     "resourceVersion": status_message.len().to_string()},
        "spec": {"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "s"}}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Validated",
                   "message": status_message, "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    }))
    .unwrap()
}

#[test]
fn the_operators_own_writes_are_not_worth_a_reconcile_a_spec_change_is() {
    let t = Triggers::default();
    assert_eq!(t.sight(&conn(1, "")), Sight::First);
    assert_eq!(
        t.sight(&conn(1, "a new status")),
        Sight::Same,
        "our status write"
    );
    assert_eq!(
        t.sight(&conn(2, "a new status")),
        Sight::Changed,
        "a new generation"
    );
    assert_eq!(t.sight(&conn(2, "again")), Sight::Same);
}

#[test]
fn a_requested_check_and_a_deletion_are_worth_a_reconcile() {
    let t = Triggers::default();
    let mut c = conn(1, "");
    assert_eq!(t.sight(&c), Sight::First);
    c.metadata.annotations =
        Some([("s3connection.dev/requested-at".to_string(), "1".to_string())].into());
    assert_eq!(t.sight(&c), Sight::Changed, "a requested-at value");
    assert_eq!(t.sight(&c), Sight::Same, "the same value again");
    c.metadata.annotations =
        Some([("s3connection.dev/requested-at".to_string(), "2".to_string())].into());
    assert_eq!(t.sight(&c), Sight::Changed, "a new requested-at value");
    c.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
    assert_eq!(t.sight(&c), Sight::Changed, "its deletion started");
}

#[test]
fn a_forgotten_connection_is_seen_for_the_first_time_again() {
    let t = Triggers::default();
    assert_eq!(t.sight(&conn(1, "")), Sight::First);
    t.retain(|k| k != key(UID));
    assert_eq!(t.sight(&conn(1, "")), Sight::First);
    let mut no_uid = conn(1, "");
    no_uid.metadata.uid = None;
    assert_eq!(t.sight(&no_uid), Sight::Changed);
    assert_eq!(t.sight(&no_uid), Sight::Changed);
}
