//! From an [`Outcome`] to the `S3ConnectionStatus` it implies
//! ([`build_status`]), whether that is worth a write ([`needs_write`]), the
//! server-side apply of it and the event on a change of `Ready` ([`mod@write`]).
//! The first two are pure and take the validation's one timestamp.

pub mod budget;
pub mod conditions;
pub mod write;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::{PermissionOutcome, S3ConnectionStatus};
use crate::outcome::{Depth, Outcome, PermissionCheck, Severity};
use conditions::ConditionType;

/// The status an outcome implies. A transient problem changes only the
/// conditions: what the last completed validation proved stays visible.
/// `refresh` is how long a permission's `lastProved` stands while its
/// result stays the same (the full validation interval): so an unchanged
/// connection's status is written at most that often.
pub fn build_status(
    generation: Option<i64>,
    old: &S3ConnectionStatus,
    o: &Outcome,
    now: &Time,
    refresh: Duration,
) -> S3ConnectionStatus {
    let conditions = conditions::merge(
        &old.conditions,
        &conditions::from_outcome(o),
        generation,
        now,
    );
    let auth = o.auth.map(|a| a.as_str().to_string());
    let (leftover_probe_object, leftover_probe_bucket, leftover_probe_version) = match &o.leftover {
        Some(l) => (
            Some(l.key.clone()),
            Some(l.bucket.clone()),
            l.version.clone(),
        ),
        None => (None, None, None),
    };
    // What this validation sent, failed or not: a transient problem
    // changes the count too.
    let requests_per_day = match &o.usage {
        Some(u) if o.depth == Depth::Full => {
            Some(i64::try_from(u.s3_per_day()).unwrap_or(i64::MAX))
        }
        _ => old.requests_per_day,
    };
    let severity = o.reason.severity();
    if severity == Severity::Transient {
        return S3ConnectionStatus {
            observed_generation: generation,
            conditions,
            auth,
            external_id: o.external_id.clone(),
            leftover_probe_object,
            leftover_probe_bucket,
            leftover_probe_version,
            last_handled_requested_at: o.requested_at.clone(),
            requests_per_day,
            ..old.clone()
        };
    }
    S3ConnectionStatus {
        observed_generation: generation,
        conditions,
        auth,
        external_id: o.external_id.clone(),
        identity: o.identity.clone(),
        bucket_region: o.bucket_region.clone(),
        permissions: o
            .permissions
            .iter()
            .map(|p| p.to_status(proved_at(p, old, now, refresh)))
            .collect(),
        last_handled_requested_at: o.requested_at.clone(),
        leftover_probe_object,
        leftover_probe_bucket,
        leftover_probe_version,
        requests_per_day,
    }
}

/// When `p`'s result was proved: a result carried over keeps its time; an
/// `Unverified` one has none; a result found now keeps the time the status
/// has for the same result while that is younger than `refresh`, else
/// `now`.
fn proved_at(
    p: &PermissionCheck,
    old: &S3ConnectionStatus,
    now: &Time,
    refresh: Duration,
) -> Option<Timestamp> {
    if p.proved_at.is_some() {
        return p.proved_at;
    }
    if p.result == PermissionOutcome::Unverified {
        return None;
    }
    let earlier = old
        .permissions
        .iter()
        .find(|r| r.action == p.permission.as_str() && r.result == p.result)
        .and_then(|r| r.last_proved.as_ref())
        .map(|t| t.0);
    let young = |t: &Timestamp| {
        now.0
            .duration_since(*t)
            .try_into()
            .is_ok_and(|age: Duration| age < refresh)
    };
    Some(earlier.filter(young).unwrap_or(now.0))
}

/// Whether a validation of `generation` should first say so: when the
/// status still describes an older generation with a Ready condition (a
/// spec edit), so that kstatus, `kubectl wait` and Argo CD do not take the
/// older generation's answer for this one. A new object needs no
/// announcement: the CRD's default `observedGeneration: -1` already reads as
/// not yet validated, and its first validation writes status exactly once.
/// Periodic and requested re-validations of the same generation keep their
/// Ready.
pub fn announce_progress(old: &S3ConnectionStatus, generation: Option<i64>) -> bool {
    let Some(generation) = generation else {
        return false;
    };
    conditions::find(&old.conditions, ConditionType::Ready)
        .is_some_and(|r| r.observed_generation.is_some_and(|g| g < generation))
}

/// The status while `generation` is being validated: Ready=Unknown and
/// Reconciling=True for it, everything else as it was.
pub fn progressing_status(
    generation: i64,
    old: &S3ConnectionStatus,
    now: &Time,
) -> S3ConnectionStatus {
    S3ConnectionStatus {
        observed_generation: Some(generation),
        conditions: conditions::merge(
            &old.conditions,
            &conditions::progressing(&old.conditions, generation),
            Some(generation),
            now,
        ),
        ..old.clone()
    }
}

/// The status while `spec.suspend` is set: Suspended=True, no requests a
/// day, the rest as the last validation left it.
pub fn suspended_status(
    generation: Option<i64>,
    old: &S3ConnectionStatus,
    now: &Time,
) -> S3ConnectionStatus {
    S3ConnectionStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &old.conditions,
            &conditions::suspended(&old.conditions),
            generation,
            now,
        ),
        requests_per_day: Some(0),
        ..old.clone()
    }
}

/// Fields the old status has and the new one does not, by their names in
/// the API (as the status serializes). Server-side apply removes a field the
/// operator stops sending only if the operator owned it; these are removed
/// explicitly, whoever wrote them (say, a user who patched
/// `leftoverProbeObject` by hand).
pub fn stale_fields(old: &S3ConnectionStatus, new: &S3ConnectionStatus) -> Vec<String> {
    let fields = |s: &S3ConnectionStatus| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().map(|(k, _)| k).collect(),
        _ => std::collections::BTreeSet::new(),
    };
    let now = fields(new);
    fields(old)
        .into_iter()
        .filter(|k| !now.contains(k))
        .collect()
}

/// Whether the new status differs from the old in anything but the
/// conditions' `lastTransitionTime`. A re-validation that finds what the
/// last one found writes nothing: how recently each connection was
/// validated is in the operator's memory and metrics
/// ([`crate::reconcile::Freshness`]), not rewritten into every object.
pub fn needs_write(old: &S3ConnectionStatus, new: &S3ConnectionStatus) -> bool {
    if !conditions::same_ignoring_time(&old.conditions, &new.conditions) {
        return true;
    }
    let strip = |s: &S3ConnectionStatus| S3ConnectionStatus {
        conditions: vec![],
        ..s.clone()
    };
    strip(old) != strip(new)
}

#[cfg(test)]
mod tests;
