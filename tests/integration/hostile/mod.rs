//! A tenant who may create S3Connections, and endpoints that misbehave on
//! purpose: each test runs its own small hostile server on 127.0.0.1
//! ([`server`]: one that records what it is sent, one that streams an
//! endless body, one that accepts connections and never answers) and checks
//! that no Secret value leaves for an endpoint that is not allowed
//! ([`secrets`]), the operator never exits, its memory stays bounded, other
//! tenants are still served in time ([`endpoints`]), and objects the
//! operator did not write stay byte for byte ([`foreign`]).

mod endpoints;
mod foreign;
mod secrets;
mod server;
mod sts;
mod sts_cache;
mod typed_secrets;

use testkit::{Operator, Spec, TestEnv};

pub(super) const AK: &str = "AWS_ACCESS_KEY_ID";
pub(super) const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// A spec for `bucket` on `endpoint` with the keys of Secret `secret`.
pub(super) fn spec_at(endpoint: &str, bucket: &str, secret: &str) -> Spec {
    Spec::access_key(bucket, endpoint, secret).interval("1m")
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
