//! What a connection costs, as the endpoint counts it. A counting relay in
//! front of the S3 endpoint sees every request; `status.requestsPerDay`
//! must be the S3 requests of one validation times the validations a day
//! at the connection's interval, /metrics must say the same and price it
//! at the operator's prices, and the next validation, which sends the same
//! S3 requests but no STS call (the identity is remembered for 10
//! minutes), must not rewrite the status.

use s3_connection_operator::cost::{ByClass, Class, Prices, Service};
use testkit::counting::{Counts, Relay};
use testkit::metrics::{Metrics, metrics, wait_metrics};
use testkit::{ALL, Operator, Setup, TIMEOUT, TestEnv, total};

use crate::OPERATOR;

/// Validations a day at a 1-minute interval.
const PER_DAY: u64 = 1440;

/// The S3 requests `c` counted, by the class S3 bills them in.
fn by_class(c: &Counts) -> ByClass {
    let mut b = ByClass::default();
    for (op, n) in c.s3_ops() {
        b.0[Class::of(Service::S3, op) as usize] += u32::try_from(n).unwrap();
    }
    b
}

#[tokio::test]
async fn requests_per_day_are_what_the_endpoint_saw() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("cost", "", &ALL).await;
    let relay = Relay::in_front_of(&env).await;
    let url = relay.url();
    let op = Operator::start(
        &env,
        &ns,
        &[
            "--allowed-endpoint",
            &url,
            "--price-tier1-per-thousand=0.01",
        ],
    )
    .await;
    let spec = env
        .access_key_spec(&bucket, "creds")
        .at(&url)
        .interval("1m")
        .full_interval("1m");
    env.apply_connection(&ns, "metered", spec).await;
    let c = env
        .wait_ready(&ns, "metered", "True", Some("Validated"))
        .await;

    // The status is written after the validation's last answer went
    // through the relay; the next validation is a minute away.
    let first = relay.counts();
    let s3 = first.s3_requests();
    assert!(s3 >= 5, "the five probes at least: {:?}", first.ops);
    let per_day = c.status.as_ref().and_then(|s| s.requests_per_day);
    assert_eq!(
        per_day,
        Some(i64::try_from(s3 * PER_DAY).unwrap()),
        "{:?}",
        first.s3_ops()
    );
    assert_eq!(first.op("GetCallerIdentity"), 1, "{:?}", first.ops);

    // /metrics: the same number, priced (tier 1 at the flag's price).
    let series = format!("{{namespace=\"{ns}\",name=\"metered\"}}");
    let m = Metrics::parse(&metrics(&op).await);
    assert_eq!(
        m.get(&format!("s3connection_requests_per_day{series}")),
        (s3 * PER_DAY) as f64
    );
    let dollars =
        Prices::new(0.01, 0.0004).monthly(ByClass(by_class(&first).0.map(|n| n * PER_DAY as u32)));
    let got = m.get(&format!(
        "s3connection_estimated_monthly_cost_dollars{series}"
    ));
    assert!(
        dollars > 0.0 && (got - dollars).abs() < 1e-9,
        "{got} vs {dollars}"
    );
    assert!((m.get("s3connection_all_estimated_monthly_cost_dollars") - dollars).abs() < 1e-9);

    // The next validation, once its status was compared: the same S3
    // requests, no STS call, and no second status write.
    let settled = |m: &str| {
        total(m, "s3connection_validations_total") >= 2.0
            && total(m, "s3connection_status_patches_total") >= 2.0
    };
    let m = wait_metrics(&op, 2 * TIMEOUT, settled).await;
    let both = relay.counts();
    assert_eq!(both.s3_requests(), 2 * s3, "{:?}", both.s3_ops());
    assert_eq!(both.op("GetCallerIdentity"), 1, "{:?}", both.ops);
    assert_eq!(
        total(&m, "s3connection_status_patches_total{outcome=\"written\""),
        1.0,
        "{m}"
    );
    let now = env.connections(&ns).get("metered").await.unwrap();
    assert_eq!(now.status.and_then(|s| s.requests_per_day), per_day);
}
