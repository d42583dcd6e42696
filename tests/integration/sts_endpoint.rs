//! A connection's own STS (`spec.stsEndpoint`): every STS request of the
//! connection goes there when the administrator's allowlist allows it, and
//! nothing leaves (no Secret read, no request to S3 or STS) when it does
//! not. Counting relays in front of the test endpoint see where requests go.
//! An IRSA token goes to an STS endpoint that is not AWS's only with the
//! audience the administrator gave it, never AWS's.

use testkit::counting::{Flavor, Relay, Upstream};
use testkit::{ALL, Operator, PROVABLE, Setup, Spec, TestEnv, condition, s3_policy};

use crate::OPERATOR;

/// A counting relay in front of the test endpoint (moto: S3, STS, IAM).
async fn relay(env: &TestEnv) -> Relay {
    let moto = env
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/');
    Relay::start(Upstream::Plain(moto.into()), Flavor::Aws)
        .await
        .expect("a relay in front of the endpoint")
}

#[tokio::test]
async fn sts_requests_go_to_the_allowed_sts_endpoint() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("own-sts", "", &ALL).await;
    let sts = relay(&env).await;
    let url = sts.url();
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &url]).await;
    let spec = env.access_key_spec(&bucket, "creds").sts_at(&url);
    env.apply_connection(&ns, "own-sts", spec).await;
    let c = env
        .wait_ready(&ns, "own-sts", "True", Some("Validated"))
        .await;
    let seen = sts.counts();
    assert_eq!(seen.op("GetCallerIdentity"), 1, "{:?}", seen.ops);
    assert_eq!(seen.s3_requests(), 0, "S3 stays at spec.endpoint");
    let identity = c.status.and_then(|s| s.identity).unwrap_or_default();
    assert!(identity.contains(":user/"), "{identity}");
}

#[tokio::test]
async fn the_operators_own_assume_role_goes_to_the_sts_endpoint() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("own-sts-op").await;
    let bucket = env.bucket("own-sts-op").await;
    let role = env
        .role(
            "own-sts-op",
            env.operator_trust(),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    let sts = relay(&env).await;
    let _op = Operator::start_as_admin_with(&env, &ns, &["--allowed-endpoint", &sts.url()]).await;
    let spec = Spec::iam_role(&bucket, &env.endpoint, Some(&role), None)
        .permissions(&PROVABLE)
        .sts_at(&sts.url());
    env.apply_connection(&ns, "own", spec).await;
    env.wait_ready(&ns, "own", "True", Some("Validated")).await;
    let seen = sts.counts();
    assert_eq!(seen.op("AssumeRole"), 1, "{:?}", seen.ops);
    assert_eq!(seen.op("GetCallerIdentity"), 1, "{:?}", seen.ops);
}

#[tokio::test]
async fn an_sts_endpoint_not_allowed_gets_no_request() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("sts-refused", "", &ALL).await;
    let (s3, sts) = (relay(&env).await, relay(&env).await);
    let _op = Operator::start(&env, &ns, &["--allowed-endpoint", &s3.url()]).await;
    let spec = env
        .access_key_spec(&bucket, "creds")
        .at(&s3.url())
        .sts_at(&sts.url());
    env.apply_connection(&ns, "refused", spec).await;
    let c = env
        .wait_ready(&ns, "refused", "False", Some("StsEndpointNotAllowed"))
        .await;
    let message = condition(&c, "Ready").message;
    let flag = format!("--allowed-endpoint {}", sts.url());
    assert!(message.contains(&flag), "{message}");
    for relay in [&s3, &sts] {
        let seen = relay.counts();
        assert_eq!((seen.connections, seen.requests), (0, 0), "{:?}", seen.ops);
    }
}

#[tokio::test]
async fn irsa_at_an_sts_endpoint_that_is_not_aws_never_carries_awss_audience() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("own-sts-irsa").await;
    let bucket = env.bucket("own-sts-irsa").await;
    let role = env
        .role(
            "own-sts-irsa",
            env.irsa_trust(&ns, "s3-sync"),
            s3_policy(&bucket, "", &ALL),
        )
        .await;
    env.service_account(&ns, "s3-sync", &[("eks.amazonaws.com/role-arn", &role)])
        .await;
    let (with_audience, without) = (relay(&env).await, relay(&env).await);
    let entry = format!("{};audience=own-sts", with_audience.url());
    let _op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &entry,
            "--allowed-endpoint",
            &without.url(),
        ],
    )
    .await;
    let spec = |sts: &str| {
        Spec::iam_role(&bucket, &env.endpoint, None, Some("s3-sync"))
            .permissions(&PROVABLE)
            .sts_at(sts)
    };
    // The exchange goes to the connection's STS with the administrator's
    // audience for it; the test endpoint's OpenID provider lists only
    // sts.amazonaws.com, so it refuses that audience, as IAM would.
    env.apply_connection(&ns, "own-audience", spec(&with_audience.url()))
        .await;
    let c = env
        .wait_ready(&ns, "own-audience", "False", Some("AssumeRoleFailed"))
        .await;
    let message = condition(&c, "Ready").message;
    assert!(message.contains("with audience own-sts"), "{message}");
    let seen = with_audience.counts();
    assert!(seen.op("AssumeRoleWithWebIdentity") >= 1, "{:?}", seen.ops);

    // Without an audience of its own, no token is minted for it.
    env.apply_connection(&ns, "no-audience", spec(&without.url()))
        .await;
    env.wait_ready(&ns, "no-audience", "False", Some("TokenAudienceRefused"))
        .await;
    assert_eq!(without.counts().requests, 0, "{:?}", without.counts().ops);
}
