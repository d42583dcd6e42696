//! Two installs share the connections of one namespace by a label, the way
//! Flux shards its controllers: `main` validates the connections without
//! `sharding.s3connection.dev/key`, `shard1` those labelled `shard1`, each
//! electing its leader on a Lease of its own. Each connection is validated
//! and reported by its own shard only: the events about it carry that
//! shard's `reportingInstance`, only that shard's log says it validated it
//! and only its /metrics lists it. Relabelled, a connection is taken up by
//! the other shard, and the first no longer validates it, whatever changes.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use s3_connection_operator::reconcile::Shard;
use testkit::{ALL, Operator, Setup, Spec, TIMEOUT, TestEnv, annotate, await_object, metrics};

use crate::OPERATOR;

const KEY: &str = "sharding.s3connection.dev/key";
const REQUESTED_AT: &str = "s3connection.dev/requested-at";
const MAIN: [&str; 2] = ["home", "mover"];
const ALL_THREE: [&str; 3] = ["home", "mover", "away"];

/// An operator for the connections of `ns` that `selector` matches, with
/// leader election on the Lease its selector names, as pod `pod`.
async fn shard(env: &TestEnv, ns: &str, pod: &str, selector: &str) -> Operator {
    Operator::start_with(
        env,
        Some(ns),
        &[
            "--watch-label-selector",
            selector,
            "--leader-election",
            "--lease-namespace",
            ns,
        ],
        &[("KUBECONFIG", env.kubeconfig.as_str()), ("POD_NAME", pod)],
    )
    .await
}

/// Lines of an operator's log saying it validated connection `name`.
fn validated(log: &str, name: &str) -> usize {
    let named = format!("\"name\":\"{name}\"");
    log.lines()
        .filter(|l| l.contains("validated: ") && l.contains(&named))
        .count()
}

fn validations(op: &Operator, name: &str) -> usize {
    validated(&op.log(), name)
}

/// Whether `op`'s /metrics has series of connection `ns/name` (it is in
/// that operator's cache).
async fn lists(op: &Operator, ns: &str, name: &str) -> bool {
    metrics(op).await.contains(&format!(
        "s3connection_validation_interval_seconds{{namespace=\"{ns}\",name=\"{name}\"}}"
    ))
}

/// Wait for an event of `type_` about connection `name`; who reported it.
async fn reporter(env: &TestEnv, ns: &str, type_: &str, name: &str) -> String {
    let about = |e: &Event| {
        e.type_.as_deref() == Some(type_)
            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
    };
    let what = format!("{type_} event about {name}");
    let e = env.wait_event_where(ns, &what, about).await;
    e.reporting_instance.unwrap_or_default()
}

/// How many events about `name` `instance` reported.
async fn reported(env: &TestEnv, ns: &str, name: &str, instance: &str) -> usize {
    env.events(ns)
        .await
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter(|e| e.reporting_instance.as_deref() == Some(instance))
        .count()
}

/// Ask for a validation of each of `names` now, in that order, and wait
/// until each was answered.
async fn request(env: &TestEnv, ns: &str, names: &[&str], value: &str) {
    for name in names {
        annotate(env, ns, name, REQUESTED_AT, value);
    }
    for name in names {
        env.wait_handled(ns, name, value).await;
    }
}

/// Wait until the Lease that `selector` names is held by `pod`.
async fn wait_lease(env: &TestEnv, ns: &str, selector: &str, pod: &str) {
    let id = Shard::parse(selector).unwrap().id().unwrap();
    let name = format!("s3-connection-operator-{id}");
    let api = Api::<Lease>::namespaced(env.kube.clone(), ns);
    let pod = pod.to_string();
    let held = move |l: Option<&Lease>| {
        l.and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref())
            == Some(pod.as_str())
    };
    await_object(&api, &name, "the shard's Lease held", TIMEOUT, held).await;
}

#[tokio::test]
async fn each_shard_validates_its_own_connections_and_a_relabelled_one_moves() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("shards", "", &ALL).await;
    let (main_selector, shard1_selector) = (format!("!{KEY}"), format!("{KEY}=shard1"));
    let main = shard(&env, &ns, "main", &main_selector).await;
    let shard1 = shard(&env, &ns, "shard1", &shard1_selector).await;

    // Each shard elects its leader on a Lease of its own, named after its
    // selector: both lead.
    wait_lease(&env, &ns, &main_selector, "main").await;
    wait_lease(&env, &ns, &shard1_selector, "shard1").await;
    let leases = Api::<Lease>::namespaced(env.kube.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(leases.items.len(), 2);

    // Each connection with a Secret of its own, not there yet. Hourly:
    // any validation sooner was asked for, or is a change's.
    let spec = |name: &str| -> Spec {
        env.access_key_spec(&bucket, &format!("{name}-creds"))
            .interval("1h")
    };
    for name in MAIN {
        env.apply_connection(&ns, name, spec(name)).await;
    }
    env.apply_labelled_connection(&ns, "away", &[(KEY, "shard1")], spec("away"))
        .await;
    // The missing Secret, then the Secret created (the Secret watches see
    // every Secret; each shard acts for its own connections): each result
    // is reported by the connection's own shard.
    for name in ALL_THREE {
        env.wait_ready(&ns, name, "False", Some("SecretNotFound"))
            .await;
    }
    let keys = [
        ("AWS_ACCESS_KEY_ID", user.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", user.secret_access_key.as_str()),
    ];
    for name in ALL_THREE {
        env.secret(&ns, &format!("{name}-creds"), &keys).await;
    }
    for name in ALL_THREE {
        env.wait_ready(&ns, name, "True", Some("Validated")).await;
    }
    for (name, owner) in [("home", "main"), ("mover", "main"), ("away", "shard1")] {
        for type_ in ["Warning", "Normal"] {
            assert_eq!(reporter(&env, &ns, type_, name).await, owner, "{name}");
        }
    }
    for name in MAIN {
        assert_eq!(reported(&env, &ns, name, "shard1").await, 0, "{name}");
        assert!(lists(&main, &ns, name).await && !lists(&shard1, &ns, name).await);
    }
    assert_eq!(reported(&env, &ns, "away", "main").await, 0);
    assert!(lists(&shard1, &ns, "away").await && !lists(&main, &ns, "away").await);

    // A validation asked of all three: each answered by its own shard.
    request(&env, &ns, &ALL_THREE, "t1").await;
    for name in MAIN {
        assert!(validations(&main, name) >= 3, "{}", main.log());
        assert_eq!(validations(&shard1, name), 0, "{}", shard1.log());
    }
    assert!(validations(&shard1, "away") >= 3, "{}", shard1.log());
    assert_eq!(validations(&main, "away"), 0, "{}", main.log());

    // `mover` is relabelled into shard1, which takes it up.
    let by_main = validations(&main, "mover");
    let events_by_main = reported(&env, &ns, "mover", "main").await;
    env.apply_labelled_connection(&ns, "mover", &[(KEY, "shard1")], spec("mover"))
        .await;
    shard1
        .wait_for_log_matching(|log| validated(log, "mover") >= 1, TIMEOUT)
        .await;
    // A request to `mover`, then one to `home`: once main has answered
    // `home`, its S3Connection watch is past `mover`'s relabelling.
    request(&env, &ns, &["mover", "home"], "t2").await;
    assert!(validations(&shard1, "mover") >= 2, "{}", shard1.log());
    assert!(lists(&shard1, &ns, "mover").await && !lists(&main, &ns, "mover").await);

    // Its Secret breaks: both shards see the change, shard1 alone acts on
    // it. Then `home`'s Secret changes: once main has validated `home`
    // again, its Secret watch is past the change of `mover`'s.
    env.update_secret(&ns, "mover-creds", &[("AWS_SECRET_ACCESS_KEY", "wrong")])
        .await;
    env.wait_ready(&ns, "mover", "False", None).await;
    let by_shard1 = |e: &Event| {
        e.type_.as_deref() == Some("Warning")
            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("mover")
            && e.reporting_instance.as_deref() == Some("shard1")
    };
    env.wait_event_where(&ns, "shard1's Warning about mover", by_shard1)
        .await;
    let home_by_main = validations(&main, "home");
    env.update_secret(&ns, "home-creds", &[("touched", "1")])
        .await;
    main.wait_for_log_matching(|log| validated(log, "home") > home_by_main, TIMEOUT)
        .await;

    assert_eq!(
        validations(&main, "mover"),
        by_main,
        "main no longer validates mover:\n{}",
        main.log()
    );
    assert_eq!(
        reported(&env, &ns, "mover", "main").await,
        events_by_main,
        "nor reports on it"
    );
}
