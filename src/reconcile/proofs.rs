//! Full validations and light checks: what this process knows of each
//! connection's last full validation ([`Proofs`]), and whether the next
//! validation may be a light check ([`Proofs::wanted`]).
//!
//! A light check is allowed only for a connection whose status answers
//! for its current generation, is Ready (`Validated`), records no leftover
//! probe object and has no forced check pending ([`settled`]), whose last
//! full validation this process made less than `fullValidationInterval`
//! ago, and only if the credentials are still the same principal's (the
//! validation checks that once it has them). IAM policy simulation rides
//! along on every `k`-th light check, `k` chosen so that one connection's
//! requests stay within a budget a day ([`DAILY_REQUESTS`] unless
//! `--daily-request-budget` says otherwise; [`simulate_every`]);
//! never for credentials whose simulation IAM refused, or contradicted
//! reality (a bucket policy grants what the identity policy does not).
//!
//! After a restart nothing is known: each connection's first validation
//! is a full one, and for a settled connection listed at the start it
//! waits until a point of its interval that depends on its UID
//! ([`Proofs::listed`]), so that a new leader validates the fleet at the
//! steady rate, not all at once.

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;

use super::per_uid::{Key, PerUid, key};
use super::requested_at;
use crate::cost::validations_per_day;
use crate::crd::{CondStatus, PermissionOutcome, S3Connection};
use crate::credentials::versions::Version;
use crate::outcome::{Depth, PermissionCheck, Reason};
use crate::probe::Simulation;
use crate::status::conditions::{ConditionType, find};
use crate::validation::{Checked, Wanted};

/// Requests a day one connection's validations aim to stay within, at the
/// default intervals (S3, STS and IAM together), unless
/// `--daily-request-budget` says otherwise.
pub const DAILY_REQUESTS: u32 = 200;

/// The requests a full validation sends at most with every permission
/// (HeadBucket, ListObjectsV2, PutObject, GetObject, DeleteObject, and a
/// policy simulation), for the budget.
const FULL_REQUESTS: f64 = 6.0;

/// The last full validation of a connection, as this process made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proof {
    /// When (Unix seconds).
    at: i64,
    /// Whose credentials proved it ([`crate::credentials::Resolved::principal`]).
    principal: u64,
    /// The version of what it read the credentials from ([`inputs`]).
    inputs: u64,
    /// Light checks since.
    lights: u32,
    /// IAM policy simulation is of no use for these credentials.
    no_simulation: bool,
}

/// The last full validation of each connection, and when a connection
/// first seen by this process is due.
#[derive(Default)]
pub struct Proofs {
    proofs: PerUid<Proof>,
    /// Unix seconds a settled connection first seen by this process is
    /// validated at: a restart does not validate the whole fleet at once.
    due: PerUid<i64>,
}

impl Proofs {
    /// `conn` came with a first list of the S3Connection watch (this
    /// process starting, or becoming leader; a relist after the watch
    /// failed): if this process has not validated it and its status is
    /// settled ([`settled`]), its first validation is due at a point of its
    /// `interval` that depends on its UID, so that the fleet's first
    /// validations spread over one interval instead of all running at
    /// once. A connection that arrives later (created, relabelled into this
    /// shard) is validated at once.
    pub fn listed(&self, conn: &S3Connection, now: Timestamp, interval: Duration) {
        let uid = conn.uid().unwrap_or_default();
        let k = key(&uid);
        if self.proofs.map().contains_key(&k) || !settled(conn) {
            return;
        }
        let wait = super::requeue::spread_within(interval, &uid);
        self.due
            .map()
            .entry(k)
            .or_insert_with(|| now.as_second().saturating_add(wait.as_secs() as i64));
    }

    /// How long the first validation of `conn` still waits ([`Proofs::listed`]);
    /// `None`: validate now. A connection no longer settled (changed,
    /// failing, asked for) waits no more.
    pub fn first_wait(&self, conn: &S3Connection, now: Timestamp) -> Option<Duration> {
        let k = key(&conn.uid().unwrap_or_default());
        let mut due = self.due.map();
        let at = *due.get(&k)?;
        let left = at.saturating_sub(now.as_second());
        if left <= 0 || !settled(conn) {
            due.remove(&k);
            return None;
        }
        Some(Duration::from_secs(left as u64))
    }

    /// How deep the validation of `conn` at `now` may go, with validations
    /// every `interval` and full ones every `full_interval`, its
    /// credentials read from [`inputs`] `inputs`.
    pub fn wanted(
        &self,
        conn: &S3Connection,
        now: Timestamp,
        (interval, full_interval): (Duration, Duration),
        inputs: u64,
        budget: u32,
    ) -> Wanted {
        if full_interval <= interval || !settled(conn) {
            return Wanted::Full;
        }
        let uid = conn.uid().unwrap_or_default();
        let Some(p) = self.proofs.map().get(&key(&uid)).copied() else {
            return Wanted::Full;
        };
        if p.inputs != inputs {
            return Wanted::Full;
        }
        let age = now.as_second().saturating_sub(p.at);
        if age < 0 || age as u64 >= full_interval.as_secs() {
            return Wanted::Full;
        }
        let simulate = !p.no_simulation
            && simulate_every(interval, full_interval, budget)
                .is_some_and(|k| (p.lights + 1) % k == 0);
        Wanted::Light {
            principal: p.principal,
            simulate,
        }
    }

    /// What the validation of `uid` at `now`, its credentials read from
    /// `inputs`, found; `before` are the results the status had.
    pub fn note(
        &self,
        uid: &str,
        now: Timestamp,
        inputs: u64,
        checked: &Checked,
        before: &[PermissionCheck],
    ) {
        let mut m = self.proofs.map();
        let k = key(uid);
        let earlier = m.get(&k).copied();
        let same = earlier.filter(|p| p.principal == checked.principal);
        let proof = match checked.outcome.depth {
            Depth::Full => Proof {
                at: now.as_second(),
                principal: checked.principal,
                inputs,
                lights: 0,
                // Simulation said a permission was gone; the requests said
                // it was not: do not be misled again.
                no_simulation: same.is_some_and(|p| p.no_simulation)
                    || (checked.simulation == Simulation::Disagreed
                        && still_allowed(before, &checked.outcome.permissions)),
            },
            Depth::Light => {
                let Some(p) = same else { return };
                Proof {
                    lights: p.lights.saturating_add(1),
                    no_simulation: p.no_simulation || checked.simulation == Simulation::Unavailable,
                    ..p
                }
            }
        };
        m.insert(k, proof);
    }

    /// Keep only the entries of live objects.
    pub fn retain(&self, live: impl Fn(Key) -> bool) {
        self.proofs.retain(&live);
        self.due.retain(live);
    }
}

/// The version of what the credentials are read from: the Secret (its
/// name and `resourceVersion`, as the Secret watch has it) for an access
/// key; for a role, its name is in the principal and the ServiceAccount's
/// token is new each time. A new version means a full validation.
pub fn inputs(secret: Option<(&str, Option<Version>)>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut h);
    h.finish()
}

/// Whether every permission `before` had Allowed is still Allowed `now`.
fn still_allowed(before: &[PermissionCheck], now: &[PermissionCheck]) -> bool {
    before
        .iter()
        .filter(|b| b.result == PermissionOutcome::Allowed)
        .all(|b| {
            now.iter()
                .any(|n| n.permission == b.permission && n.result == PermissionOutcome::Allowed)
        })
}

/// Whether `conn`'s status stands for its spec as it is, says Ready, keeps
/// no leftover probe object and leaves no forced check unanswered: the
/// only connections a light check may answer for.
pub fn settled(conn: &S3Connection) -> bool {
    let Some(s) = conn.status.as_ref() else {
        return false;
    };
    let ready = find(&s.conditions, ConditionType::Ready).is_some_and(|c| {
        c.status.as_str() == CondStatus::True.as_str()
            && c.reason.as_str() == Reason::Validated.as_str()
    });
    let forced =
        requested_at(conn).is_some_and(|r| r.token() != s.last_handled_requested_at.as_deref());
    ready
        && !forced
        && s.observed_generation == conn.metadata.generation
        && s.leftover_probe_object.is_none()
}

/// Every how many light checks one simulates the other permissions'
/// policy, so that the requests of a day stay within `budget`:
/// a full validation's (at most 6) every `full_interval`,
/// one request per light check every `interval`, and the simulations.
/// `None`: the budget leaves none.
pub fn simulate_every(interval: Duration, full_interval: Duration, budget: u32) -> Option<u32> {
    let fulls = validations_per_day(full_interval);
    let lights = (validations_per_day(interval) - fulls).max(0.0);
    let spare = f64::from(budget) - fulls * FULL_REQUESTS - lights;
    if lights == 0.0 || spare < 1.0 {
        return None;
    }
    Some((lights / spare).ceil().max(1.0) as u32)
}

#[cfg(test)]
mod tests;
