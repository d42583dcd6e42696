//! /metrics as the chart serves it: HTTPS, for tokens the API server
//! authenticates and allows `get /metrics`. The operator runs with the
//! chart's ServiceAccount (so the chart's rights to review tokens are what
//! it has); a scraper bound by the chart to its reader ClusterRole reads
//! the metrics, a token without that binding gets 403, no token 401; the
//! probes stay plain HTTP on their own port.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::future::join_all;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use s3_connection_operator::http::access::{REVIEW_BURST, REVIEWS_PER_SECOND};
use testkit::metrics::Metrics;
use testkit::net::{Trust, http_get, https_get};
use testkit::{Operator, TestEnv, unique};

use super::{Installed, Login, as_service_account, install, tenant_with_connection, uninstall};
use crate::OPERATOR;

#[tokio::test]
async fn metrics_need_a_token_the_charts_reader_role_allows() {
    let env = TestEnv::new(OPERATOR).await;
    let tenant = tenant_with_connection(&env, "scraped").await;
    let monitoring = env.namespace("monitoring").await;
    env.service_account(&monitoring, "prometheus", &[]).await;
    // A tenant's own ServiceAccount: authenticated, never bound.
    env.service_account(&tenant, "curious", &[]).await;
    let prometheus = "metrics.reader.serviceAccounts[0].name=prometheus";
    let prometheus_ns = format!("metrics.reader.serviceAccounts[0].namespace={monitoring}");
    let Installed {
        namespace: ns,
        release,
        notes,
    } = install(&env, &[&tenant], &[prometheus, &prometheus_ns]).await;
    assert!(
        notes.contains(&format!(
            "\"{release}-metrics-reader\", bound to {monitoring}/prometheus"
        )),
        "{notes}"
    );
    // The API server took the chart's NetworkPolicy as it is.
    let policy = Api::<NetworkPolicy>::namespaced(env.kube.clone(), &ns)
        .get(&release)
        .await
        .expect("the chart's NetworkPolicy");
    assert_eq!(policy.spec.unwrap().policy_types.unwrap(), ["Ingress"]);

    let dir = tempfile::tempdir().unwrap();
    let Login { kubeconfig, .. } = as_service_account(&env, &ns, &release, dir.path()).await;
    // Ready on the plain health port (what the kubelet probes).
    let op = Operator::start_with(
        &env,
        Some(&tenant),
        &["--metrics-secure=true"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    assert_eq!(http_get(&op.health_addr, "/healthz").await.unwrap().0, 200);
    env.wait_ready(&tenant, "data", "True", Some("Validated"))
        .await;

    let get = |token: Option<String>| {
        let addr = op.metrics_addr.clone();
        async move {
            https_get(&addr, "/metrics", token.as_deref(), Trust::Any)
                .await
                .expect("an HTTPS answer")
        }
    };
    let (code, body) = get(None).await;
    assert_eq!(code, 401, "no token: {body}");
    let (code, body) = get(Some("not-a-token".into())).await;
    assert_eq!(code, 401, "a token the API server does not know: {body}");
    let curious = env.token(&tenant, "curious").await;
    let (code, body) = get(Some(curious.clone())).await;
    assert_eq!(code, 403, "authenticated, not allowed: {body}");
    assert!(!body.contains(&tenant), "{body}");
    let scraper = env.token(&monitoring, "prometheus").await;
    let (code, body) = get(Some(scraper.clone())).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!(
            "s3connection_ready{{namespace=\"{tenant}\",name=\"data\""
        )),
        "{body}"
    );
    // Not in plain HTTP on the metrics port, and not on the health port.
    assert_ne!(
        http_get(&op.metrics_addr, "/metrics")
            .await
            .map(|r| r.0)
            .unwrap_or(0),
        200
    );
    assert_eq!(http_get(&op.health_addr, "/metrics").await.unwrap().0, 404);
    assert!(!op.log().contains(&scraper), "a token is never logged");
    assert!(!op.log().contains("forbidden"), "{}", op.log());

    // A tenant with a token, or with many, cannot make the operator ask
    // the API server at their pace: a known token is answered from the
    // cache, new ones are reviewed at a bounded rate (the rest get 429).
    let creates =
        |body: &str| Metrics::parse(body).get("s3connection_kube_requests_total{verb=\"create\"}");
    let before = creates(&get(Some(scraper.clone())).await.1);
    for _ in 0..30 {
        assert_eq!(get(Some(curious.clone())).await.0, 403);
    }
    let after = creates(&get(Some(scraper.clone())).await.1);
    assert!(
        after - before <= 2.0,
        "30 requests with one token: at most one review (two calls) once its answer expires, not {}",
        after - before
    );
    let started = Instant::now();
    let mut codes = BTreeMap::<u16, usize>::new();
    for batch in 0..6 {
        let answers =
            join_all((0..50).map(|i| get(Some(format!("flood-{batch}-{i}-{}", unique("t"))))))
                .await;
        for (code, _) in answers {
            *codes.entry(code).or_default() += 1;
        }
    }
    let took = started.elapsed().as_secs_f64();
    let (code, body) = get(Some(scraper.clone())).await;
    assert_eq!(
        code, 200,
        "the scraper is still served (its answer is cached): {body}"
    );
    let reviews = creates(&body) - after;
    // The burst, the rate over the time the flood took, and a connection's
    // event or two that may land meanwhile.
    let bound = f64::from(REVIEW_BURST) + f64::from(REVIEWS_PER_SECOND) * took.ceil() + 3.0;
    assert!(
        reviews <= bound,
        "300 new tokens in {took:.1}s cost {reviews} API calls (bound {bound}); answers {codes:?}"
    );
    assert_eq!(
        codes
            .keys()
            .copied()
            .filter(|c| *c != 401 && *c != 429)
            .count(),
        0,
        "each new token is unknown (401) or turned away (429): {codes:?}"
    );
    uninstall(&env, &release, &ns).await;
}

#[tokio::test]
async fn metrics_serve_the_mounted_certificate() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("certdir").await;
    // A CA and a server certificate for localhost, as cert-manager writes
    // them into a Secret (tls.crt, tls.key).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();

    let op = Operator::start(
        &env,
        &ns,
        &[
            "--metrics-secure=true",
            "--metrics-cert-dir",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    // Verified against the CA: the client trusts nothing else.
    let (code, _) = https_get(
        &op.metrics_addr,
        "/metrics",
        None,
        Trust::Ca(ca.der().clone()),
    )
    .await
    .expect("the mounted certificate verifies");
    assert_eq!(code, 401);
    // A client trusting another CA refuses the connection.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    assert!(
        https_get(
            &op.metrics_addr,
            "/metrics",
            None,
            Trust::Ca(other.cert.der().clone())
        )
        .await
        .is_err()
    );
}
