//! Removing a connection's leftover probe object when the connection is
//! deleted ([`remove_leftover`]): one attempt, with the same own-object
//! rules as a validation (the marker checked, a conditional delete; a
//! version retained by Object Lock is never deleted with a governance
//! bypass).

use super::Plan;
use super::object::Versions;
use super::removal::Removal;
use super::steps::Probe;
use crate::aws::Clients;
use crate::outcome::Leftover;

/// What became of the leftover probe object of a deleted connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Deleted, or already gone.
    Removed(Leftover),
    /// Not this connection's object after all (replaced by another
    /// writer, or no longer under the connection's bucket, prefix and probe
    /// directory): left alone.
    NotOurs(Leftover),
    /// Still there: why, for the event.
    Left(Leftover, String),
}

impl Cleanup {
    /// The object it is about.
    pub fn leftover(&self) -> &Leftover {
        match self {
            Cleanup::Removed(l) | Cleanup::NotOurs(l) | Cleanup::Left(l, _) => l,
        }
    }
}

/// Try once to remove `leftover` (what the status recorded) with `clients`;
/// `plan` is the connection's plan, whose own leftover is `leftover` when
/// it is still one of the connection's probe keys.
pub async fn remove_leftover(clients: &Clients, plan: &Plan, leftover: Leftover) -> Cleanup {
    let Some(own) = plan.leftover.clone().filter(|l| *l == leftover) else {
        return Cleanup::NotOurs(leftover);
    };
    let mut probe = Probe::new(clients, plan);
    if let Some(v) = &own.version {
        return match probe.remove_versions(&own.key, &[Some(v.clone())]).await {
            Versions::Removed => Cleanup::Removed(own),
            Versions::Retained(v) => {
                let why = crate::messages::retained_on_delete(&v);
                Cleanup::Left(own, why)
            }
            Versions::Kept => {
                let why = crate::messages::VERSION_NOT_DELETED.to_string();
                Cleanup::Left(own, why)
            }
        };
    }
    match probe.remove_at(&own.key).await {
        Ok(Removal::Gone(_)) => Cleanup::Removed(own),
        Ok(Removal::Foreign) => Cleanup::NotOurs(own),
        Ok(refused) => {
            let why = refused.why();
            Cleanup::Left(own, why)
        }
        Err(problem) => Cleanup::Left(own, problem.message),
    }
}
