use serde_json::json;

use super::*;
use crate::crd::Permission::*;
use crate::outcome::Outcome;

const DAY: Duration = Duration::from_secs(86_400);
const TEN_MINUTES: Duration = Duration::from_secs(600);
const UID: &str = "6f1d2c3b-0a9e-4c8d-8b7a-1234567890ab";
const INPUTS: u64 = 42;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

/// A connection of generation 2 whose status says `reason` (`status` of
/// Ready) for generation `observed`, with `extra` in its status and
/// `annotations` on it.
fn conn(ready: &str, reason: &str, observed: i64, extra: serde_json::Value) -> S3Connection {
    let mut status = json!({
        "observedGeneration": observed,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "m",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        if k != "annotations" {
            status[k] = v.clone();
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": "c", "namespace": "ns", "uid": UID, "generation": 2,
                     "annotations": extra.get("annotations").cloned().unwrap_or(json!({}))},
        "spec": {"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "s"}}},
        "status": status,
    }))
    .unwrap()
}

fn ready() -> S3Connection {
    conn("True", "Validated", 2, json!({}))
}

fn check(r: PermissionOutcome, p: crate::crd::Permission) -> PermissionCheck {
    PermissionCheck::new(p, r, String::new())
}

fn checked(depth: Depth, principal: u64, simulation: Simulation) -> Checked {
    Checked {
        outcome: Outcome {
            depth,
            permissions: vec![check(PermissionOutcome::Allowed, PutObject)],
            ..Outcome::new(Reason::Validated, String::new())
        },
        principal,
        simulation,
    }
}

#[test]
fn only_a_ready_connection_as_its_status_says_is_settled() {
    assert!(settled(&ready()));
    // Another generation, not Ready, another reason, a leftover, no status.
    assert!(!settled(&conn("True", "Validated", 1, json!({}))));
    assert!(!settled(&conn("False", "PermissionDenied", 2, json!({}))));
    assert!(!settled(&conn(
        "Unknown",
        "EndpointUnreachable",
        2,
        json!({})
    )));
    assert!(!settled(&conn(
        "True",
        "Validated",
        2,
        json!({"leftoverProbeObject": ".s3connection-probe/x", "leftoverProbeBucket": "b"})
    )));
    let mut bare = ready();
    bare.status = None;
    assert!(!settled(&bare));
    // A forced check not answered yet; one answered.
    let forced = json!({"annotations": {"s3connection.dev/requested-at": "t2"},
                        "lastHandledRequestedAt": "t1"});
    assert!(!settled(&conn("True", "Validated", 2, forced)));
    let answered = json!({"annotations": {"s3connection.dev/requested-at": "t2"},
                          "lastHandledRequestedAt": "t2"});
    assert!(settled(&conn("True", "Validated", 2, answered)));
}

#[test]
fn light_checks_follow_a_full_validation_until_the_full_interval() {
    let p = Proofs::default();
    let c = ready();
    // Nothing known (a new process): full.
    assert_eq!(
        p.wanted(&c, at(1000), (TEN_MINUTES, DAY), INPUTS, DAILY_REQUESTS),
        Wanted::Full
    );
    p.note(
        UID,
        at(1000),
        INPUTS,
        &checked(Depth::Full, 7, Simulation::NotAsked),
        &[],
    );
    // Simulation on every third light check at the default intervals.
    let light = |simulate| Wanted::Light {
        principal: 7,
        simulate,
    };
    assert_eq!(
        p.wanted(&c, at(1600), (TEN_MINUTES, DAY), INPUTS, DAILY_REQUESTS),
        light(false)
    );
    p.note(
        UID,
        at(1600),
        INPUTS,
        &checked(Depth::Light, 7, Simulation::NotAsked),
        &[],
    );
    assert_eq!(
        p.wanted(&c, at(2200), (TEN_MINUTES, DAY), INPUTS, DAILY_REQUESTS),
        light(false)
    );
    p.note(
        UID,
        at(2200),
        INPUTS,
        &checked(Depth::Light, 7, Simulation::NotAsked),
        &[],
    );
    assert_eq!(
        p.wanted(&c, at(2800), (TEN_MINUTES, DAY), INPUTS, DAILY_REQUESTS),
        light(true)
    );
    // A day after the full validation: full again.
    assert_eq!(
        p.wanted(
            &c,
            at(1000 + 86_400),
            (TEN_MINUTES, DAY),
            INPUTS,
            DAILY_REQUESTS
        ),
        Wanted::Full
    );
    // A new version of the Secret: full.
    assert_eq!(
        p.wanted(&c, at(2800), (TEN_MINUTES, DAY), 43, DAILY_REQUESTS),
        Wanted::Full
    );
    assert_ne!(
        inputs(Some(("creds", Some(1)))),
        inputs(Some(("creds", Some(2))))
    );
    // A clock that went back: full.
    assert_eq!(
        p.wanted(&c, at(999), (TEN_MINUTES, DAY), INPUTS, DAILY_REQUESTS),
        Wanted::Full
    );
    // Full interval equal to the interval: always full.
    assert_eq!(
        p.wanted(
            &c,
            at(1600),
            (TEN_MINUTES, TEN_MINUTES),
            INPUTS,
            DAILY_REQUESTS
        ),
        Wanted::Full
    );
    // Not settled: full.
    let failing = conn("False", "PermissionDenied", 2, json!({}));
    assert_eq!(
        p.wanted(
            &failing,
            at(1600),
            (TEN_MINUTES, DAY),
            INPUTS,
            DAILY_REQUESTS
        ),
        Wanted::Full
    );
}

#[test]
fn simulation_that_iam_refuses_or_that_reality_contradicts_is_not_asked_again() {
    let p = Proofs::default();
    let c = ready();
    let wanted_sim = |p: &Proofs, t| match p.wanted(
        &c,
        at(t),
        (Duration::from_secs(900), DAY),
        INPUTS,
        DAILY_REQUESTS,
    ) {
        Wanted::Light { simulate, .. } => simulate,
        Wanted::Full => panic!("a light check"),
    };
    // At 15 minutes the budget allows a simulation on every light check.
    p.note(
        UID,
        at(0),
        INPUTS,
        &checked(Depth::Full, 7, Simulation::NotAsked),
        &[],
    );
    assert!(wanted_sim(&p, 900));
    p.note(
        UID,
        at(900),
        INPUTS,
        &checked(Depth::Light, 7, Simulation::Unavailable),
        &[],
    );
    assert!(!wanted_sim(&p, 1800));

    // Simulation said PutObject was gone; the full validation it caused
    // found it Allowed (a bucket policy grants it).
    let q = Proofs::default();
    q.note(
        UID,
        at(0),
        INPUTS,
        &checked(Depth::Full, 7, Simulation::NotAsked),
        &[],
    );
    let before = [check(PermissionOutcome::Allowed, PutObject)];
    q.note(
        UID,
        at(900),
        INPUTS,
        &checked(Depth::Full, 7, Simulation::Disagreed),
        &before,
    );
    assert!(!wanted_sim(&q, 1800));
    // Had the requests agreed with the simulation, it stays useful.
    let r = Proofs::default();
    let mut denied = checked(Depth::Full, 7, Simulation::Disagreed);
    denied.outcome.permissions = vec![check(PermissionOutcome::Denied, PutObject)];
    r.note(UID, at(900), INPUTS, &denied, &before);
    assert!(wanted_sim(&r, 1800));
    // Other credentials: what was learned of the earlier ones is forgotten.
    q.note(
        UID,
        at(2000),
        INPUTS,
        &checked(Depth::Full, 8, Simulation::NotAsked),
        &[],
    );
    assert!(wanted_sim(&q, 2900));
    // A light check of other credentials than the proof's is not noted.
    q.note(
        UID,
        at(2900),
        INPUTS,
        &checked(Depth::Light, 9, Simulation::Unavailable),
        &[],
    );
    assert!(wanted_sim(&q, 3800));
}

#[test]
fn the_simulation_budget_at_each_interval() {
    // 10 minutes: 143 light checks and 6 requests of the full one leave
    // 51 simulations: every third light check.
    assert_eq!(simulate_every(TEN_MINUTES, DAY, DAILY_REQUESTS), Some(3));
    assert_eq!(
        simulate_every(Duration::from_secs(900), DAY, DAILY_REQUESTS),
        Some(1)
    );
    assert_eq!(
        simulate_every(Duration::from_secs(3600), DAY, DAILY_REQUESTS),
        Some(1)
    );
    // 5 minutes: the light checks alone use the budget.
    assert_eq!(
        simulate_every(Duration::from_secs(300), DAY, DAILY_REQUESTS),
        None
    );
    // No light checks at all.
    assert_eq!(simulate_every(DAY, DAY, DAILY_REQUESTS), None);
    assert_eq!(
        simulate_every(TEN_MINUTES, TEN_MINUTES, DAILY_REQUESTS),
        None
    );
    // Requests a day at 10 minutes: 6 + 143 + 143 / 3.
    let lights = 143.0;
    assert!(6.0 + lights + (lights / 3.0f64).ceil() <= f64::from(DAILY_REQUESTS));
    // A budget of its own: at 1 minute, a simulation every light check.
    assert_eq!(
        simulate_every(Duration::from_secs(60), DAY, 100_000),
        Some(1)
    );
}

#[test]
fn a_settled_connection_listed_at_the_start_waits_for_its_point_of_the_interval() {
    let p = Proofs::default();
    let c = ready();
    // Not listed (created or relabelled later): at once.
    assert_eq!(p.first_wait(&c, at(1000)), None);
    p.listed(&c, at(1000), TEN_MINUTES);
    let w = crate::reconcile::requeue::spread_within(TEN_MINUTES, UID).as_secs();
    assert!(w < 600, "{w}");
    if w > 1 {
        assert_eq!(p.first_wait(&c, at(1000)), Some(Duration::from_secs(w)));
        // Listed again (a relist): the same point.
        p.listed(&c, at(1001), TEN_MINUTES);
        assert_eq!(p.first_wait(&c, at(1001)), Some(Duration::from_secs(w - 1)));
    }
    // Its time has come: now, and not again.
    assert_eq!(p.first_wait(&c, at(1000 + w as i64)), None);
    assert_eq!(p.first_wait(&c, at(1000)), None);
    // No longer settled while it waits (changed, failing, asked for): at once.
    let q = Proofs::default();
    q.listed(&c, at(1000), Duration::from_secs(86_400));
    let failing = conn("False", "PermissionDenied", 2, json!({}));
    assert_eq!(q.first_wait(&failing, at(1000)), None);
    // Not settled when listed, or validated by this process already: not
    // deferred.
    let r = Proofs::default();
    r.listed(&failing, at(1000), TEN_MINUTES);
    assert_eq!(r.first_wait(&failing, at(1000)), None);
    r.note(
        UID,
        at(900),
        INPUTS,
        &checked(Depth::Full, 7, Simulation::NotAsked),
        &[],
    );
    r.listed(&c, at(1000), TEN_MINUTES);
    assert_eq!(r.first_wait(&c, at(1000)), None);
    // A fleet's first validations spread over the interval: of 1,000
    // UIDs, every tenth of the interval gets between 5% and 15%.
    let mut tenths = [0u32; 10];
    for i in 0..1000 {
        let uid = format!("6f1d2c3b-0a9e-4c8d-8b7a-{i:012}");
        let w = crate::reconcile::requeue::spread_within(TEN_MINUTES, &uid);
        tenths[(w.as_secs() / 60) as usize] += 1;
    }
    assert!(tenths.iter().all(|n| (50..=150).contains(n)), "{tenths:?}");
}
