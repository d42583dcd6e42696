use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;

/// What a place has been told, without when to come again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Slot,
    Bumped,
}

/// What the place has been told so far (without waiting).
fn told(p: &mut Place) -> Option<Told> {
    p.answer.try_recv().ok().map(|a| match a {
        Answer::Slot => Told::Slot,
        Answer::Bumped(_) => Told::Bumped,
    })
}

/// Whether the place has been given its slot.
fn granted(p: &mut Place) -> bool {
    told(p) == Some(Told::Slot)
}

/// A connection UID not used before.
fn fresh() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("uid-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A place that was given its slot at once.
fn run(slots: &Slots, ns: &str, ep: &str) -> Place {
    let mut p = slots.place(ns, ep, &fresh()).expect("a place");
    assert!(granted(&mut p), "{ns} against {ep} starts at once");
    p
}

/// A place in line for the connection `uid`.
fn wait_as(slots: &Slots, ns: &str, ep: &str, uid: &str) -> Place {
    let mut p = slots.place(ns, ep, uid).expect("a place");
    assert_eq!(told(&mut p), None, "{uid} ({ns} against {ep}) waits");
    p
}

/// A place in line.
fn wait(slots: &Slots, ns: &str, ep: &str) -> Place {
    wait_as(slots, ns, ep, &fresh())
}

fn waiting(slots: &Slots) -> usize {
    lock(&slots.state).waiting.len()
}

#[test]
fn one_namespace_against_one_store_uses_every_slot() {
    let slots = Slots::new(4);
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
fn a_namespace_alone_fills_the_whole_line() {
    let slots = Slots::new(4);
    let mut held: Vec<Place> = (0..4).map(|_| run(&slots, "a", "x")).collect();
    // Never a busy answer while the line has room: all four places are its.
    let mut line: Vec<Place> = (0..4).map(|_| wait(&slots, "a", "x")).collect();
    assert_eq!(waiting(&slots), 4);
    // The line is full and nobody else is in it: the next one is put back.
    assert!(slots.place("a", "x", &fresh()).is_err());
    assert_eq!(waiting(&slots), 4, "a refused place leaves no count");
    // A freed slot is taken at once, and the place it leaves is free again.
    held.pop();
    assert!(granted(&mut line[0]));
    assert!(line[1..].iter_mut().all(|p| told(p).is_none()));
    let _again = wait(&slots, "a", "x");
    assert_eq!(waiting(&slots), 4);
}

/// Two slots, both taken by a against x, and its two waiters (older,
/// newest): the line is full.
fn two_slots_full_of_a() -> (Slots, VecDeque<Place>, Place, Place) {
    let slots = Slots::new(2);
    let held = VecDeque::from([run(&slots, "a", "x"), run(&slots, "a", "x")]);
    let older = wait(&slots, "a", "x");
    let newest = wait(&slots, "a", "x");
    (slots, held, older, newest)
}

#[test]
fn a_second_namespace_at_a_full_line_takes_the_first_s_newest_place() {
    let (slots, mut held, mut older, mut newest) = two_slots_full_of_a();
    let mut b = wait(&slots, "b", "x");
    assert_eq!(told(&mut newest), Some(Told::Bumped));
    assert_eq!(told(&mut older), None, "the older waiter keeps its place");
    assert_eq!(waiting(&slots), 2, "the line stays at the total");
    // The newcomer holds nothing: it is served next.
    held.pop_front();
    assert!(granted(&mut b));
    assert_eq!(told(&mut older), None);
    // The bumped place, dropped later, frees nothing that is not its.
    drop(newest);
    assert_eq!(slots.running(), 2);
    assert_eq!(lock(&slots.state).namespaces["a"].waiting, 1);
}

#[test]
fn a_second_endpoint_at_a_full_line_takes_the_first_s_newest_place() {
    let (slots, mut held, mut older, mut newest) = two_slots_full_of_a();
    // The same namespace, another store.
    let mut y = wait(&slots, "a", "y");
    assert_eq!(told(&mut newest), Some(Told::Bumped));
    assert_eq!(told(&mut older), None);
    held.pop_front();
    assert!(granted(&mut y), "y holds no slot: it is served next");
}

#[test]
fn a_namespace_holding_its_share_of_the_line_takes_no_place() {
    let slots = Slots::new(4);
    let _held: Vec<Place> = (0..4).map(|_| run(&slots, "a", "x")).collect();
    let mut a: Vec<Place> = (0..4).map(|_| wait(&slots, "a", "x")).collect();
    let _b: Vec<Place> = (0..2).map(|_| wait(&slots, "b", "x")).collect();
    let answers: Vec<Option<Told>> = a.iter_mut().map(told).collect();
    let bumped = Some(Told::Bumped);
    assert_eq!(answers, [None, None, bumped, bumped], "a's newest two");
    // b now holds its share (4 places over 2 namespaces) ...
    assert!(slots.place("b", "x", &fresh()).is_err());
    // ... and a, back at its share, takes none back: no ping-pong.
    assert!(slots.place("a", "x", &fresh()).is_err());
    assert_eq!(waiting(&slots), 4);
}

#[test]
fn a_swap_must_leave_the_line_more_even_counting_endpoints_too() {
    let slots = Slots::new(4);
    let _held = [
        run(&slots, "a", "x"),
        run(&slots, "a", "x"),
        run(&slots, "b", "y"),
        run(&slots, "b", "y"),
    ];
    let mut line = [
        wait(&slots, "a", "x"),
        wait(&slots, "a", "x"),
        wait(&slots, "b", "y"),
        wait(&slots, "b", "y"),
    ];
    // c against x: taking b's place would leave x with three of four
    // places; a's leaves both namespaces and endpoints even.
    let _c = wait(&slots, "c", "x");
    let answers: Vec<Option<Told>> = line.iter_mut().map(told).collect();
    assert_eq!(answers, [None, Some(Told::Bumped), None, None]);
    // The line is as even as it gets: the bumped one finds no place.
    assert!(slots.place("a", "x", &fresh()).is_err());
}

/// A connection bumped once keeps its next place; the newest waiter that
/// was not just bumped loses its place instead.
#[test]
fn a_connection_that_lost_its_place_keeps_the_next_one() {
    let slots = Slots::new(2);
    let mut a_slots = VecDeque::from([run(&slots, "a", "x"), run(&slots, "a", "x")]);
    let mut a1 = wait_as(&slots, "a", "x", "a1");
    let mut a2 = wait_as(&slots, "a", "x", "a2");
    let mut b1 = wait(&slots, "b", "x");
    assert_eq!(told(&mut a2), Some(Told::Bumped));
    a_slots.pop_front();
    assert!(granted(&mut b1));
    // a2 comes back just before b's next newcomer: it is a's newest waiter,
    // but it lost its place last time.
    let mut a2 = wait_as(&slots, "a", "x", "a2");
    let _b2 = wait(&slots, "b", "x");
    assert_eq!(told(&mut a2), None, "a2 is not bumped twice in a row");
    assert_eq!(told(&mut a1), Some(Told::Bumped));
}

/// Adversarial timing, deterministically: every round a slot is freed,
/// the connections put back come back, and then a newcomer of another
/// namespace arrives (the moment that would bump a returning connection
/// again every time). None is bumped twice in a row, and every connection
/// of the crowded namespace is served.
#[test]
fn no_connection_is_bumped_every_time() {
    let slots = Slots::new(2);
    let mut running: VecDeque<Place> = VecDeque::new();
    let mut line: Vec<(String, Place)> = vec![];
    let mut out: VecDeque<String> = (0..6).map(|i| format!("a{i}")).collect();
    let mut last_bumped: HashMap<String, bool> = HashMap::new();
    let mut served: HashMap<String, usize> = HashMap::new();
    for round in 0..200 {
        running.pop_front();
        for _ in 0..out.len() {
            let uid = out.pop_front().unwrap();
            match slots.place("a", "x", &uid) {
                Ok(p) => line.push((uid, p)),
                Err(_) => out.push_back(uid),
            }
        }
        if let Ok(p) = slots.place("b", "x", &format!("b{round}")) {
            line.push((format!("b{round}"), p));
        }
        let mut kept = vec![];
        for (uid, mut p) in line.drain(..) {
            match told(&mut p) {
                None => kept.push((uid, p)),
                Some(answer) => {
                    let bumped = answer == Told::Bumped;
                    if uid.starts_with('a') {
                        let before = last_bumped.insert(uid.clone(), bumped);
                        assert!(
                            !(bumped && before == Some(true)),
                            "round {round}: {uid} bumped twice in a row"
                        );
                        if bumped {
                            out.push_back(uid.clone());
                        } else {
                            *served.entry(uid.clone()).or_default() += 1;
                        }
                    }
                    if !bumped {
                        running.push_back(p);
                    }
                }
            }
        }
        line = kept;
        // A validation of a that ended is due again later.
        let ended: Vec<String> = served
            .keys()
            .filter(|u| !out.contains(u) && !line.iter().any(|(l, _)| l == *u))
            .cloned()
            .collect();
        out.extend(ended);
        assert!(waiting(&slots) <= 2, "the line is bounded");
    }
    assert!(
        last_bumped.values().any(|b| *b),
        "the sequence does bump: {last_bumped:?}"
    );
    for i in 0..6 {
        assert!(
            served.get(&format!("a{i}")).copied().unwrap_or(0) > 0,
            "a{i} is served: {served:?}"
        );
    }
}

#[test]
fn a_refused_reconcile_is_told_to_come_again_when_the_line_is_half_drained() {
    let slots = Slots::new(2);
    let _held: Vec<Place> = (0..2).map(|_| run(&slots, "a", "x")).collect();
    let _line: Vec<Place> = (0..2).map(|_| wait(&slots, "a", "x")).collect();
    // No slot given back yet: one is taken to be held FIRST_HOLD.
    let first = slots.place("a", "x", &fresh()).unwrap_err();
    assert_eq!(first, FIRST_HOLD / 2);
    // The next one place's time (FIRST_HOLD over 2 slots) after it.
    let second = slots.place("a", "x", &fresh()).unwrap_err();
    assert!(second > first + FIRST_HOLD / 4 && second <= first + FIRST_HOLD / 2);
}

#[test]
fn those_put_back_come_again_one_place_apart_within_bounds() {
    let mut state = State {
        hold: Some(Duration::from_millis(160)),
        ..State::default()
    };
    let now = Instant::now();
    let ms = |n| Duration::from_millis(n);
    // Half of 160 ms, then 10 ms (160 over 16 places) apart.
    let times: Vec<Duration> = (0..3).map(|_| state.put_back(16, now)).collect();
    assert_eq!(times, [ms(80), ms(90), ms(100)]);
    // Once they are due, the next starts afresh.
    assert_eq!(state.put_back(16, now + ms(500)), ms(80));
    // Slots held for a minute (hanging stores): no later than MAX_RETRY.
    state.hold = Some(Duration::from_secs(60));
    assert_eq!(state.put_back(16, now + ms(600)), MAX_RETRY);
    assert_eq!(state.put_back(16, now + ms(600)), MAX_RETRY);
    // Slots held for no time at all: no sooner than MIN_RETRY.
    let mut quick = State {
        hold: Some(Duration::ZERO),
        ..State::default()
    };
    assert_eq!(quick.put_back(16, now), MIN_RETRY);
}

#[test]
fn the_time_a_slot_is_held_is_a_recent_average() {
    let mut state = State::default();
    let ago = |ms| {
        Instant::now()
            .checked_sub(Duration::from_millis(ms))
            .unwrap()
    };
    state.held(ago(800));
    let first = state.hold.unwrap();
    assert!(first >= Duration::from_millis(800) && first < Duration::from_millis(900));
    // One eighth of the way towards the newest.
    state.held(ago(0));
    let second = state.hold.unwrap();
    assert!(second >= first * 7 / 8 && second < first, "{second:?}");
}

#[test]
fn a_namespace_below_its_share_is_not_kept_out_by_the_ones_that_came_first() {
    let slots = Slots::new(4);
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
    let slots = Slots::new(4);
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
    let slots = Slots::new(2);
    let mut a1 = Some(run(&slots, "a", "x"));
    let _a2 = run(&slots, "a", "x");
    // Both wait: x holds every slot.
    let mut a3 = wait(&slots, "a", "x");
    let mut b1 = wait(&slots, "b", "x");
    a1.take();
    assert!(granted(&mut b1), "b came later but holds nothing");
    assert!(told(&mut a3).is_none());
    assert_eq!(slots.running(), 2);
}

#[test]
fn among_equals_the_first_come_goes_first() {
    let slots = Slots::new(2);
    let first = run(&slots, "a", "x");
    let _also = run(&slots, "a", "x");
    let mut second = wait(&slots, "a", "x");
    let mut third = wait(&slots, "a", "x");
    drop(first);
    assert!(granted(&mut second));
    assert!(told(&mut third).is_none());
}

#[test]
fn never_more_than_twice_the_total() {
    let slots = Slots::new(2);
    let _held: Vec<Place> = ["a", "b", "c", "d"]
        .iter()
        .map(|ns| run(&slots, ns, ns))
        .collect();
    assert_eq!(slots.running(), 4);
    let _e = wait(&slots, "e", "e");
}

#[test]
fn the_line_is_bounded_in_all() {
    let slots = Slots::new(2);
    let _a: Vec<Place> = (0..2).map(|_| run(&slots, "a", "x")).collect();
    let _a3 = wait(&slots, "a", "x");
    let _b = wait(&slots, "b", "x");
    // c holds nothing, but neither a nor b holds more than one place:
    // taking one would not make the line more even.
    assert!(slots.place("c", "x", &fresh()).is_err(), "two wait in all");
    // Refused places leave no count behind.
    let state = lock(&slots.state);
    assert_eq!(state.waiting.len(), 2);
    assert_eq!(state.namespaces.len(), 2);
    assert_eq!(state.endpoints["x"].waiting, 2);
}

#[test]
fn connections_that_lost_their_place_are_remembered_within_a_bound() {
    let slots = Slots::new(2);
    let _held = [run(&slots, "a", "x"), run(&slots, "b", "y")];
    for _ in 0..(2 * BUMPED_PER_SLOT + 10) {
        let _kept = wait(&slots, "a", "x");
        let mut lost = wait(&slots, "a", "x");
        let _b = wait(&slots, "b", "y");
        assert_eq!(told(&mut lost), Some(Told::Bumped));
    }
    let state = lock(&slots.state);
    assert_eq!(state.bumped.len(), 2 * BUMPED_PER_SLOT);
    assert_eq!(state.bumped_order.len(), 2 * BUMPED_PER_SLOT);
}

#[test]
fn freed_places_and_slots_leave_nothing_behind() {
    let slots = Slots::new(2);
    let running = run(&slots, "x", "e");
    let granted_not_taken = run(&slots, "y", "e");
    let waiting = wait(&slots, "z", "e");
    let _z2 = wait(&slots, "z", "e");
    let bumped = slots.place("w", "f", &fresh()).expect("w takes z's place");
    drop(_z2);
    drop(granted_not_taken);
    drop(running);
    drop(waiting);
    assert_eq!(slots.running(), 1, "w was given the slot freed");
    drop(bumped);
    assert_eq!(slots.running(), 0);
    let state = lock(&slots.state);
    assert!(state.namespaces.is_empty() && state.endpoints.is_empty());
    assert!(state.waiting.is_empty() && state.running.is_empty());
}

#[tokio::test]
async fn a_waiter_is_woken_when_a_slot_is_freed() {
    let slots = Arc::new(Slots::new(1));
    let first = slots
        .slot(slots.place("x", "e", "1").unwrap())
        .await
        .unwrap();
    let next = {
        let slots = slots.clone();
        let place = slots.place("x", "e", "2").unwrap();
        tokio::spawn(async move { slots.slot(place).await })
    };
    tokio::task::yield_now().await;
    assert!(!next.is_finished(), "the slot is still taken");
    drop(first);
    let taken = tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("the waiter got the slot")
        .unwrap()
        .expect("a slot, not a lost place");
    assert_eq!(slots.running(), 1);
    drop(taken);
    assert_eq!(slots.running(), 0);
}

#[tokio::test]
async fn a_waiter_that_lost_its_place_is_told_at_once() {
    let (slots, _held, _older, newest) = two_slots_full_of_a();
    let slots = Arc::new(slots);
    let waiter = {
        let slots = slots.clone();
        tokio::spawn(async move { slots.slot(newest).await.is_err() })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "the newest waits");
    let _b = wait(&slots, "b", "x");
    let lost = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the newest was told")
        .unwrap();
    assert!(lost, "it gets no slot");
    assert_eq!(slots.running(), 2);
    assert_eq!(waiting(&slots), 2);
}

#[test]
fn the_controller_has_room_for_newcomers() {
    assert_eq!(Slots::new(1).controller_concurrency(), 4);
    assert_eq!(Slots::new(0).total, 1);
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
