//! A tenant who may create S3Connections, and endpoints that misbehave on
//! purpose: each test runs its own small hostile server on 127.0.0.1
//! ([`server`]: one that records what it is sent, one that streams an
//! endless body, one that accepts connections and never answers, one that
//! flaps) and checks that no Secret value leaves for an endpoint that is
//! not allowed ([`secrets`]), the operator never exits, its memory stays
//! bounded, other tenants are still served in time ([`endpoints`],
//! [`fairness`]), annotations grow nothing and forge no log line
//! ([`annotations`]), one principal's IAM trouble is not another's
//! ([`principals`]), what the operator writes to the API server is bounded
//! ([`writes`]), objects the operator did not write stay byte for byte
//! ([`foreign`]), and against a small S3 store the test controls
//! ([`store`]) the probe object is deleted only on condition and a store
//! that returns other bytes than it stored fails the connection
//! ([`probes`]); a hostile STS cannot grow the credential cache
//! ([`sts_cache`], [`sts`]) and only Opaque (and, when required, labelled)
//! Secrets are used as credentials ([`typed_secrets`]); no IRSA token for
//! AWS's audience leaves for a store ([`tokens`]), requests to a store
//! stay on its allowed host ([`virtual_hosts`]), and requests that fail or
//! go unanswered are counted in what a connection costs ([`counted`]).

mod annotations;
mod counted;
mod endpoints;
mod fairness;
mod foreign;
mod principals;
mod probes;
mod secrets;
mod server;
mod store;
mod sts;
mod sts_cache;
mod tokens;
mod typed_secrets;
mod virtual_hosts;
mod writes;

use std::time::Duration;

use testkit::{Operator, Spec, TestEnv};

pub(super) const AK: &str = "AWS_ACCESS_KEY_ID";
pub(super) const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// A spec for `bucket` on `endpoint` with the keys of Secret `secret`.
pub(super) fn spec_at(endpoint: &str, bucket: &str, secret: &str) -> Spec {
    Spec::access_key(bucket, endpoint, secret).interval("1m")
}

/// A new namespace with a Secret `creds` of well-formed keys that no store
/// knows (for endpoints under the test's control).
pub(super) async fn namespace_with_keys(env: &TestEnv, prefix: &str) -> String {
    let ns = env.namespace(prefix).await;
    let keys = [
        (AK, "AKIAIOSFODNN7EXAMPLE"),
        (SK, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ];
    env.secret(&ns, "creds", &keys).await;
    ns
}

/// Everything anyone can read of what the operator said about namespace
/// `ns`: its connections (status included), its events, the operator's log.
pub(super) async fn everything_told(env: &TestEnv, ns: &str, op: &Operator) -> String {
    let conns = env.connections(ns).list(&Default::default()).await.unwrap();
    format!(
        "{}{}{}",
        serde_json::to_string(&conns).unwrap(),
        serde_json::to_string(&env.events(ns).await).unwrap(),
        op.log()
    )
}

/// Create connection `data` to `bucket` on the test endpoint (Secret
/// `creds`) in `ns` and wait at most `within` until it is Ready; how long
/// that took.
pub(super) async fn healthy_ready_within(
    env: &TestEnv,
    ns: &str,
    bucket: &str,
    within: Duration,
) -> Duration {
    let started = tokio::time::Instant::now();
    env.apply_connection(ns, "data", spec_at(&env.endpoint, bucket, "creds"))
        .await;
    env.wait_ready_within(ns, "data", "True", Some("Validated"), within)
        .await;
    started.elapsed()
}
