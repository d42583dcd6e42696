//! What `kubectl get` shows of a connection: the documented columns, the
//! short name and category, and `-o wide`.

use testkit::{ALL, Operator, Setup, TestEnv, condition};

use super::spec;
use crate::OPERATOR;

#[tokio::test]
async fn kubectl_get_prints_the_documented_columns() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, .. } = env.setup("columns", "", &ALL).await;
    let _op = Operator::start(&env, &ns, &[]).await;
    env.apply_connection(
        &ns,
        "shown",
        spec(&env, &format!("{bucket}/reports"), "creds"),
    )
    .await;
    env.wait_ready(&ns, "shown", "True", Some("Validated"))
        .await;
    let out = std::process::Command::new("kubectl")
        .args(["get", "s3connections", "-n", &ns])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "BUCKET",
            "REGION",
            "AUTH",
            "READY",
            "REASON",
            "SUSPENDED",
            "SINCE",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            "shown",
            &format!("{bucket}/reports"),
            testkit::REGION,
            "AccessKey",
            "True",
            "Validated"
        ]
    );
    // SINCE (Ready's lastTransitionTime) is an age like AGE; SUSPENDED is
    // empty, so the row has eight fields.
    assert_eq!(row.len(), 8, "{row:?}");
    for age in &row[6..] {
        assert!(
            age.starts_with(|c: char| c.is_ascii_digit()) && age.ends_with(['s', 'm']),
            "{age:?} in {row:?}"
        );
    }
    // The short name and the category `s3` work too.
    for resource in ["s3c", "s3"] {
        let out = std::process::Command::new("kubectl")
            .args(["get", resource, "-n", &ns, "-o", "name"])
            .env("KUBECONFIG", &env.kubeconfig)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "s3connection.s3connection.dev/shown",
            "kubectl get {resource}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // `-o wide` adds where, who, the S3 requests a day and what the
    // operator said.
    let out = std::process::Command::new("kubectl")
        .args(["get", "s3c", "-n", &ns, "-o", "wide"])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap();
    let row = text.lines().nth(1).unwrap();
    let c = env.connections(&ns).get("shown").await.unwrap();
    let message = condition(&c, "Ready").message;
    let status = c.status.unwrap();
    let identity = status.identity.unwrap();
    let per_day = status.requests_per_day.expect("requestsPerDay").to_string();
    for value in [env.endpoint.as_str(), &identity, &per_day, &message] {
        assert!(row.contains(value), "{value:?} not in -o wide row: {row}");
    }
    let names: Vec<&str> = header.split_whitespace().collect();
    assert!(
        names.ends_with(&["ENDPOINT", "IDENTITY", "REQUESTS/DAY", "MESSAGE"]),
        "{names:?}"
    );
}
