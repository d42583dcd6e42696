//! Removing an object at a probe key, and only if it is the operator's own:
//! its marker ([`super::marker`]) is checked against what is stored, and the
//! delete is conditional (`If-Match`) on the ETag of what was checked or
//! written. Stores that answer 501 to a conditional delete, or give no ETag,
//! get a plain delete, but only of an object whose marker was checked just
//! before (or that this validation wrote a moment ago and may not read).

use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;

use super::marker::MAC;
use super::object::read_at_most;
use super::requests::AtProbeKey;
use super::steps::{Probe, Step};
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::crd::PermissionOutcome::{self, *};
use crate::messages;

/// The longest probe object body the operator writes (its text names the
/// connection and a time) is far below this; anything longer is not ours
/// and is not read.
pub(super) const MAX_PROBE_BODY: usize = 4096;

/// What became of an attempt to remove an object at a probe key.
pub(super) enum Removal {
    /// Deleted (with what DeleteObject answered), or not there any more.
    Gone(Option<DeleteObjectOutput>),
    /// It is not this connection's probe object, or was replaced by
    /// another writer: left alone.
    Foreign,
    /// Ours (or not verifiable) and still there: `op` failed so.
    Refused { op: Op, failure: Failure },
}

impl Removal {
    /// What the outcome of DeleteObject is, for a removal that did not
    /// succeed.
    pub(super) fn delete_result(&self) -> PermissionOutcome {
        match self {
            Removal::Refused { failure, .. } if failure.class == Class::Denied => Denied,
            _ => Unverified,
        }
    }

    /// Why the object is still there, for messages; empty unless refused.
    pub(super) fn why(&self) -> String {
        match self {
            Removal::Gone(_) | Removal::Foreign => String::new(),
            Removal::Refused { op, failure } => messages::leftover_delete_refused(
                failure.class == Class::Denied,
                &format!("{}: {}", op.name(), failure.describe()),
            ),
        }
    }
}

/// What is known of the object to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    /// Its marker was checked just now.
    Checked,
    /// This validation wrote it a moment ago.
    JustWritten,
}

impl Probe<'_> {
    /// Remove the object at probe key `key` if it is this connection's own.
    pub(super) async fn remove_at(&mut self, key: &str) -> Step<Removal> {
        match self.check_marker(key).await? {
            Ok(etag) => self.delete_at(key, etag, Known::Checked).await,
            Err(removal) => Ok(removal),
        }
    }

    /// Read the object at `key` and check its marker: `Ok` with its ETag
    /// when the operator wrote it for this connection, else what that means
    /// for removing it (not ours, gone, unreadable).
    async fn check_marker(&mut self, key: &str) -> Step<Result<Option<String>, Removal>> {
        let p = self.plan;
        let o = match attempt(Op::GetObject, self.get_at(key)).await {
            Ok(o) => o,
            Err(f) => return self.removal_failed(f, Op::GetObject).map(Err),
        };
        let etag = o.e_tag().map(str::to_string);
        let Some(mac) = o.metadata().and_then(|m| m.get(MAC)).cloned() else {
            return Ok(Err(Removal::Foreign));
        };
        if o.content_length
            .is_some_and(|n| !(0..=MAX_PROBE_BODY as i64).contains(&n))
        {
            return Ok(Err(Removal::Foreign));
        }
        let body = read_at_most(o.body, MAX_PROBE_BODY + 1)
            .await
            .map_err(|_| messages::read_interrupted())?;
        if body.len() > MAX_PROBE_BODY || !p.keys.verify(&p.uid, key, &body, &mac) {
            return Ok(Err(Removal::Foreign));
        }
        Ok(Ok(etag))
    }

    /// Delete the object at `key`: conditional on `etag` while the store
    /// supports that; otherwise (501, or no ETag) a plain delete, after its
    /// marker was checked ([`Known`]).
    pub(super) async fn delete_at(
        &mut self,
        key: &str,
        mut etag: Option<String>,
        mut known: Known,
    ) -> Step<Removal> {
        let (p, s3) = (self.plan, self.clients.s3.clone());
        let delete = |if_match: Option<String>| {
            s3.delete_object()
                .at_key(p, key)
                .set_if_match(if_match)
                .send()
        };
        loop {
            if self.conditional_deletes
                && let Some(tag) = etag.take()
            {
                match attempt(Op::DeleteObject, delete(Some(tag))).await {
                    Ok(o) => return Ok(Removal::Gone(Some(o))),
                    // Replaced since it was written or checked: not ours now.
                    Err(f) if f.class == Class::PreconditionFailed => return Ok(Removal::Foreign),
                    Err(f) if f.class == Class::NotImplemented => {
                        self.conditional_deletes = false;
                    }
                    Err(f) => return self.removal_failed(f, Op::DeleteObject),
                }
            }
            if known != Known::Checked {
                match self.check_marker(key).await? {
                    Ok(tag) => {
                        known = Known::Checked;
                        etag = tag;
                        continue;
                    }
                    // What this validation wrote a moment ago may be deleted
                    // even when it may not be read back.
                    Err(Removal::Refused { failure, .. })
                        if known == Known::JustWritten && failure.class == Class::Denied => {}
                    Err(other) => return Ok(other),
                }
            }
            return match attempt(Op::DeleteObject, delete(None)).await {
                Ok(o) => Ok(Removal::Gone(Some(o))),
                Err(f) => self.removal_failed(f, Op::DeleteObject),
            };
        }
    }

    /// What a failed GetObject or DeleteObject of an object at a probe key
    /// means: gone already, an outage that ends the validation, or refused.
    fn removal_failed(&self, f: Failure, op: Op) -> Step<Removal> {
        match &f.class {
            Class::NoSuchKey => Ok(Removal::Gone(None)),
            Class::Unreachable | Class::Transient(_) => Err(self.not_now(&f, op)),
            _ => Ok(Removal::Refused { op, failure: f }),
        }
    }
}
