//! STS and IAM locations that recently did not answer one set of
//! credentials ([`Outages`]), so that later validations with the same
//! credentials skip them for a while instead of each waiting for the same
//! timeout.
//!
//! An outage is remembered for the credentials that saw it, never for the
//! location as a whole: a throttled or failing principal of one tenant must
//! not turn another tenant's answers into "IAM unavailable". A location that
//! is down for everyone costs each set of credentials one failed call per
//! hold.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which service did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// STS (GetCallerIdentity).
    Sts,
    /// IAM (SimulatePrincipalPolicy).
    Iam,
}

/// Who saw an outage: the service, its location (`scheme://host[:port]`)
/// and the access key ID of the credentials that were refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Seen {
    /// The service.
    pub service: Service,
    /// Where it was asked.
    pub location: String,
    /// The credentials' access key ID (bounded by the value checks before
    /// any request is signed).
    pub scope: String,
}

impl Seen {
    /// `service` at `location`, as seen by the credentials `scope`.
    pub fn new(service: Service, location: &str, scope: &str) -> Self {
        Self {
            service,
            location: location.to_string(),
            scope: scope.to_string(),
        }
    }
}

/// The most outages remembered at once. Keys are chosen by tenants (one per
/// set of credentials), so the table has a bound; when it is full, the
/// outage closest to its end is forgotten first.
pub const OUTAGES_MAX: usize = 4096;

/// STS and IAM locations that recently timed out, could not be reached or
/// answered "not implemented" for some credentials: later validations with
/// those credentials skip them at once for a while instead of each waiting
/// for the same timeout, and say so.
#[derive(Debug)]
pub struct Outages {
    hold: Duration,
    max: usize,
    entries: Mutex<HashMap<Seen, (Instant, String)>>,
}

/// A service being skipped: why, and for how much longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What the service did when it was last asked (for messages).
    pub why: String,
    /// How long it is skipped yet.
    pub for_another: Duration,
}

impl Default for Outages {
    fn default() -> Self {
        Self::new(Duration::from_secs(300))
    }
}

impl Outages {
    /// Outages that are remembered for `hold` each, at most 4,096 of them.
    pub fn new(hold: Duration) -> Self {
        Self::bounded(hold, OUTAGES_MAX)
    }

    fn bounded(hold: Duration, max: usize) -> Self {
        Self {
            hold,
            max,
            entries: Default::default(),
        }
    }

    /// Whether the service is being skipped for these credentials at `now`.
    pub fn skipped(&self, seen: &Seen, now: Instant) -> Option<Skipped> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(seen) {
            Some((until, why)) if *until > now => Some(Skipped {
                why: why.clone(),
                for_another: *until - now,
            }),
            Some(_) => {
                entries.remove(seen);
                None
            }
            None => None,
        }
    }

    /// Remember that the service did not answer these credentials (`why`).
    pub fn note(&self, seen: Seen, why: String, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (until, _)| *until > now);
        if entries.len() >= self.max && !entries.contains_key(&seen) {
            let soonest = entries
                .iter()
                .min_by_key(|(_, (until, _))| *until)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                entries.remove(&k);
            }
        }
        entries.insert(seen, (now + self.hold, why));
    }

    /// How many outages are remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IAM: &str = "https://iam.amazonaws.com";

    #[test]
    fn outages_are_remembered_for_a_while() {
        let o = Outages::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let seen = Seen::new(Service::Iam, IAM, "AKIAA");
        assert!(o.skipped(&seen, t0).is_none());
        o.note(seen.clone(), "timed out".into(), t0);
        let s = o.skipped(&seen, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(s.why, "timed out");
        assert_eq!(s.for_another, Duration::from_secs(240));
        let sts = Seen::new(Service::Sts, IAM, "AKIAA");
        assert!(o.skipped(&sts, t0).is_none());
        let other = Seen::new(Service::Iam, "https://other", "AKIAA");
        assert!(o.skipped(&other, t0).is_none());
        assert!(o.skipped(&seen, t0 + Duration::from_secs(301)).is_none());
    }

    #[test]
    fn one_principals_outage_is_not_anothers() {
        let o = Outages::default();
        let t0 = Instant::now();
        o.note(
            Seen::new(Service::Iam, IAM, "AKIAA"),
            "throttled".into(),
            t0,
        );
        assert!(
            o.skipped(&Seen::new(Service::Iam, IAM, "AKIAA"), t0)
                .is_some()
        );
        assert!(
            o.skipped(&Seen::new(Service::Iam, IAM, "AKIAB"), t0)
                .is_none()
        );
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_soonest_to_end_first() {
        let o = Outages::bounded(Duration::from_secs(300), 3);
        let t0 = Instant::now();
        for (i, key) in ["A", "B", "C", "D"].into_iter().enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            o.note(Seen::new(Service::Sts, IAM, key), "down".into(), at);
        }
        assert_eq!(o.len(), 3);
        let now = t0 + Duration::from_secs(4);
        assert!(o.skipped(&Seen::new(Service::Sts, IAM, "A"), now).is_none());
        for key in ["B", "C", "D"] {
            assert!(o.skipped(&Seen::new(Service::Sts, IAM, key), now).is_some());
        }
        // Noting a remembered key again evicts nothing.
        o.note(Seen::new(Service::Sts, IAM, "D"), "down".into(), now);
        assert_eq!(o.len(), 3);
    }
}
