//! Requested-at annotations as large as the API server allows, and with
//! control characters: the operator keeps none of them, echoes none into
//! status or its log, says what is wrong, and stays up within its memory.

use std::time::Duration;

use futures::StreamExt;
use kube::api::PostParams;
use s3_connection_operator::crd::S3Connection;
use serde_json::json;
use testkit::metrics::{metrics, total};
use testkit::process::memory;
use testkit::{Operator, TestEnv, annotate, condition, objects};

use super::spec_at;
use crate::OPERATOR;

const ANNOTATION: &str = "s3connection.dev/requested-at";

fn annotated(name: &str, env: &TestEnv, value: &str) -> S3Connection {
    let mut c = objects::connection(name, &[], spec_at(&env.endpoint, "some-bucket", "absent"));
    c["metadata"]["annotations"] = json!({ ANNOTATION: value });
    serde_json::from_value(c).unwrap()
}

fn rss_mib(op: &Operator) -> f64 {
    memory(op.pid())
        .expect("the operator's /proc status")
        .vm_rss_kib as f64
        / 1024.0
}

#[tokio::test]
async fn huge_request_annotations_are_neither_kept_nor_echoed() {
    const N: usize = 300;
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("annotations").await;
    let mut op = Operator::start(&env, &ns, &[]).await;
    let baseline = rss_mib(&op);

    let huge = "x".repeat(200 * 1024);
    let api = env.connections(&ns);
    futures::stream::iter(0..N)
        .for_each_concurrent(8, |i| {
            let (api, c) = (api.clone(), annotated(&format!("c{i}"), &env, &huge));
            async move {
                api.create(&PostParams::default(), &c)
                    .await
                    .expect("create S3Connection");
            }
        })
        .await;
    // Every one is answered (nothing else is in the namespace).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let validated = total(&metrics(&op).await, "s3connection_validations_total");
        if validated >= N as f64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{validated} of {N} validated in 240 s"
        );
        assert!(op.try_wait().is_none(), "operator exited:\n{}", op.tail(50));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let grown = rss_mib(&op) - baseline;
    eprintln!("{N} connections with 200 KiB annotations: RSS grew {grown:.1} MiB");
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.tail(50));
    assert!(grown < 40.0, "RSS grew {grown:.1} MiB");
    // A validation is counted before its status is written: wait for each.
    for i in 0..N {
        env.wait_ready(&ns, &format!("c{i}"), "False", Some("InvalidSpec"))
            .await;
    }

    for c in api.list(&Default::default()).await.unwrap() {
        let ready = condition(&c, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(ready.message.contains(ANNOTATION), "{}", ready.message);
        let status = c.status.unwrap();
        assert_eq!(status.last_handled_requested_at, None);
        let bytes = serde_json::to_string(&status).unwrap().len();
        assert!(bytes < 8 * 1024, "status of {bytes} bytes");
    }
}

#[tokio::test]
async fn a_request_token_is_echoed_and_a_forged_log_line_is_not() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = env.namespace("requested").await;
    let op = Operator::start(&env, &ns, &["--log-format", "text"]).await;
    let api = env.connections(&ns);
    let token = "2026-12-06T20:00:00Z";
    api.create(&PostParams::default(), &annotated("token", &env, token))
        .await
        .unwrap();
    let c = env
        .wait_ready(&ns, "token", "False", Some("SecretNotFound"))
        .await;
    assert_eq!(
        c.status.unwrap().last_handled_requested_at.as_deref(),
        Some(token)
    );

    // A newline in the value would start a line of its own in text logs.
    annotate(&env, &ns, "token", ANNOTATION, "x\nERROR forged");
    let c = env
        .wait_ready(&ns, "token", "False", Some("InvalidSpec"))
        .await;
    assert_eq!(c.status.unwrap().last_handled_requested_at, None);
    op.wait_for_log(ANNOTATION, Duration::from_secs(30)).await;
    assert!(
        !op.log().lines().any(|l| l.starts_with("ERROR forged")),
        "{}",
        op.log()
    );
}
