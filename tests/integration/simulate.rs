//! `s3:ReplicateObject` decided by IAM policy simulation, through the
//! operator: the dev moto answers `iam:SimulatePrincipalPolicy` with moto's
//! own policy evaluator (hack/moto_simulate.py), so what the user's policy
//! says is what the connection reports: Allowed when it allows, Denied on an
//! explicit deny, Unverified when the user may not simulate its own policy.

use serde_json::{Value, json};
use testkit::{
    ALL, Operator, PROVABLE, Setup, TestEnv, assert_allowed, permission, permission_message,
};

use crate::OPERATOR;

const REPLICATE: &str = "s3:ReplicateObject";

/// Validate connection `data`, asking for every permission, with the keys
/// of a user whose policy is `statements(bucket ARN, user ARN)`, until its
/// Ready condition has `status` and `reason`; `s3:ReplicateObject`'s
/// outcome, which must be `outcome`, and its message, which must name the
/// user and contain `says`.
async fn replication(
    name: &str,
    statements: impl Fn(&str, &str) -> Vec<Value>,
    (status, reason): (&str, &str),
    outcome: &str,
    says: &[&str],
) {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup(name, "", &PROVABLE).await;
    // The policy names the user's ARN, known once the user exists.
    let user_arn = format!("arn:aws:iam::{}:user/{}", env.account, user.name);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    env.set_user_policy(&user, json!(statements(&bucket_arn, &user_arn)))
        .await;
    let spec = env.access_key_spec(&bucket, "creds").permissions(&ALL);
    env.apply_connection(&ns, "data", spec).await;
    let _op = Operator::start(&env, &ns, &[]).await;

    let c = env.wait_ready(&ns, "data", status, Some(reason)).await;
    assert_allowed(&c, &PROVABLE);
    assert_eq!(permission(&c, REPLICATE), outcome);
    let msg = permission_message(&c, REPLICATE);
    assert!(msg.contains(&user_arn), "names the user: {msg}");
    for s in says {
        assert!(msg.contains(s), "says {s:?}: {msg}");
    }
}

/// `s3:*` on the bucket and its objects, and simulation of the user's own
/// policy.
fn s3_and_simulation(bucket: &str, user: &str) -> Vec<Value> {
    vec![
        json!({"Effect": "Allow", "Action": "s3:*", "Resource": [bucket, format!("{bucket}/*")]}),
        json!({"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": user}),
    ]
}

#[tokio::test]
async fn simulation_allowing_replication_makes_it_allowed() {
    replication(
        "sim-allow",
        s3_and_simulation,
        ("True", "Validated"),
        "Allowed",
        &["allows it"],
    )
    .await;
}

#[tokio::test]
async fn explicit_deny_of_replication_makes_it_denied() {
    let with_deny = |b: &str, u: &str| {
        let mut st = s3_and_simulation(b, u);
        st.push(json!({"Effect": "Deny", "Action": REPLICATE, "Resource": format!("{b}/*")}));
        st
    };
    replication(
        "sim-deny",
        with_deny,
        ("False", "PermissionDenied"),
        "Denied",
        &["explicit deny"],
    )
    .await;
}

#[tokio::test]
async fn without_simulation_permission_replication_stays_unverified() {
    let s3_only = |b: &str, u: &str| s3_and_simulation(b, u)[..1].to_vec();
    replication(
        "sim-none",
        s3_only,
        ("True", "Validated"),
        "Unverified",
        &["not possible", "AccessDenied"],
    )
    .await;
}
