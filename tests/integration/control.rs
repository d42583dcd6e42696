//! What a user does to a connection besides writing its spec: ask for a
//! validation now (`s3connection.dev/requested-at`, or Flux's
//! `reconcile.fluxcd.io/requestedAt`), suspend it (`spec.suspend`), and
//! what the metrics say about it while it exists, and after.

use kube::runtime::wait::await_condition;
use s3_connection_operator::crd::S3Connection;
use testkit::{
    ALL, Operator, Setup, Spec, TestEnv, annotate, condition, metrics, s3_policy, total,
};

use crate::OPERATOR;

const REQUESTED_AT: &str = "s3connection.dev/requested-at";
const FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Validated only once an hour: anything sooner was asked for.
fn hourly(env: &TestEnv, bucket: &str) -> Spec {
    env.access_key_spec(bucket, "creds").interval("1h")
}

#[tokio::test]
async fn a_requested_at_annotation_revalidates_now_after_iam_was_fixed_elsewhere() {
    let env = TestEnv::new(OPERATOR).await;
    let read_only = ["s3:ListBucket", "s3:GetObject"];
    let Setup { ns, bucket, user } = env.setup("request", "", &read_only).await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "data", hourly(&env, &bucket))
        .await;
    env.wait_ready(&ns, "data", "False", Some("PermissionDenied"))
        .await;

    // Fixed in IAM, outside the cluster: nothing the operator watches.
    env.set_user_policy(&user, s3_policy(&bucket, "", &ALL))
        .await;
    annotate(&env, &ns, "data", REQUESTED_AT, "2026-11-28T15:00:00Z");
    let (c, took) = env.wait_handled(&ns, "data", "2026-11-28T15:00:00Z").await;
    eprintln!("requested validation handled {took:?} after the annotation");
    let ready = condition(&c, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Validated")
    );

    // Flux's annotation (what `flux reconcile` sets) works the same way.
    env.set_user_policy(&user, s3_policy(&bucket, "", &read_only))
        .await;
    env.apply_connection(&ns, "flux", hourly(&env, &bucket))
        .await;
    env.wait_ready(&ns, "flux", "False", Some("PermissionDenied"))
        .await;
    env.set_user_policy(&user, s3_policy(&bucket, "", &ALL))
        .await;
    annotate(&env, &ns, "flux", FLUX_REQUESTED_AT, "flux-1");
    let (c, _) = env.wait_handled(&ns, "flux", "flux-1").await;
    assert_eq!(condition(&c, "Ready").status, "True");

    // Each connection was validated twice, once when created and once when
    // asked: the first one's request, still on it, asked for nothing more,
    // and the second one's request was not taken for the first one's.
    assert_eq!(
        total(&metrics(&op).await, "s3connection_validations_total"),
        4.0
    );
}

#[tokio::test]
async fn a_suspended_connection_is_not_validated_until_resumed() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("suspend", "", &ALL).await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "data", hourly(&env, &bucket))
        .await;
    env.wait_ready(&ns, "data", "True", Some("Validated")).await;

    env.apply_connection(&ns, "data", hourly(&env, &bucket).suspend(true))
        .await;
    let suspended = |c: Option<&S3Connection>| {
        c.and_then(|c| c.status.as_ref()).is_some_and(|s| {
            s.observed_generation == Some(2)
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Suspended" && c.status == "True")
        })
    };
    let c = tokio::time::timeout(
        testkit::TIMEOUT,
        await_condition(env.connections(&ns), "data", suspended),
    )
    .await
    .expect("Suspended=True within the timeout")
    .unwrap()
    .unwrap();
    // The last result stays, for generation 1.
    let ready = condition(&c, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.observed_generation),
        ("True", Some(1))
    );

    // kubectl get shows it.
    let out = env.kubectl(&["get", "s3c", "data", "-n", &ns]);
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    let col = header
        .iter()
        .position(|h| *h == "SUSPENDED")
        .expect("SUSPENDED column");
    assert_eq!(row[col], "true", "{text}");

    // A request while suspended reaches the operator and is not acted on.
    let m = metrics(&op).await;
    let (validations, aws_calls) = (
        total(&m, "s3connection_validations_total"),
        total(&m, "s3connection_aws_requests_total"),
    );
    let flag = format!("s3connection_suspended{{namespace=\"{ns}\",name=\"data\"}} 1");
    wait_metrics(&op, |m| m.contains(&flag)).await;
    let seen = skipped(&op.log(), "data");
    annotate(&env, &ns, "data", REQUESTED_AT, "while-suspended");
    op.wait_for_log_matching(|log| skipped(log, "data") > seen, testkit::TIMEOUT)
        .await;
    let m = metrics(&op).await;
    assert_eq!(total(&m, "s3connection_validations_total"), validations);
    assert_eq!(total(&m, "s3connection_aws_requests_total"), aws_calls);
    let c = env.connections(&ns).get("data").await.unwrap();
    assert_ne!(
        c.status.unwrap().last_handled_requested_at.as_deref(),
        Some("while-suspended")
    );

    // Resumed: validated again, for the new generation, and not suspended.
    env.apply_connection(&ns, "data", hourly(&env, &bucket))
        .await;
    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    let status = c.status.unwrap();
    assert_eq!(status.observed_generation, Some(3));
    assert!(status.conditions.iter().all(|c| c.type_ != "Suspended"));
    let m = metrics(&op).await;
    assert!(total(&m, "s3connection_validations_total") > validations);
}

/// Lines of an operator log saying it left `name` alone as suspended.
fn skipped(log: &str, name: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("suspended: not validated") && l.contains(&format!("\"{name}\"")))
        .count()
}

#[tokio::test]
async fn per_connection_series_come_and_go_with_the_connection() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("series", "", &ALL).await;
    let op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(&ns, "measured", hourly(&env, &bucket))
        .await;
    env.wait_ready(&ns, "measured", "True", Some("Validated"))
        .await;

    let ours = format!("namespace=\"{ns}\",name=\"measured\"");
    // The operator's cache hears of its own status write a moment later.
    let ready = format!("s3connection_ready{{{ours},reason=\"Validated\"}} 1");
    let m = wait_metrics(&op, |m| m.contains(&ready)).await;
    for series in [
        format!("s3connection_ready{{{ours},reason=\"Validated\"}} 1"),
        format!("s3connection_last_success_timestamp_seconds{{{ours}}} "),
        format!("s3connection_validation_interval_seconds{{{ours}}} 3600"),
        format!("s3connection_suspended{{{ours}}} 0"),
        "s3connection_connections{ready=\"True\"} 1".to_string(),
        "s3connection_aws_requests_total{service=\"S3\",operation=\"PutObject\",outcome=\"ok\"} 1"
            .to_string(),
        "s3connection_aws_request_duration_seconds_count{service=\"S3\",operation=\"HeadBucket\"}"
            .to_string(),
        "s3connection_build_info{version=\"".to_string(),
        "process_resident_memory_bytes ".to_string(),
        "process_cpu_seconds_total ".to_string(),
    ] {
        assert!(m.contains(&series), "{series:?} not in /metrics:\n{m}");
    }

    env.connections(&ns)
        .delete("measured", &Default::default())
        .await
        .unwrap();
    wait_metrics(&op, |m| !m.contains(&ours)).await;
}

/// Poll /metrics until `wanted` holds; the text that satisfied it.
async fn wait_metrics(op: &Operator, wanted: impl Fn(&str) -> bool) -> String {
    testkit::metrics::wait_metrics(op, testkit::TIMEOUT, wanted).await
}
