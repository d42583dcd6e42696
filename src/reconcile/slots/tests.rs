use std::time::Duration;

use super::*;

/// Whether the place has been given its slot (without waiting).
fn granted(p: &mut Place) -> bool {
    p.granted.try_recv().is_ok()
}

/// A place that was given its slot at once.
fn run(slots: &Slots, ns: &str, ep: &str) -> Place {
    let mut p = slots.place(ns, ep).expect("a place");
    assert!(granted(&mut p), "{ns} against {ep} starts at once");
    p
}

/// A place that waits.
fn wait(slots: &Slots, ns: &str, ep: &str) -> Place {
    let mut p = slots.place(ns, ep).expect("a place");
    assert!(!granted(&mut p), "{ns} against {ep} waits");
    p
}

#[test]
fn one_namespace_against_one_store_uses_every_slot() {
    let slots = Slots::new(4, 2);
    let mut held: Vec<Place> = (0..4).map(|_| run(&slots, "a", "x")).collect();
    assert_eq!(slots.running(), 4);
    // Alone, it is not given more than the total either.
    let mut next = wait(&slots, "a", "x");
    held.pop();
    assert!(
        granted(&mut next),
        "a freed slot goes to the waiter at once"
    );
    assert_eq!(slots.running(), 4);
}

#[test]
fn a_namespace_below_its_share_is_not_kept_out_by_the_ones_that_came_first() {
    let slots = Slots::new(4, 4);
    let _a: Vec<Place> = (0..4).map(|_| run(&slots, "a", "x")).collect();
    // b has nothing and its store is idle: it starts beyond the total.
    let _b1 = run(&slots, "b", "y");
    let _b2 = run(&slots, "b", "y");
    assert_eq!(slots.running(), 6);
    // Now b holds its share (4 over 2 namespaces): its third waits.
    let _b3 = wait(&slots, "b", "y");
}

#[test]
fn many_namespaces_against_one_store_share_as_one() {
    // Four namespaces hold every slot against the hanging store x.
    let slots = Slots::new(4, 4);
    let _held: Vec<Place> = ["a", "b", "c", "d"]
        .iter()
        .map(|ns| run(&slots, ns, "x"))
        .collect();
    // A fifth namespace gets no extra slot for x: x is above its share.
    let _e = wait(&slots, "e", "x");
    // But a fifth namespace against another store does.
    let _f = run(&slots, "f", "y");
    assert_eq!(slots.running(), 5);
}

#[test]
fn a_freed_slot_goes_to_the_waiter_with_the_fewest_for_its_share() {
    let slots = Slots::new(2, 2);
    let mut a1 = Some(run(&slots, "a", "x"));
    let _a2 = run(&slots, "a", "x");
    // Both wait: x holds every slot.
    let mut a3 = wait(&slots, "a", "x");
    let mut b1 = wait(&slots, "b", "x");
    a1.take();
    assert!(granted(&mut b1), "b came later but holds nothing");
    assert!(!granted(&mut a3));
    assert_eq!(slots.running(), 2);
}

#[test]
fn among_equals_the_first_come_goes_first() {
    let slots = Slots::new(2, 2);
    let first = run(&slots, "a", "x");
    let _also = run(&slots, "a", "x");
    let mut second = wait(&slots, "a", "x");
    let mut third = wait(&slots, "a", "x");
    drop(first);
    assert!(granted(&mut second));
    assert!(!granted(&mut third));
}

#[test]
fn never_more_than_twice_the_total() {
    let slots = Slots::new(2, 2);
    let _held: Vec<Place> = ["a", "b", "c", "d"]
        .iter()
        .map(|ns| run(&slots, ns, ns))
        .collect();
    assert_eq!(slots.running(), 4);
    let _e = wait(&slots, "e", "e");
}

#[test]
fn the_line_is_bounded_per_namespace_and_in_all() {
    let slots = Slots::new(2, 1);
    let _a: Vec<Place> = (0..2).map(|_| run(&slots, "a", "x")).collect();
    let _a3 = wait(&slots, "a", "x");
    assert!(slots.place("a", "x").is_none(), "a's one waiter is in line");
    let _b = wait(&slots, "b", "x");
    assert!(slots.place("c", "x").is_none(), "two wait in all");
    // Refused places leave no count behind.
    let state = lock(&slots.state);
    assert_eq!(state.waiting.len(), 2);
    assert_eq!(state.namespaces.len(), 2);
    assert_eq!(state.endpoints["x"].waiting, 2);
}

#[test]
fn freed_places_and_slots_leave_nothing_behind() {
    let slots = Slots::new(2, 2);
    let running = run(&slots, "x", "e");
    let granted_not_taken = run(&slots, "y", "e");
    let waiting = wait(&slots, "z", "e");
    drop(granted_not_taken);
    drop(running);
    drop(waiting);
    assert_eq!(slots.running(), 0);
    let state = lock(&slots.state);
    assert!(state.namespaces.is_empty() && state.endpoints.is_empty());
    assert!(state.waiting.is_empty());
}

#[tokio::test]
async fn a_waiter_is_woken_when_a_slot_is_freed() {
    let slots = Arc::new(Slots::new(1, 1));
    let first = slots.slot(slots.place("x", "e").unwrap()).await;
    let next = {
        let slots = slots.clone();
        let place = slots.place("x", "e").unwrap();
        tokio::spawn(async move { slots.slot(place).await })
    };
    tokio::task::yield_now().await;
    assert!(!next.is_finished(), "the slot is still taken");
    drop(first);
    let taken = tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("the waiter got the slot")
        .unwrap();
    assert_eq!(slots.running(), 1);
    drop(taken);
    assert_eq!(slots.running(), 0);
}

#[test]
fn the_controller_has_room_for_newcomers() {
    let slots = Slots::new(1, 8);
    assert_eq!(slots.queue, 1, "the line is never longer than the total");
    assert_eq!(slots.controller_concurrency(), 4);
}

#[test]
fn endpoints_are_keyed_by_host_and_port() {
    assert_eq!(
        endpoint_key(Some("https://Minio.example:9000/path?x"), "r"),
        "minio.example:9000"
    );
    assert_eq!(endpoint_key(Some("http://u:p@h:1"), "r"), "h:1");
    assert_eq!(endpoint_key(Some("h:2"), "r"), "h:2");
    assert_eq!(
        endpoint_key(None, "eu-west-1"),
        "s3.eu-west-1.amazonaws.com"
    );
    let long = format!("http://{}", "é".repeat(300));
    assert!(endpoint_key(Some(&long), "r").len() <= 256);
}
