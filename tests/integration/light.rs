//! Full validations and light checks, by the endpoint's own count: a
//! counting relay in front of the S3 endpoint sees every request. Between
//! full validations (`spec.fullValidationInterval`), a Ready connection's
//! validation is one ListObjectsV2 and writes no status; a new version of
//! the Secret and a forced check are full validations; a light check that finds the listing denied
//! validates fully at once and reports what the full validation found.

use s3_connection_operator::crd::{PermissionOutcome, S3Connection};
use serde_json::json;
use testkit::counting::{Counts, Relay};
use testkit::metrics::wait_metrics;
use testkit::{ALL, Operator, Setup, TIMEOUT, TestEnv, annotate, metrics, s3_policy, total};

use crate::OPERATOR;

/// Full validations a day at `fullValidationInterval: 1h`.
const FULLS_PER_DAY: u64 = 24;
/// Light checks a day at `validationInterval: 1m` beside them.
const LIGHTS_PER_DAY: u64 = 1440 - FULLS_PER_DAY;

/// Connection `name` to `bucket`, validated every minute and fully every
/// hour by an operator whose only allowed endpoint is a counting relay in
/// front of the test's S3 endpoint; once it is Ready and validated.
async fn hourly_full(
    env: &TestEnv,
    ns: &str,
    bucket: &str,
    name: &str,
) -> (Operator, Relay, S3Connection) {
    let relay = Relay::in_front_of(env).await;
    let url = relay.url();
    let op = Operator::start(env, ns, &["--allowed-endpoint", &url]).await;
    let spec = env
        .access_key_spec(bucket, "creds")
        .at(&url)
        .interval("1m")
        .full_interval("1h");
    env.apply_connection(ns, name, spec).await;
    let c = env.wait_ready(ns, name, "True", Some("Validated")).await;
    validations(&op, 1.0).await;
    (op, relay, c)
}

/// Wait until the operator has finished `n` validations in all.
async fn validations(op: &Operator, n: f64) {
    // The interval is a minute, give or take its jitter.
    let within = TIMEOUT + std::time::Duration::from_secs(90);
    wait_metrics(op, within, |m| {
        total(m, "s3connection_validations_total") >= n
    })
    .await;
}

fn version(c: &S3Connection) -> String {
    c.metadata.resource_version.clone().unwrap_or_default()
}

#[tokio::test]
async fn between_full_validations_a_light_check_lists_once_and_writes_nothing() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("light", "", &ALL).await;
    let (op, relay, first) = hourly_full(&env, &ns, &bucket, "light").await;
    let full: Counts = relay.counts();
    assert_eq!(full.op("PutObject"), 1, "{:?}", full.ops);
    let status = first.status.clone().unwrap_or_default();
    for p in &status.permissions {
        let proved = p.last_proved.is_some();
        assert_eq!(proved, p.result != PermissionOutcome::Unverified, "{p:?}");
    }
    // What a day costs: the full validation's requests 24 times, one LIST
    // for each light check in between.
    assert_eq!(
        status.requests_per_day,
        Some(i64::try_from(full.s3_requests() * FULLS_PER_DAY + LIGHTS_PER_DAY).unwrap())
    );

    // The next validation, a minute later, is a light check.
    validations(&op, 2.0).await;
    let light = relay.counts().since(&full);
    assert_eq!(
        light.s3_ops().into_iter().collect::<Vec<_>>(),
        [("ListObjectsV2", 1)]
    );
    let after = env
        .connections(&ns)
        .get("light")
        .await
        .expect("the connection");
    assert_eq!(
        version(&after),
        version(&first),
        "a light check writes nothing"
    );
    assert_eq!(after.status, first.status);

    // A new version of the Secret: the next validation, at once, is full.
    let before = relay.counts();
    env.label_secret(&ns, "creds", "rotated", Some("1")).await;
    validations(&op, 3.0).await;
    let again = relay.counts().since(&before);
    assert_eq!(again.op("PutObject"), 1, "{:?}", again.ops);
}

#[tokio::test]
async fn a_forced_check_is_full_and_a_light_check_that_finds_a_change_validates_fully() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("light-change", "", &ALL).await;
    let (op, relay, _) = hourly_full(&env, &ns, &bucket, "change").await;

    // A forced check: the whole probe again, at once.
    let before = relay.counts();
    annotate(
        &env,
        &ns,
        "change",
        "s3connection.dev/requested-at",
        "now-1",
    );
    env.wait_handled(&ns, "change", "now-1").await;
    let forced = relay.counts().since(&before);
    assert_eq!(forced.op("PutObject"), 1, "{:?}", forced.ops);
    let n = total(&metrics(&op).await, "s3connection_validations_total");

    // The user loses s3:ListBucket. The next light check's listing is
    // denied: it validates fully and the status says what that found.
    let without_list: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|a| *a != "s3:ListBucket")
        .collect();
    env.set_user_policy(&user, s3_policy(&bucket, "", &without_list))
        .await;
    let before = relay.counts();
    validations(&op, n + 1.0).await;
    let c = env
        .wait_ready(&ns, "change", "False", Some("PermissionDenied"))
        .await;
    let again = relay.counts().since(&before);
    assert_eq!(
        again.op("ListObjectsV2"),
        2,
        "the light check's and the full one's: {:?}",
        again.ops
    );
    assert_eq!(again.op("PutObject"), 1, "{:?}", again.ops);
    let status = c.status.unwrap_or_default();
    let list = status
        .permissions
        .iter()
        .find(|p| p.action == "s3:ListBucket")
        .expect("a ListBucket row");
    assert_eq!(list.result, PermissionOutcome::Denied);
    assert!(list.last_proved.is_some());
}

#[tokio::test]
async fn a_revoked_write_is_caught_by_the_light_checks_policy_simulation() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("light-sim", "", &ALL).await;
    let user_arn = format!("arn:aws:iam::{}:user/{}", env.account, user.name);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let policy = |object_actions: &[&str]| {
        json!([
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Effect": "Allow", "Action": object_actions, "Resource": format!("{bucket_arn}/*")},
            {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": user_arn},
        ])
    };
    let all_objects = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ReplicateObject",
    ];
    env.set_user_policy(&user, policy(&all_objects)).await;
    // A budget that lets every light check at one minute simulate.
    let op = Operator::start(&env, &ns, &["--daily-request-budget=100000"]).await;
    let spec = env
        .access_key_spec(&bucket, "creds")
        .interval("1m")
        .full_interval("1h");
    env.apply_connection(&ns, "sim", spec).await;
    env.wait_ready(&ns, "sim", "True", Some("Validated")).await;
    validations(&op, 1.0).await;

    // s3:PutObject revoked in IAM, nothing the operator watches. The light
    // check's listing still succeeds; the simulation no longer allows
    // PutObject, so the check validates fully: Denied, within an interval
    // rather than at the next full validation an hour away.
    let without_put = ["s3:GetObject", "s3:DeleteObject", "s3:ReplicateObject"];
    env.set_user_policy(&user, policy(&without_put)).await;
    let within = TIMEOUT + std::time::Duration::from_secs(90);
    let c = env
        .wait_ready_within(&ns, "sim", "False", Some("PermissionDenied"), within)
        .await;
    assert_eq!(testkit::permission(&c, "s3:PutObject"), "Denied");
}

/// When the operator's log says it validated connection `name` (Unix
/// seconds), for each time it did.
fn validated_at(log: &str, name: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("validated: "))
                && v["name"].as_str() == Some(name)
        })
        .filter_map(|v| v["timestamp"].as_str()?.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond() as f64 / 1000.0)
        .collect()
}

#[tokio::test]
async fn a_new_process_spreads_its_first_validations_of_ready_connections_over_the_interval() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("light-restart", "", &ALL).await;
    let names: Vec<String> = (0..8).map(|i| format!("fleet-{i}")).collect();
    let first = Operator::start(&env, &ns, &[]).await;
    for name in &names {
        let spec = env.access_key_spec(&bucket, "creds").interval("1m");
        env.apply_connection(&ns, name, spec).await;
    }
    for name in &names {
        env.wait_ready(&ns, name, "True", Some("Validated")).await;
    }
    first
        .stop(std::time::Duration::from_secs(10))
        .await
        .unwrap();

    // A new process (a restart, a new leader): every connection is Ready
    // as its status says. It validates each once within the interval, at
    // points spread over it, not all at once.
    let next = Operator::start(&env, &ns, &[]).await;
    let within = TIMEOUT + std::time::Duration::from_secs(90);
    next.wait_for_log_matching(
        |log| names.iter().all(|n| !validated_at(log, n).is_empty()),
        within,
    )
    .await;
    let log = next.log();
    let firsts: Vec<f64> = names.iter().map(|n| validated_at(&log, n)[0]).collect();
    let (earliest, latest) = firsts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    // Eight points of a minute, each depending only on the UID: all eight
    // within 10 s of each other is a stampede (for points spread evenly, a
    // chance of about 1 in 40,000).
    assert!(latest - earliest > 10.0, "first validations at {firsts:?}");
}
