//! Virtual-hosted-style requests go to `<bucket>.<host>`, a name the
//! allowlist entry `scheme://host:port` does not cover and that may resolve
//! anywhere the domain's DNS says. To a store the operator sends path-style
//! requests unless a wildcard entry allows the bucket hosts; the unit tests
//! of `aws::destinations` show the last check on each request's URI.

use testkit::TestEnv;

use super::server::{Behaviour, HostileServer};
use super::{AK, SK, spec_at};
use crate::OPERATOR;

#[tokio::test]
async fn requests_to_a_store_stay_on_the_allowed_host_without_a_wildcard_entry() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("vhost").await;
    env.secret(
        &ns,
        "creds",
        &[(AK, "AKIAVHOSTKEY00000000"), (SK, "vhost-secret")],
    )
    .await;
    let server = HostileServer::start(Behaviour::Record).await;
    // A host name, not an IP address (the SDK uses path style for those
    // by itself): virtual-hosted style would send to vhost-bucket.localhost.
    let endpoint = server.url.replace("127.0.0.1", "localhost");
    let _op = testkit::Operator::start(&env, &ns, &["--allowed-endpoint", &endpoint]).await;
    let spec = spec_at(&endpoint, "vhost-bucket", "creds").virtual_hosted();
    env.apply_connection(&ns, "c", spec).await;
    env.wait_ready(&ns, "c", "False", Some("AccessDenied"))
        .await;
    let requests = server.requests();
    let host = format!("host: {}", endpoint.trim_start_matches("http://"));
    assert!(
        requests.iter().any(|r| r.contains(" /vhost-bucket")),
        "S3 requests arrived, path style: {requests:?}"
    );
    for r in &requests {
        assert!(
            r.to_ascii_lowercase().contains(&host),
            "every request for the allowed host: {r}"
        );
    }
}
