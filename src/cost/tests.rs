use std::sync::Arc;
use std::time::Duration;

use super::*;

/// Every S3 operation the operator sends, and the class AWS bills it in.
#[test]
fn s3_operations_fall_in_the_classes_aws_prices() {
    for (op, class) in [
        ("PutObject", Class::Tier1),
        ("CopyObject", Class::Tier1),
        ("ListObjectsV2", Class::Tier1),
        ("ListObjectVersions", Class::Tier1),
        ("ListBuckets", Class::Tier1),
        ("CreateMultipartUpload", Class::Tier1),
        ("UploadPart", Class::Tier1),
        ("CompleteMultipartUpload", Class::Tier1),
        ("GetObject", Class::Tier2),
        ("HeadObject", Class::Tier2),
        ("HeadBucket", Class::Tier2),
        ("GetObjectLockConfiguration", Class::Tier2),
        ("GetBucketLocation", Class::Tier2),
        ("SelectObjectContent", Class::Tier2),
        ("DeleteObject", Class::Free),
        ("DeleteObjects", Class::Free),
        ("AbortMultipartUpload", Class::Free),
        ("SomethingNew", Class::Tier2),
    ] {
        assert_eq!(Class::of(Service::S3, op), class, "{op}");
    }
}

#[test]
fn sts_and_iam_are_free_whatever_the_operation() {
    for (service, op) in [
        ("STS", "GetCallerIdentity"),
        ("STS", "AssumeRole"),
        ("STS", "AssumeRoleWithWebIdentity"),
        ("IAM", "SimulatePrincipalPolicy"),
        ("IAM", "PutUserPolicy"),
        ("KMS", "GenerateDataKey"),
    ] {
        assert_eq!(Class::of(Service::of(service), op), Class::Free);
    }
    assert_eq!(Service::of("STS"), Service::Sts);
    assert_eq!(Service::of("s3"), Service::Other, "the SDK's exact names");
}

#[test]
fn label_values_are_stable() {
    use strum::IntoEnumIterator;
    let classes: Vec<_> = Class::iter().map(Class::as_str).collect();
    assert_eq!(classes, ["tier1", "tier2", "free"]);
    let services: Vec<_> = Service::iter().map(Service::as_str).collect();
    assert_eq!(services, ["S3", "STS", "IAM", "other"]);
    assert_eq!(Class::iter().count(), Class::COUNT);
    assert_eq!(Service::iter().count(), Service::COUNT);
}

#[test]
fn requests_per_day_at_an_interval() {
    let minutes = |m: u64| Duration::from_secs(60 * m);
    // `n` S3 requests a validation, every validation full.
    let daily = |n: u32, every: Duration| {
        let mut requests = Requests::default();
        requests.0[Service::S3 as usize] = ByClass([0, n, 0]);
        Usage {
            requests,
            interval: every,
            full_interval: every,
            light: ByClass::default(),
        }
        .s3_per_day()
    };
    assert_eq!(daily(5, minutes(1)), 7200);
    assert_eq!(daily(5, minutes(10)), 720);
    assert_eq!(daily(5, minutes(60 * 24)), 5);
    assert_eq!(daily(0, minutes(10)), 0);
    // 86400 / 420 = 205.71...: to the nearest request.
    assert_eq!(daily(1, minutes(7)), 206);
    assert_eq!(daily(3, Duration::from_secs(90)), 2880);
    // Nothing overflows, even for an interval that rules forbid.
    assert_eq!(daily(u32::MAX, Duration::ZERO), u64::from(u32::MAX));
    assert_eq!(validations_per_day(minutes(10)), 144.0);
}

#[test]
fn monthly_dollars_at_the_default_prices() {
    let p = Prices::default();
    // 2 tier-1, 2 tier-2, 1 free per validation, every 10 minutes:
    // 144 validations a day, 4320 a month.
    let r = ByClass([2, 2, 1]);
    let month = p.monthly(ByClass(r.0.map(|n| n * 144)));
    let expected = 4320.0 * (2.0 * 0.005 + 2.0 * 0.0004) / 1000.0;
    assert!((month - expected).abs() < 1e-12, "{month} vs {expected}");
    assert!((month - 0.046656).abs() < 1e-9);
    // Deletes cost nothing, whatever their number.
    assert_eq!(p.monthly(ByClass([0, 0, 1000])), 0.0);
    let custom = Prices::new(1.0, 0.0);
    assert_eq!(custom.per_thousand(Class::Tier1), 1.0);
    assert_eq!(custom.per_thousand(Class::Free), 0.0);
    // 1 tier-1 request a day for 30 days at $1 per 1,000.
    let daily = custom.monthly(ByClass([1, 5, 0]));
    assert!((daily - 0.03).abs() < 1e-12);
}

#[test]
fn prices_from_flags() {
    assert_eq!(parse_price("0.005"), Ok(0.005));
    assert_eq!(parse_price(" 0 "), Ok(0.0));
    for bad in ["-1", "NaN", "inf", "1e9", "", "five"] {
        let e = parse_price(bad).unwrap_err();
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn counts_saturate_and_never_go_below_zero() {
    let mut r = Requests::default();
    r.note(Service::S3, "DeleteObject", false);
    assert_eq!(r, Requests::default());
    r.0[0].0[0] = u32::MAX;
    r.note(Service::S3, "PutObject", true);
    assert_eq!(r.of(Service::S3).get(Class::Tier1), u32::MAX);
}

#[tokio::test]
async fn a_validation_counts_what_its_task_sends() {
    let tally = Arc::new(Tally::default());
    sent("S3", "PutObject"); // no validation: nowhere
    counting(tally.clone(), async {
        sent("S3", "PutObject");
        sent("S3", "HeadBucket");
        sent("S3", "DeleteObject");
        sent("STS", "AssumeRole");
        sent("IAM", "SimulatePrincipalPolicy");
        sent("IAM", "SimulatePrincipalPolicy");
        not_sent("IAM", "SimulatePrincipalPolicy");
        tokio::task::yield_now().await;
        sent("S3", "ListObjectsV2");
    })
    .await;
    let r = tally.requests();
    assert_eq!(r.of(Service::S3), ByClass([2, 1, 1]));
    assert_eq!(r.to(Service::S3), 4);
    assert_eq!(r.to(Service::Sts), 1);
    assert_eq!(r.to(Service::Iam), 1);
    assert_eq!(r.to(Service::Other), 0);
    let u = Usage {
        requests: r,
        interval: Duration::from_secs(60),
        full_interval: Duration::from_secs(60),
        light: ByClass([1, 0, 0]),
    };
    // Every validation full: the light checks' requests do not count.
    assert_eq!(u.s3_per_day(), 4 * 1440);
    assert_eq!(u.daily(), ByClass([2 * 1440, 1440, 1440]));
}

#[test]
fn a_day_of_full_validations_and_light_checks() {
    // The defaults: every 10 minutes, a full one a day of 5 S3 requests
    // (2 tier 1, 2 tier 2, 1 free), 143 light checks of one LIST.
    let u = Usage {
        requests: {
            let mut r = Requests::default();
            for op in [
                "ListObjectsV2",
                "PutObject",
                "HeadBucket",
                "GetObject",
                "DeleteObject",
            ] {
                r.note(Service::S3, op, true);
            }
            r
        },
        interval: Duration::from_secs(600),
        full_interval: Duration::from_secs(86_400),
        light: ByClass([1, 0, 0]),
    };
    assert_eq!(u.daily(), ByClass([2 + 143, 2, 1]));
    assert_eq!(u.s3_per_day(), 148);
}

#[tokio::test]
async fn validations_in_other_tasks_count_apart() {
    let (a, b) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let one = tokio::spawn(counting(a.clone(), async {
        for _ in 0..3 {
            sent("S3", "GetObject");
            tokio::task::yield_now().await;
        }
    }));
    let two = tokio::spawn(counting(b.clone(), async {
        sent("S3", "GetObject");
    }));
    one.await.unwrap();
    two.await.unwrap();
    assert_eq!(a.requests().to(Service::S3), 3);
    assert_eq!(b.requests().to(Service::S3), 1);
}
