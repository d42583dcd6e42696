//! A tenant who may create S3Connections, and endpoints that misbehave on
//! purpose: each test runs its own small hostile server on 127.0.0.1
//! ([`server`]: one that records what it is sent, one that streams an
//! endless body, one that accepts connections and never answers) and checks
//! that no Secret value leaves for an endpoint that is not allowed
//! ([`secrets`]), the operator never exits, its memory stays bounded, other
//! tenants are still served in time ([`endpoints`]), and objects the
//! operator did not write stay byte for byte ([`foreign`]), no IRSA token
//! for AWS's audience leaves for a store ([`tokens`]), and requests to a
//! store stay on its allowed host ([`virtual_hosts`]).

mod endpoints;
mod foreign;
mod secrets;
mod server;
mod tokens;
mod virtual_hosts;

use testkit::Spec;

pub(super) const AK: &str = "AWS_ACCESS_KEY_ID";
pub(super) const SK: &str = "AWS_SECRET_ACCESS_KEY";

/// A spec for `bucket` on `endpoint` with the keys of Secret `secret`.
pub(super) fn spec_at(endpoint: &str, bucket: &str, secret: &str) -> Spec {
    Spec::access_key(bucket, endpoint, secret).interval("1m")
}
