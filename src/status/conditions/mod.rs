//! Conditions derived from an [`Outcome`], and merging them into the previous
//! status so `lastTransitionTime` only moves when a condition's status flips.
//! Pure functions: the caller passes the one timestamp of this validation.
//!
//! Besides the five conditions that describe the connection, three
//! "abnormal-true" ones follow the kstatus convention (present only while
//! True): `Reconciling` while a generation is being validated or a transient
//! problem is retried, `Stalled` on a definite failure (with Ready's reason
//! and message), `Suspended` while `spec.suspend` is set.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::{Condition, PermissionOutcome, Text};
use crate::messages;
use crate::outcome::{Check, Outcome, Reason, Severity};

/// The condition types this operator owns, in the order it writes them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::EnumString,
)]
pub enum ConditionType {
    /// The connection works: every requested permission proved (kstatus reads it).
    Ready,
    /// A definite problem the user must fix.
    Failed,
    /// Whether the credentials were accepted.
    Authenticated,
    /// Whether the bucket answers in the requested region.
    BucketAccessible,
    /// Whether every requested permission was proved.
    PermissionsGranted,
    /// A generation is being validated, or a transient problem retried.
    Reconciling,
    /// A definite problem: nothing changes until the user acts.
    Stalled,
    /// `spec.suspend` is set.
    Suspended,
}

impl ConditionType {
    /// The condition type's name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a condition in a status is one of ours.
    pub fn owns(c: &Condition) -> bool {
        c.type_.parse::<ConditionType>().is_ok()
    }
}

pub use crate::crd::CondStatus;

use CondStatus::{False, True, Unknown};
use ConditionType::*;

/// A condition without timestamps: what a validation decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Which condition.
    pub type_: ConditionType,
    /// Its status.
    pub status: CondStatus,
    /// Why, in one CamelCase word.
    pub reason: String,
    /// What it means now, for people.
    pub message: String,
    /// A condition kept from an earlier validation keeps the generation it
    /// described; `None` means the generation being written.
    pub kept_generation: Option<i64>,
}

fn desired(
    type_: ConditionType,
    status: CondStatus,
    reason: &str,
    message: impl Into<String>,
) -> Desired {
    Desired {
        type_,
        status,
        reason: reason.to_string(),
        message: message.into(),
        kept_generation: None,
    }
}

/// An existing condition of ours, kept as it is.
fn kept(c: &Condition, type_: ConditionType) -> Desired {
    Desired {
        type_,
        status: c.status.parse().unwrap_or(Unknown),
        reason: c.reason.to_string(),
        message: c.message.to_string(),
        kept_generation: c.observed_generation,
    }
}

/// The five conditions an outcome implies, in a fixed order.
pub fn from_outcome(o: &Outcome) -> Vec<Desired> {
    let (ready, failed) = ready_and_failed(o);
    let mut all = vec![
        ready,
        failed,
        authenticated(o),
        bucket_accessible(o),
        permissions_granted(o),
    ];
    let reason = o.reason.as_str();
    match o.reason.severity() {
        Severity::Transient => all.push(desired(Reconciling, True, reason, o.message.clone())),
        Severity::Definite => all.push(desired(Stalled, True, reason, o.message.clone())),
        Severity::Ok => {}
    }
    all
}

/// The reasons of conditions that are not an outcome's [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum ConditionReason {
    /// Ready and Reconciling while a new generation is being validated.
    Progressing,
    /// Suspended while `spec.suspend` is set.
    Suspended,
    /// A check this validation did not get to because of a definite problem.
    NotChecked,
    /// Authenticated: the credentials were accepted.
    CredentialsValid,
    /// BucketAccessible: the bucket answers.
    BucketReachable,
    /// PermissionsGranted: some permission could not be proved either way.
    Unverified,
    /// PermissionsGranted: every requested permission was proved.
    AllAllowed,
}

impl ConditionReason {
    /// The reason's name in the condition.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Before a new generation is validated: Ready=Unknown and Reconciling=True
/// for it, the other conditions as they were (Stalled goes: it described the
/// previous generation).
pub fn progressing(existing: &[Condition], generation: i64) -> Vec<Desired> {
    let message = messages::validating_generation(generation);
    let mut all = vec![
        desired(
            Ready,
            Unknown,
            ConditionReason::Progressing.as_str(),
            message.clone(),
        ),
        desired(
            Reconciling,
            True,
            ConditionReason::Progressing.as_str(),
            message,
        ),
    ];
    for c in existing {
        if let Ok(t @ (Failed | Authenticated | BucketAccessible | PermissionsGranted)) =
            c.type_.parse::<ConditionType>()
        {
            all.push(kept(c, t))
        }
    }
    all
}

/// While `spec.suspend` is set: Suspended=True, the other conditions as they
/// were.
pub fn suspended(existing: &[Condition]) -> Vec<Desired> {
    let mut all = vec![desired(
        Suspended,
        True,
        ConditionReason::Suspended.as_str(),
        messages::SUSPENDED,
    )];
    for c in existing {
        if let Ok(t) = c.type_.parse::<ConditionType>()
            && t != Suspended
        {
            all.push(kept(c, t));
        }
    }
    all
}

/// Reason and message of a check this validation did not get to: for a
/// transient problem "not known yet" with its reason, else "not checked".
fn not_reached(o: &Outcome, what: &str) -> (&'static str, String) {
    let reason = o.reason.as_str();
    if o.reason.severity() == Severity::Transient {
        (reason, messages::not_known_yet(what, &o.message))
    } else {
        (
            ConditionReason::NotChecked.as_str(),
            messages::not_checked(what, reason),
        )
    }
}

fn ready_and_failed(o: &Outcome) -> (Desired, Desired) {
    let reason = o.reason.as_str();
    match o.reason.severity() {
        Severity::Ok => (
            desired(Ready, True, reason, o.message.clone()),
            desired(Failed, False, reason, messages::NO_PROBLEM),
        ),
        Severity::Definite => (
            desired(Ready, False, reason, o.message.clone()),
            desired(Failed, True, reason, o.message.clone()),
        ),
        Severity::Transient => (
            desired(Ready, Unknown, reason, o.message.clone()),
            desired(Failed, Unknown, reason, o.message.clone()),
        ),
    }
}

fn authenticated(o: &Outcome) -> Desired {
    if o.authenticated {
        let msg = messages::credentials_valid(o.identity.as_deref());
        desired(
            Authenticated,
            True,
            ConditionReason::CredentialsValid.as_str(),
            msg,
        )
    } else if o.reason.fails(Check::Credentials) {
        desired(Authenticated, False, o.reason.as_str(), o.message.clone())
    } else {
        let (reason, message) = not_reached(o, "Authentication");
        desired(Authenticated, Unknown, reason, message)
    }
}

fn bucket_accessible(o: &Outcome) -> Desired {
    if o.reason.fails(Check::Bucket) {
        desired(
            BucketAccessible,
            False,
            o.reason.as_str(),
            o.message.clone(),
        )
    } else if o.bucket_reached {
        let msg = messages::bucket_answers(o.bucket_region.as_deref());
        desired(
            BucketAccessible,
            True,
            ConditionReason::BucketReachable.as_str(),
            msg,
        )
    } else {
        let (reason, message) = not_reached(o, "Bucket access");
        desired(BucketAccessible, Unknown, reason, message)
    }
}

fn permissions_granted(o: &Outcome) -> Desired {
    let denied = o.actions_with(PermissionOutcome::Denied);
    let unverified = o.actions_with(PermissionOutcome::Unverified);
    if o.permissions.is_empty() || o.reason.severity() == Severity::Transient {
        let (reason, message) = not_reached(o, "Permissions");
        desired(PermissionsGranted, Unknown, reason, message)
    } else if !denied.is_empty() {
        let reason = if o.reason == Reason::AccessDenied {
            Reason::AccessDenied
        } else {
            Reason::PermissionDenied
        };
        desired(
            PermissionsGranted,
            False,
            reason.as_str(),
            messages::denied_list(&denied),
        )
    } else if !unverified.is_empty() {
        desired(
            PermissionsGranted,
            Unknown,
            ConditionReason::Unverified.as_str(),
            messages::unverified_list(&unverified),
        )
    } else {
        desired(
            PermissionsGranted,
            True,
            ConditionReason::AllAllowed.as_str(),
            messages::ALL_ALLOWED,
        )
    }
}

/// Merge desired conditions into the existing ones: a condition whose status
/// did not change keeps its `lastTransitionTime`. Conditions of other types
/// belong to whoever wrote them: they are not returned, and server-side apply
/// leaves them in place.
pub fn merge(
    existing: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = desired
        .iter()
        .map(|d| {
            let old = find(existing, d.type_);
            let last_transition_time = match old {
                Some(c) if c.status == d.status.as_str() => c.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: Text::word(d.type_.as_str()),
                status: Text::word(d.status.as_str()),
                reason: Text::word(&d.reason),
                message: Text::from(d.message.as_str()),
                observed_generation: d.kept_generation.or(generation),
                last_transition_time,
            }
        })
        .collect();
    crate::crd::condition::share_messages(&mut merged);
    merged
}

/// Our conditions compared without their timestamps.
pub fn same_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    let ours = |c: &&Condition| ConditionType::owns(c);
    let a: Vec<&Condition> = a.iter().filter(ours).collect();
    let b: Vec<&Condition> = b.iter().filter(ours).collect();
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter().any(|y| {
                x.type_ == y.type_
                    && x.status == y.status
                    && x.reason == y.reason
                    && x.message == y.message
                    && x.observed_generation == y.observed_generation
            })
        })
}

/// The condition of `type_`, if there is one.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// The status of a condition, if present and well-formed.
pub fn status_of(conditions: &[Condition], type_: ConditionType) -> Option<CondStatus> {
    find(conditions, type_).and_then(|c| c.status.parse().ok())
}

#[cfg(test)]
mod tests;
