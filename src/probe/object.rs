//! The probe object: written with `If-None-Match: *` under the
//! connection's prefix, read back, deleted; an earlier one removed only if
//! its marker says this connection wrote it; GetObject proved without
//! writing when nothing may be written.

use std::future::Future;

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::requests::AtProbeKey;
use super::steps::{Probe, Step};
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::crd::Permission::*;
use crate::crd::PermissionOutcome::{self, *};
use crate::messages;
use crate::outcome::Leftover;

/// User metadata naming the connection (its UID) that wrote a probe object.
pub const MARKER: &str = "s3connection-uid";

/// What became of the probe write.
enum Put {
    /// Written; its version ID in a versioned bucket.
    Written(Option<String>),
    /// `If-None-Match: *` failed: an object already has the probe key.
    InTheWay,
    /// Denied, or not possible here: the step has recorded why.
    NotWritten,
}

/// What became of an attempt to remove an object at the probe key.
enum Removal {
    /// Deleted, or not there any more.
    Gone,
    /// It is not this connection's probe object: left alone.
    Foreign,
    /// Ours (or not verifiable) and still there: `op` failed so.
    Refused { op: Op, failure: Failure },
}

impl Removal {
    /// What the outcome of DeleteObject is, for a removal that did not
    /// succeed.
    fn delete_result(&self) -> PermissionOutcome {
        match self {
            Removal::Refused { failure, .. } if failure.class == Class::Denied => Denied,
            _ => Unverified,
        }
    }

    /// Why the object is still there, for messages; empty unless refused.
    fn why(&self) -> String {
        match self {
            Removal::Gone | Removal::Foreign => String::new(),
            Removal::Refused { op, failure } => messages::leftover_delete_refused(
                failure.class == Class::Denied,
                &format!("{}: {}", op.name(), failure.describe()),
            ),
        }
    }
}

/// Read a body, but no more than `limit` bytes of it.
async fn read_at_most(
    mut body: ByteStream,
    limit: usize,
) -> Result<Vec<u8>, aws_sdk_s3::primitives::ByteStreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl Probe<'_> {
    /// Write the probe object, read it back, delete it. An object already at
    /// the probe key is removed first only if its marker says this
    /// connection wrote it.
    pub(super) async fn write_read_delete(&mut self) -> Step {
        let p = self.plan;
        let ours = Leftover {
            bucket: p.bucket.clone(),
            key: p.probe_key.clone(),
        };
        if p.leftover.is_some() {
            match self.remove_earlier().await? {
                Removal::Gone => self.out.leftover = None,
                Removal::Foreign => {
                    self.out.leftover = None;
                    self.key_in_use();
                    return Ok(());
                }
                refused => {
                    self.blocked_by_leftover(&ours, &refused);
                    return Ok(());
                }
            }
        }

        let written = match self.put().await? {
            Put::Written(version) => version,
            // Something holds our key: an earlier probe object (say, from a
            // crash), or an object that is not ours.
            Put::InTheWay => match self.remove_earlier().await? {
                Removal::Gone => match self.put().await? {
                    Put::Written(version) => version,
                    Put::InTheWay => {
                        self.blocked(&ours, messages::PROBE_APPEARED, Unverified);
                        return Ok(());
                    }
                    Put::NotWritten => return self.without_object().await,
                },
                Removal::Foreign => {
                    self.key_in_use();
                    return Ok(());
                }
                refused => {
                    self.out.leftover = Some(ours.clone());
                    self.blocked_by_leftover(&ours, &refused);
                    return Ok(());
                }
            },
            Put::NotWritten => return self.without_object().await,
        };

        // From here on an object exists: whatever happens, try to delete it.
        let read = if p.wants(GetObject) {
            self.read_back().await
        } else {
            Ok(())
        };
        let deleted = self.delete_probe(written).await;
        read?;
        deleted
    }

    /// PutObject of the probe object, never overwriting anything.
    async fn put(&mut self) -> Step<Put> {
        let p = self.plan;
        let call = self
            .clients
            .s3
            .put_object()
            .at_probe_key(p)
            .if_none_match("*")
            .metadata(MARKER, &p.uid)
            .content_type("text/plain")
            .body(ByteStream::from(p.probe_body.clone().into_bytes()))
            .send();
        match self.send(Op::PutObject, call).await? {
            Ok(o) => {
                self.reached();
                self.results
                    .set(PutObject, Allowed, messages::put_allowed(&p.probe_key));
                Ok(Put::Written(o.version_id))
            }
            Err(f) => {
                match f.class {
                    Class::PreconditionFailed => return Ok(Put::InTheWay),
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.results.set(
                            PutObject,
                            Denied,
                            messages::put_denied(&p.probe_key, &f.describe()),
                        );
                    }
                    Class::NotImplemented => {
                        self.results
                            .set(PutObject, Unverified, messages::NO_CONDITIONAL_WRITES)
                    }
                    _ => self.results.set(
                        PutObject,
                        Unverified,
                        messages::unexpected(
                            &format!("PutObject of probe object {}", p.probe_key),
                            &f.describe(),
                        ),
                    ),
                }
                Ok(Put::NotWritten)
            }
        }
    }

    /// GetObject of the probe key.
    fn get_probe(
        &self,
    ) -> impl Future<Output = Result<GetObjectOutput, SdkError<GetObjectError, HttpResponse>>> + use<'_>
    {
        let p = self.plan;
        self.clients.s3.get_object().at_probe_key(p).send()
    }

    /// GetObject of the probe object just written, compared with what was
    /// written (reading no more than that).
    async fn read_back(&mut self) -> Step {
        let p = self.plan;
        match self.send(Op::GetObject, self.get_probe()).await? {
            Ok(o) => {
                let expected = p.probe_body.as_bytes();
                let same = match o.content_length {
                    // Not even read when the length says it differs.
                    Some(n) if n != expected.len() as i64 => false,
                    _ => {
                        read_at_most(o.body, expected.len() + 1)
                            .await
                            .map_err(|_| messages::read_interrupted())?
                            == expected
                    }
                };
                if same {
                    self.results
                        .set(GetObject, Allowed, messages::read_back(&p.probe_key))
                } else {
                    self.results.set(
                        GetObject,
                        Unverified,
                        messages::read_back_differs(&p.probe_key),
                    )
                }
            }
            Err(f) if f.class == Class::Denied => {
                self.results
                    .set(GetObject, Denied, messages::read_back_denied(&f.describe()))
            }
            Err(f) => self.results.set(
                GetObject,
                Unverified,
                messages::unexpected(
                    &format!("GetObject of probe object {}", p.probe_key),
                    &f.describe(),
                ),
            ),
        }
        Ok(())
    }

    /// Delete the probe object just written. In a versioned bucket also try
    /// to remove the version and the delete marker, so probes do not pile up.
    async fn delete_probe(&mut self, version: Option<String>) -> Step {
        let p = self.plan;
        let call = self.clients.s3.delete_object().at_probe_key(p).send();
        let failure = match self.send(Op::DeleteObject, call).await {
            Ok(Ok(o)) => {
                let mut msg = messages::deleted(&p.probe_key);
                if let Some(v) = version {
                    let marker = o.version_id.filter(|_| o.delete_marker == Some(true));
                    if !self.remove_versions(&[Some(v), marker]).await {
                        msg.push_str(messages::OLD_VERSION_KEPT);
                    }
                }
                self.results.set(DeleteObject, Allowed, msg);
                return Ok(());
            }
            Ok(Err(f)) => Ok(f),
            Err(problem) => Err(problem),
        };
        // Whatever went wrong, the object may still be there.
        self.out.leftover = Some(Leftover {
            bucket: p.bucket.clone(),
            key: p.probe_key.clone(),
        });
        let f = failure?;
        if f.class == Class::Denied {
            self.results.set(
                DeleteObject,
                Denied,
                messages::delete_denied(&p.probe_key, &f.describe()),
            );
        } else {
            self.results.set(
                DeleteObject,
                Unverified,
                messages::delete_unexpected(&p.probe_key, &f.describe()),
            );
        }
        Ok(())
    }

    /// Delete these versions of the probe object; whether all went.
    async fn remove_versions(&self, versions: &[Option<String>]) -> bool {
        let p = self.plan;
        let mut ok = true;
        for v in versions.iter().flatten() {
            let r = self
                .clients
                .s3
                .delete_object()
                .at_probe_key(p)
                .version_id(v)
                .send()
                .await;
            ok &= r.is_ok();
        }
        ok
    }

    /// Remove the object at the probe key if it is this connection's own:
    /// its marker is read first, and the delete is conditional on the ETag
    /// that was read (stores that do not support that get a plain delete).
    async fn remove_earlier(&mut self) -> Step<Removal> {
        let p = self.plan;
        let head = self.clients.s3.head_object().at_probe_key(p).send();
        let etag = match attempt(Op::HeadObject, head).await {
            Ok(o) => {
                let marker = o.metadata().and_then(|m| m.get(MARKER));
                if marker != Some(&p.uid) {
                    return Ok(Removal::Foreign);
                }
                o.e_tag().map(str::to_string)
            }
            Err(f) => return self.removal_failed(f, Op::HeadObject),
        };
        let delete = |if_match: Option<String>| {
            self.clients
                .s3
                .delete_object()
                .at_probe_key(p)
                .set_if_match(if_match)
                .send()
        };
        match attempt(Op::DeleteObject, delete(etag.clone())).await {
            Ok(_) => Ok(Removal::Gone),
            // Replaced since it was read: not ours any more.
            Err(f) if f.class == Class::PreconditionFailed => Ok(Removal::Foreign),
            Err(f) if f.class == Class::NotImplemented && etag.is_some() => {
                match attempt(Op::DeleteObject, delete(None)).await {
                    Ok(_) => Ok(Removal::Gone),
                    Err(f) => self.removal_failed(f, Op::DeleteObject),
                }
            }
            Err(f) => self.removal_failed(f, Op::DeleteObject),
        }
    }

    /// What a failed HeadObject or DeleteObject of an earlier probe object
    /// means: gone already, an outage that ends the validation, or refused.
    fn removal_failed(&self, f: Failure, op: Op) -> Step<Removal> {
        match &f.class {
            Class::NoSuchKey => Ok(Removal::Gone),
            Class::Unreachable | Class::Transient(_) => Err(self.not_now(&f, op)),
            _ => Ok(Removal::Refused { op, failure: f }),
        }
    }

    /// An object that is not this connection's holds the probe key: leave it
    /// alone, write nothing, and say so.
    fn key_in_use(&mut self) {
        let p = self.plan;
        let problem = messages::probe_key_in_use(&p.bucket, &p.probe_key);
        for perm in [PutObject, GetObject, DeleteObject] {
            self.results
                .set(perm, Unverified, messages::not_tested_key_in_use());
        }
        self.blocker = Some(problem);
    }

    /// A probe object from earlier could not be deleted: write nothing, keep
    /// earlier results for what cannot be re-tested.
    fn blocked_by_leftover(&mut self, l: &Leftover, removal: &Removal) {
        self.blocked(l, &removal.why(), removal.delete_result());
    }

    /// The probe object `l` is still there (`why`): PutObject and GetObject
    /// keep their earlier results, DeleteObject comes to `delete`.
    fn blocked(&mut self, l: &Leftover, why: &str, delete: PermissionOutcome) {
        let note = messages::leftover_blocks(&l.bucket, &l.key, why);
        for p in [PutObject, GetObject] {
            let previous = self
                .plan
                .previous
                .iter()
                .find(|r| r.permission == p)
                .map(|r| r.result)
                .unwrap_or(Unverified);
            self.results.set(p, previous, messages::not_retested(&note));
        }
        self.results.set(DeleteObject, delete, note);
    }

    /// PutObject was not requested or not possible: prove GetObject without
    /// writing, by reading the (missing) probe key.
    async fn without_object(&mut self) -> Step {
        if self.plan.wants(GetObject) {
            self.read_missing().await?;
        }
        let why = match self.results.get(PutObject) {
            Some(Denied) => "PutObject was denied",
            _ => "no probe object could be written",
        };
        self.results
            .set(DeleteObject, Unverified, messages::delete_needs_object(why));
        Ok(())
    }

    /// GetObject of a key that should not exist: 404 proves s3:GetObject (S3
    /// answers 404 only to callers allowed to read); 403 proves a denial only
    /// when listing is allowed, since without s3:ListBucket S3 answers 403 for
    /// every missing key.
    pub(super) async fn read_missing(&mut self) -> Step {
        let p = self.plan;
        match self.send(Op::GetObject, self.get_probe()).await? {
            Ok(_) => {
                self.reached();
                self.results
                    .set(GetObject, Allowed, messages::read_probe_key(&p.probe_key));
            }
            Err(f) => match f.class {
                Class::NoSuchKey => {
                    self.reached();
                    self.results
                        .set(GetObject, Allowed, messages::read_missing_key(&p.probe_key));
                }
                Class::Denied if self.results.get(ListBucket) == Some(Allowed) => {
                    self.authenticated_if_coded(&f);
                    self.results.set(
                        GetObject,
                        Denied,
                        messages::read_denied_although_listing(&p.location(), &f.describe()),
                    );
                }
                Class::Denied => {
                    self.authenticated_if_coded(&f);
                    self.results.set(
                        GetObject,
                        Unverified,
                        messages::read_refused_without_listing(&f.describe()),
                    );
                }
                _ => self.results.set(
                    GetObject,
                    Unverified,
                    messages::unexpected(
                        &format!("GetObject of key {}", p.probe_key),
                        &f.describe(),
                    ),
                ),
            },
        }
        Ok(())
    }
}
