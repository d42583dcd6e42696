use futures::StreamExt;
use serde_json::json;

use super::*;

fn conn(ns: &str, name: &str, uid: &str) -> S3Connection {
    serde_json::from_value(json!({
        "apiVersion": "s3connection.dev/v1alpha1",
        "kind": "S3Connection",
        "metadata": {"name": name, "namespace": ns, "uid": uid},
        "spec": {"bucket": "b", "region": "us-east-1", "auth": {"accessKey": {"secretName": "s"}}},
    }))
    .unwrap()
}

fn uid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn names(refs: &[ObjectRef<S3Connection>]) -> Vec<String> {
    refs.iter()
        .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or(""), r.name))
        .collect()
}

/// The next `n` connections the stream hands out, and the (paused) time
/// each came at, in seconds after `t0`.
async fn next(
    s: &mut (impl Stream<Item = ObjectRef<S3Connection>> + Unpin),
    n: usize,
    t0: Instant,
) -> Vec<(String, u64)> {
    let mut out = vec![];
    for _ in 0..n {
        let r = s.next().await.expect("the stream never ends");
        out.push((names(&[r])[0].clone(), t0.elapsed().as_secs()));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn connections_come_due_in_time_order_and_a_new_request_replaces_the_old() {
    let w = Wakeups::default();
    let mut s = Box::pin(w.open(None, 1000));
    let t0 = Instant::now();
    w.after(&conn("a", "late", &uid(1)), Duration::from_secs(30));
    w.after(&conn("b", "early", &uid(2)), Duration::from_secs(10));
    w.after(&conn("a", "moved", &uid(3)), Duration::from_secs(5));
    // Asked again: later this time. Only the newer request stands.
    w.after(&conn("a", "moved", &uid(3)), Duration::from_secs(20));
    assert_eq!(w.len(), 3);
    assert_eq!(
        next(&mut s, 3, t0).await,
        vec![
            ("b/early".to_string(), 10),
            ("a/moved".to_string(), 20),
            ("a/late".to_string(), 30)
        ]
    );
    assert!(w.is_empty(), "a connection handed out waits no more");
}

#[tokio::test(start_paused = true)]
async fn an_earlier_request_wakes_a_stream_waiting_for_a_later_one() {
    let w = Arc::new(Wakeups::default());
    let mut s = Box::pin(w.open(None, 1000));
    let t0 = Instant::now();
    w.after(&conn("a", "hour", &uid(1)), Duration::from_secs(3600));
    let waker = w.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        waker.after(&conn("a", "soon", &uid(2)), Duration::from_secs(3));
    });
    assert_eq!(next(&mut s, 1, t0).await, vec![("a/soon".to_string(), 5)]);
    assert_eq!(
        next(&mut s, 1, t0).await,
        vec![("a/hour".to_string(), 3600)]
    );
}

#[tokio::test(start_paused = true)]
async fn each_namespace_goes_to_its_controller_and_a_new_one_starts_empty() {
    let w = Wakeups::default();
    let mut a = Box::pin(w.open(Some("a".into()), 1000));
    let _b = w.open(Some("b".into()), 1000);
    let t0 = Instant::now();
    w.after(&conn("b", "x", &uid(1)), Duration::from_secs(1));
    w.after(&conn("a", "y", &uid(2)), Duration::from_secs(2));
    // No controller watches namespace c: nothing is kept for it.
    w.after(&conn("c", "z", &uid(3)), Duration::from_secs(1));
    assert_eq!(w.len(), 2);
    assert_eq!(next(&mut a, 1, t0).await, vec![("a/y".to_string(), 2)]);
    // The controller of b starts again: what its predecessor had waiting
    // is dropped (the new one validates its first list).
    let _b = w.open(Some("b".into()), 1000);
    assert!(w.is_empty());
}

#[tokio::test(start_paused = true)]
async fn gone_connections_are_forgotten() {
    let w = Wakeups::default();
    let _s = w.open(None, 1000);
    for i in 0..10 {
        w.after(
            &conn("a", &format!("c{i}"), &uid(i)),
            Duration::from_secs(60),
        );
    }
    let kept = key(&uid(3));
    w.retain(|k| k == kept);
    assert_eq!(w.len(), 1);
    let q = w.queues()[0].clone();
    let s = q.state();
    assert_eq!(s.order.len(), 1);
    assert_eq!(s.namespaces.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn many_due_at_once_come_in_bounded_batches_and_all_come() {
    let w = Wakeups::default();
    let q = {
        let _s = w.open(None, 1000);
        w.queues()[0].clone()
    };
    let n = BATCH as u32 + 100;
    for i in 0..n {
        w.after(
            &conn("a", &format!("c{i}"), &uid(i)),
            Duration::from_secs(1),
        );
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    let (first, next) = q.take_due(Instant::now());
    assert_eq!(first.len(), BATCH);
    assert!(
        next.is_some_and(|t| t <= Instant::now()),
        "the rest are due too"
    );
    let (rest, next) = q.take_due(Instant::now());
    assert_eq!(rest.len(), 100);
    assert_eq!(next, None);
}

#[test]
fn a_connection_without_a_uid_or_name_is_not_kept() {
    let w = Wakeups::default();
    let _s = w.open(None, 1000);
    let mut c = conn("a", "x", &uid(1));
    c.metadata.uid = None;
    w.after(&c, Duration::from_secs(1));
    assert!(w.is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_more_than_the_limit_are_out_until_their_reconciles_end() {
    let w = Arc::new(Wakeups::default());
    let mut s = Box::pin(w.open(None, 2));
    let t0 = Instant::now();
    for i in 0..5 {
        w.after(&conn("a", &format!("c{i}"), &uid(i)), Duration::ZERO);
    }
    let first = next(&mut s, 2, t0).await;
    assert_eq!(first.iter().map(|(_, t)| *t).collect::<Vec<_>>(), [0, 0]);
    // The third waits: both are out. One reconcile ends after 5 s.
    let ender = w.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(ender.turn(&uid(0)));
    });
    let third = next(&mut s, 1, t0).await;
    assert_eq!(
        third[0].1, 5,
        "handed out when a reconcile ended: {third:?}"
    );
    // Nobody ends the others' reconciles (deleted before their turn, say):
    // they stop counting after OUT_FOR.
    let rest = next(&mut s, 2, t0).await;
    assert!(
        rest.iter().all(|(_, t)| *t >= OUT_FOR.as_secs()),
        "{rest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_of_a_connection_not_out_changes_nothing() {
    let w = Wakeups::default();
    let mut s = Box::pin(w.open(None, 1));
    let t0 = Instant::now();
    w.after(&conn("a", "x", &uid(1)), Duration::ZERO);
    w.after(&conn("a", "y", &uid(2)), Duration::ZERO);
    assert_eq!(next(&mut s, 1, t0).await.len(), 1);
    // A reconcile kube triggered for some other connection.
    drop(w.turn(&uid(9)));
    let q = w.queues()[0].clone();
    assert_eq!(q.take_due(Instant::now()).0.len(), 0, "still one out");
}

#[tokio::test(start_paused = true)]
async fn a_deleted_connection_is_forgotten_and_frees_its_place() {
    let w = Wakeups::default();
    let mut s = Box::pin(w.open(None, 1));
    let t0 = Instant::now();
    w.after(&conn("a", "gone", &uid(1)), Duration::ZERO);
    w.after(&conn("a", "next", &uid(2)), Duration::ZERO);
    w.after(&conn("a", "later", &uid(3)), Duration::from_secs(1));
    assert_eq!(next(&mut s, 1, t0).await, vec![("a/gone".to_string(), 0)]);
    // Deleted before its reconcile: its place is free at once, and a
    // deleted connection that was waiting never comes.
    w.forget(&uid(1));
    w.forget(&uid(3));
    assert_eq!(next(&mut s, 1, t0).await, vec![("a/next".to_string(), 0)]);
    assert_eq!(w.len(), 0);
}
