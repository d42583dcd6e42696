//! Connections with access keys from a Secret, against the real API server
//! and the S3/IAM endpoint with IAM enforcement on: what a validation
//! proves and writes ([`probe`]), credentials from Secrets as they are
//! created, rotated and broken ([`secrets`]), and what `kubectl get` shows
//! ([`columns`]).

mod columns;
mod probe;
mod secrets;

use testkit::{Operator, Spec, TestEnv};

pub(super) const AK: &str = "AWS_ACCESS_KEY_ID";

pub(super) const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// A connection to `bucket` with the key in Secret `secret`, validated
/// every minute.
pub(super) fn spec(env: &TestEnv, bucket: &str, secret: &str) -> Spec {
    env.access_key_spec(bucket, secret).interval("1m")
}

/// No credential string in status, events or the operator's log.
pub(super) async fn assert_no_credentials(
    env: &TestEnv,
    ns: &str,
    op: &Operator,
    secrets: &[&str],
) {
    let statuses = serde_json::to_string(
        &env.connections(ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    )
    .unwrap();
    let events = serde_json::to_string(&env.events(ns).await).unwrap();
    let log = op.log();
    assert!(!log.is_empty());
    for s in secrets {
        assert!(!statuses.contains(s), "credential in status");
        assert!(!events.contains(s), "credential in events");
        assert!(!log.contains(s), "credential in operator log");
    }
}
