use super::*;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

fn lease(holder: &str, renewed_s: i64) -> Lease {
    Lease {
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(jiff::Timestamp::from_second(renewed_s).unwrap())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn renewals_keep_leadership_and_their_absence_ends_it() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut c = Confirmation::new("me", s(13), t0);
    assert!(c.observe(Some(&lease("me", 100)), t0 + s(1)).is_ok());
    // The same renewal seen again does not extend leadership...
    assert!(c.observe(Some(&lease("me", 100)), t0 + s(12)).is_ok());
    assert!(c.observe(Some(&lease("me", 100)), t0 + s(15)).is_err());
    // ...a new one does.
    let mut c = Confirmation::new("me", s(13), t0);
    c.observe(Some(&lease("me", 100)), t0 + s(1)).unwrap();
    assert!(c.observe(Some(&lease("me", 110)), t0 + s(11)).is_ok());
    assert!(c.check(t0 + s(23)).is_ok());
    // Unreadable for too long (the API server is away).
    let err = c.check(t0 + s(25)).unwrap_err();
    assert!(err.contains("no renewal"), "{err}");
}

#[test]
fn another_holder_ends_leadership_at_once() {
    let t0 = Instant::now();
    let mut c = Confirmation::new("me", Duration::from_secs(13), t0);
    let err = c.observe(Some(&lease("them", 1)), t0).unwrap_err();
    assert!(err.contains("held by them"), "{err}");
    assert!(c.observe(None, t0).unwrap_err().contains("nobody"));
}

#[test]
fn a_standby_tries_at_once_when_the_lease_it_saw_held_is_free() {
    let free = || Lease {
        spec: Some(LeaseSpec::default()),
        ..Default::default()
    };
    let held = || lease("leader", 1);
    let mut f = Freed::default();
    // Free from the start: the library takes it without help.
    assert!(!f.observe(&Event::Init));
    assert!(!f.observe(&Event::InitApply(free())));
    assert!(!f.observe(&Event::InitDone));
    assert!(!f.observe(&Event::Apply(held())));
    assert!(!f.observe(&Event::Apply(held())), "a renewal");
    assert!(f.observe(&Event::Apply(free())), "released");
    assert!(!f.observe(&Event::Apply(free())), "once");
    // Taken by another, then deleted.
    assert!(!f.observe(&Event::Apply(held())));
    assert!(f.observe(&Event::Delete(held())));
    // Held when the watch went down; a relist shows it released...
    f.observe(&Event::Apply(held()));
    assert!(!f.observe(&Event::Init));
    assert!(f.observe(&Event::InitApply(free())));
    assert!(!f.observe(&Event::InitDone));
    // ...or does not show it at all (deleted meanwhile).
    f.observe(&Event::Apply(held()));
    f.observe(&Event::Init);
    assert!(f.observe(&Event::InitDone));
    assert!(!f.held());
    // An empty holder is no holder.
    f.observe(&Event::Apply(held()));
    assert!(f.observe(&Event::Apply(lease("", 2))));
}
