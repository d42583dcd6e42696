//! The probe object: written with `If-None-Match: *` and a keyed marker
//! under the connection's prefix, read back, deleted on condition; an
//! object already at the probe key removed only if its marker proves the
//! operator wrote it for this connection, and otherwise left alone while a
//! fresh key is used; GetObject proved without writing when nothing may be
//! written.

use std::future::Future;

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::marker::{MAC, MARKER};
use super::other_probe_key;
use super::removal::{Known, Removal};
use super::requests::AtProbeKey;
use super::steps::{Probe, Step};
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::crd::Permission::{self, *};
use crate::crd::PermissionOutcome::{self, *};
use crate::messages;
use crate::outcome::Leftover;

/// What became of the probe write.
enum Put {
    /// Written: its ETag and, in a versioned bucket, its version ID.
    Written {
        etag: Option<String>,
        version: Option<String>,
    },
    /// `If-None-Match: *` failed: an object already has the probe key.
    InTheWay,
    /// Denied, or not possible here: the step has recorded why.
    NotWritten,
}

/// Read a body, but no more than `limit` bytes of it.
pub(super) async fn read_at_most(
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
    /// connection wrote it; anyone else's is left alone and the probe
    /// object goes to a fresh key of the connection instead.
    pub(super) async fn write_read_delete(&mut self) -> Step {
        let p = self.plan;
        if let Some(
            l @ Leftover {
                version: Some(v), ..
            },
        ) = &p.leftover
        {
            match self.remove_versions(&l.key, &[Some(v.clone())]).await {
                // Its retention ended: gone, a new probe may be written.
                Versions::Removed => self.out.leftover = None,
                Versions::Retained(_) => {
                    self.blocked_by_retention(l, v);
                    return Ok(());
                }
                // Not removable for another reason (no longer allowed, not
                // there): forgotten, as the status cannot make it go.
                Versions::Kept => self.out.leftover = None,
            }
        } else if let Some(l) = &p.leftover {
            match self.remove_at(&l.key).await? {
                // Not ours after all (a status edited by hand, a key reused):
                // left alone, and forgotten.
                Removal::Gone(_) | Removal::Foreign => self.out.leftover = None,
                refused => {
                    self.blocked_by_leftover(l, &refused);
                    return Ok(());
                }
            }
        }

        let mut key = p.probe_key.clone();
        let (etag, version) = loop {
            match self.put(&key).await? {
                Put::Written { etag, version } => break (etag, version),
                Put::NotWritten => return self.without_object().await,
                // Something holds the key: an earlier probe object (say, from
                // a crash), or an object that is not ours.
                Put::InTheWay => {}
            }
            let at = Leftover {
                bucket: p.bucket.clone(),
                key: key.clone(),
                version: None,
            };
            match self.remove_at(&key).await? {
                Removal::Gone(_) => match self.put(&key).await? {
                    Put::Written { etag, version } => break (etag, version),
                    Put::InTheWay => {
                        self.blocked(&at, messages::PROBE_APPEARED, Unverified);
                        return Ok(());
                    }
                    Put::NotWritten => return self.without_object().await,
                },
                // Not ours: left alone; a fresh key nobody can have taken.
                Removal::Foreign if key == p.probe_key => {
                    key = other_probe_key(&p.prefix, &p.probe.key_prefix, &p.uid);
                }
                // Even the fresh key was taken: a store that answers so is
                // not to be written to.
                Removal::Foreign => {
                    self.key_in_use(&key);
                    return Ok(());
                }
                refused => {
                    self.out.leftover = Some(at.clone());
                    self.blocked_by_leftover(&at, &refused);
                    return Ok(());
                }
            }
        };
        if key != p.probe_key {
            self.results.set(
                PutObject,
                Allowed,
                messages::put_allowed_elsewhere(&key, &p.probe_key),
            );
        }

        // From here on an object exists: whatever happens, try to delete it.
        let read = if p.wants(GetObject) {
            self.read_back(&key).await
        } else {
            Ok(())
        };
        let deleted = self.delete_probe(&key, etag, version).await;
        read?;
        deleted
    }

    /// PutObject of the probe object at `key`, never overwriting anything,
    /// with the marker that proves the operator wrote it.
    async fn put(&mut self, key: &str) -> Step<Put> {
        let p = self.plan;
        let body = p.probe_body.as_bytes();
        let call = self
            .clients
            .s3
            .put_object()
            .at_key(p, key)
            .if_none_match("*")
            .metadata(MARKER, &p.uid)
            .metadata(MAC, p.keys.sign(&p.uid, key, body))
            .content_type("text/plain")
            .set_server_side_encryption(p.probe.encryption.map(|e| e.as_str().into()))
            .set_ssekms_key_id(p.probe.kms_key_id.clone())
            .set_checksum_algorithm(p.probe.checksum.map(|c| c.as_str().into()))
            .body(ByteStream::from(body.to_vec()))
            .send();
        match self.send(Op::PutObject, call).await? {
            Ok(o) => {
                self.reached();
                self.results
                    .set(PutObject, Allowed, messages::put_allowed(key));
                Ok(Put::Written {
                    etag: o.e_tag,
                    version: o.version_id,
                })
            }
            Err(f) => {
                match f.class {
                    Class::PreconditionFailed => return Ok(Put::InTheWay),
                    Class::Kms(ref k) => {
                        self.authenticated_if_coded(&f);
                        self.results.set(
                            PutObject,
                            Unverified,
                            messages::kms_refused_row("PutObject", key, k),
                        );
                        self.blocker = Some(messages::kms_refused(&p.location(), k));
                    }
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.results.set(
                            PutObject,
                            Denied,
                            messages::put_denied(key, &f.describe()),
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
                            &format!("PutObject of probe object {key}"),
                            &f.describe(),
                        ),
                    ),
                }
                Ok(Put::NotWritten)
            }
        }
    }

    /// GetObject of `key`.
    pub(super) fn get_at<'k>(
        &self,
        key: &'k str,
    ) -> impl Future<Output = Result<GetObjectOutput, SdkError<GetObjectError, HttpResponse>>>
    + use<'_, 'k> {
        let p = self.plan;
        self.clients.s3.get_object().at_key(p, key).send()
    }

    /// GetObject of the probe object just written at `key`, compared with
    /// what was written (reading no more than that). Other content is a
    /// definite problem of its own: the store does not return what it
    /// stores.
    async fn read_back(&mut self, key: &str) -> Step {
        let p = self.plan;
        match self.send(Op::GetObject, self.get_at(key)).await? {
            Ok(o) => {
                let expected = p.probe_body.as_bytes();
                let differs = match o.content_length {
                    // Not even read when the length says it differs.
                    Some(n) if n != expected.len() as i64 => Some(format!(
                        "a Content-Length of {n} bytes for {} bytes written",
                        expected.len()
                    )),
                    _ => {
                        let got = read_at_most(o.body, expected.len() + 1)
                            .await
                            .map_err(|_| messages::read_interrupted())?;
                        (got != expected).then(|| {
                            if got.len() > expected.len() {
                                format!("more than the {} bytes written", expected.len())
                            } else {
                                format!(
                                    "{} bytes that differ from the {} written",
                                    got.len(),
                                    expected.len()
                                )
                            }
                        })
                    }
                };
                match differs {
                    None => self
                        .results
                        .set(GetObject, Allowed, messages::read_back(key)),
                    Some(how) => {
                        self.results
                            .set(GetObject, Unverified, messages::read_back_differs(key));
                        self.blocker = Some(messages::content_mismatch(&p.bucket, key, &how));
                    }
                }
            }
            Err(f) if f.class == Class::Denied => {
                self.results
                    .set(GetObject, Denied, messages::read_back_denied(&f.describe()))
            }
            Err(Failure {
                class: Class::Kms(k),
                ..
            }) => {
                self.results.set(
                    GetObject,
                    Unverified,
                    messages::kms_refused_row("GetObject", key, &k),
                );
                self.blocker = Some(messages::kms_refused(&p.location(), &k));
            }
            Err(f) => self.results.set(
                GetObject,
                Unverified,
                messages::unexpected(&format!("GetObject of probe object {key}"), &f.describe()),
            ),
        }
        Ok(())
    }

    /// Delete the probe object just written at `key`, on condition that it
    /// is still what was written (`If-Match` on its ETag; see
    /// [`Probe::delete_at`] for stores without). In a versioned bucket also
    /// try to remove the version and the delete marker, so probes do not
    /// pile up.
    async fn delete_probe(
        &mut self,
        key: &str,
        etag: Option<String>,
        version: Option<String>,
    ) -> Step {
        let p = self.plan;
        let failure = match self.delete_at(key, etag, Known::JustWritten).await {
            Ok(Removal::Gone(o)) => {
                let mut msg = messages::deleted(key);
                if let Some(v) = version {
                    let marker =
                        o.and_then(|o| o.version_id.filter(|_| o.delete_marker == Some(true)));
                    match self.remove_versions(key, &[Some(v), marker]).await {
                        Versions::Removed => {}
                        Versions::Kept => msg.push_str(messages::OLD_VERSION_KEPT),
                        // Kept until its retention ends: recorded, and no
                        // other probe object is written until it is gone.
                        Versions::Retained(v) => {
                            msg.push_str(messages::VERSION_RETAINED);
                            self.out.leftover = Some(Leftover {
                                bucket: p.bucket.clone(),
                                key: key.to_string(),
                                version: Some(v),
                            });
                        }
                    }
                }
                self.results.set(DeleteObject, Allowed, msg);
                return Ok(());
            }
            // Replaced by someone else: theirs now, left alone.
            Ok(Removal::Foreign) => {
                self.results
                    .set(DeleteObject, Unverified, messages::probe_replaced(key));
                return Ok(());
            }
            Ok(Removal::Refused { op, failure }) => self.unless_fatal(failure, op),
            Err(problem) => Err(problem),
        };
        // Whatever went wrong, the object may still be there.
        self.out.leftover = Some(Leftover {
            bucket: p.bucket.clone(),
            key: key.to_string(),
            version: None,
        });
        let f = failure?;
        if f.class == Class::Denied {
            self.results.set(
                DeleteObject,
                Denied,
                messages::delete_denied(key, &f.describe()),
            );
        } else {
            self.results.set(
                DeleteObject,
                Unverified,
                messages::delete_unexpected(key, &f.describe()),
            );
        }
        Ok(())
    }

    /// Delete these versions of the probe object at `key`.
    pub(super) async fn remove_versions(&self, key: &str, versions: &[Option<String>]) -> Versions {
        let p = self.plan;
        let mut out = Versions::Removed;
        for v in versions.iter().flatten() {
            let call = self
                .clients
                .s3
                .delete_object()
                .at_key(p, key)
                .version_id(v)
                .send();
            match attempt(Op::DeleteObject, call).await {
                Ok(_) => {}
                Err(f) if f.class == Class::Retained => out = Versions::Retained(v.clone()),
                Err(_) if out == Versions::Removed => out = Versions::Kept,
                Err(_) => {}
            }
        }
        out
    }

    /// Objects that are not this connection's hold the probe key and the
    /// fresh `key` chosen instead: leave them alone, write nothing, say so.
    fn key_in_use(&mut self, key: &str) {
        let p = self.plan;
        let problem = messages::probe_key_in_use(&p.bucket, key);
        for perm in [PutObject, GetObject, DeleteObject] {
            self.results
                .set(perm, Unverified, messages::not_tested_key_in_use());
        }
        self.blocker = Some(problem);
    }

    /// The bucket's Object Lock still retains version `v` of an earlier
    /// probe object: write nothing, keep the earlier results.
    fn blocked_by_retention(&mut self, l: &Leftover, v: &str) {
        let note = messages::retained_blocks(&l.bucket, &l.key, v);
        self.keep_previous(&[PutObject, GetObject, DeleteObject], &note);
    }

    /// `perms` keep the results of the last validation, not re-tested
    /// because of `note`.
    fn keep_previous(&mut self, perms: &[Permission], note: &str) {
        for p in perms {
            let previous = self
                .plan
                .previous
                .iter()
                .find(|r| r.permission == *p)
                .map(|r| r.result)
                .unwrap_or(Unverified);
            self.results.set(*p, previous, messages::not_retested(note));
        }
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
        self.keep_previous(&[PutObject, GetObject], &note);
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
        match self.send(Op::GetObject, self.get_at(&p.probe_key)).await? {
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

/// What became of the versions of a probe object the probe tried to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Versions {
    /// All gone.
    Removed,
    /// The bucket's Object Lock retains this one (until its retention ends).
    Retained(String),
    /// Some could not be removed for another reason (not allowed, ...).
    Kept,
}
