//! STS and IAM locations that recently did not answer ([`Outages`]), so
//! that later validations skip them for a while instead of each waiting for
//! the same timeout.

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

/// STS and IAM locations that recently timed out, could not be reached or
/// answered "not implemented": later validations skip them at once for a
/// while instead of each waiting for the same timeout, and say so.
#[derive(Debug)]
pub struct Outages {
    hold: Duration,
    entries: Mutex<HashMap<(Service, String), (Instant, String)>>,
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
    /// Outages that are remembered for `hold` each.
    pub fn new(hold: Duration) -> Self {
        Self {
            hold,
            entries: Default::default(),
        }
    }

    /// Whether `service` at `location` is being skipped at `now`.
    pub fn skipped(&self, service: Service, location: &str, now: Instant) -> Option<Skipped> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = (service, location.to_string());
        match entries.get(&key) {
            Some((until, why)) if *until > now => Some(Skipped {
                why: why.clone(),
                for_another: *until - now,
            }),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remember that `service` at `location` did not answer (`why`).
    pub fn note(&self, service: Service, location: &str, why: String, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (until, _)| *until > now);
        entries.insert((service, location.to_string()), (now + self.hold, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_remembered_for_a_while() {
        let o = Outages::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(
            o.skipped(Service::Iam, "https://iam.amazonaws.com", t0)
                .is_none()
        );
        o.note(
            Service::Iam,
            "https://iam.amazonaws.com",
            "timed out".into(),
            t0,
        );
        let s = o
            .skipped(
                Service::Iam,
                "https://iam.amazonaws.com",
                t0 + Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(s.why, "timed out");
        assert_eq!(s.for_another, Duration::from_secs(240));
        assert!(
            o.skipped(Service::Sts, "https://iam.amazonaws.com", t0)
                .is_none()
        );
        assert!(o.skipped(Service::Iam, "https://other", t0).is_none());
        assert!(
            o.skipped(
                Service::Iam,
                "https://iam.amazonaws.com",
                t0 + Duration::from_secs(301)
            )
            .is_none()
        );
    }
}
