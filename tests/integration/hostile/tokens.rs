//! IRSA to a store that is not AWS: the store's operator could replay a
//! ServiceAccount token at AWS's STS if its audience were one AWS accepts.
//! A recording endpoint, allowed by the administrator, never receives a
//! token for `sts.amazonaws.com`: without an audience chosen for it the
//! connection says why and no token is minted; with the administrator's
//! (`;audience=`) or the ServiceAccount's (`s3connection.dev/audience`),
//! the token carries exactly that audience.

use testkit::{Operator, Spec, TestEnv, condition, jwt};

use super::server::{Behaviour, HostileServer};
use crate::OPERATOR;

const ROLE: &str = "arn:aws:iam::123456789012:role/replayable";
const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
const EKS_AUDIENCE: &str = "eks.amazonaws.com/audience";
const STORE_AUDIENCE: &str = "s3connection.dev/audience";
const ADMINS: &str = "recorder.s3connection.dev";

/// The web-identity tokens in the requests `server` received.
fn tokens(server: &HostileServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .flat_map(|r| {
            r.split(['&', '\n', '\r'])
                .filter_map(|p| p.strip_prefix("WebIdentityToken="))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// IRSA with ServiceAccount `sa` at the server.
fn irsa(server: &HostileServer, sa: &str) -> Spec {
    Spec::access_key("some-bucket", &server.url, "unused")
        .service_account(sa)
        .interval("1m")
}

#[tokio::test]
async fn no_token_for_aws_leaves_for_a_store_and_each_goes_with_the_audience_chosen_for_it() {
    let env = TestEnv::new(OPERATOR).await;
    let server = HostileServer::start(Behaviour::Record).await;

    // Nobody chose an audience for the store: refused, for every spelling
    // of "AWS's audience" a tenant may put on the ServiceAccount.
    let refused = env.namespace("aud-none").await;
    let _op = Operator::start(&env, &refused, &["--allowed-endpoint", &server.url]).await;
    let accounts: [(&str, &[(&str, &str)]); 3] = [
        ("plain", &[(ROLE_ARN, ROLE)]),
        (
            "eks",
            &[(ROLE_ARN, ROLE), (EKS_AUDIENCE, "sts.amazonaws.com")],
        ),
        (
            "opted-aws",
            &[(ROLE_ARN, ROLE), (STORE_AUDIENCE, "sts.amazonaws.com")],
        ),
    ];
    for (sa, annotations) in accounts {
        env.service_account(&refused, sa, annotations).await;
        env.apply_connection(&refused, sa, irsa(&server, sa)).await;
    }
    for (sa, _) in accounts {
        let c = env
            .wait_ready(&refused, sa, "False", Some("TokenAudienceRefused"))
            .await;
        let message = condition(&c, "Ready").message;
        assert!(message.contains(&server.url), "{sa}: {message}");
        if sa == "opted-aws" {
            assert!(message.contains(STORE_AUDIENCE), "{message}");
        } else {
            assert!(message.contains(";audience="), "{sa}: {message}");
        }
    }
    assert!(
        tokens(&server).is_empty(),
        "no token was sent: {:?}",
        server.requests()
    );

    // The administrator named the store's audience; a ServiceAccount may
    // name its own.
    let allowed = env.namespace("aud-admin").await;
    let entry = format!("{};audience={ADMINS}", server.url);
    let _op = Operator::start(&env, &allowed, &["--allowed-endpoint", &entry]).await;
    env.service_account(&allowed, "plain", &[(ROLE_ARN, ROLE)])
        .await;
    env.service_account(
        &allowed,
        "own",
        &[
            (ROLE_ARN, ROLE),
            (STORE_AUDIENCE, "tenant.s3connection.dev"),
        ],
    )
    .await;
    for sa in ["plain", "own"] {
        env.apply_connection(&allowed, sa, irsa(&server, sa)).await;
    }
    for sa in ["plain", "own"] {
        // The recorder refuses every request: STS said no.
        env.wait_ready(&allowed, sa, "False", Some("AssumeRoleFailed"))
            .await;
    }
    let mut seen: Vec<Vec<String>> = tokens(&server).iter().map(|t| jwt::audiences(t)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        vec![
            vec![ADMINS.to_string()],
            vec!["tenant.s3connection.dev".to_string()]
        ],
        "each token carries the audience chosen for the store, never sts.amazonaws.com"
    );
}
