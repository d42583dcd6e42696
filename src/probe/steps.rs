//! The steps of one validation. Each sends one kind of request through
//! [`Validation::send`], which turns failures that end the validation into
//! its problem and hands every other failure back, classified, to the step.

use std::future::Future;
use std::time::Instant;

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Plan, principal_arn};
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::aws::{Clients, Service, tame};
use crate::crd::Permission::{self, *};
use crate::crd::PermissionOutcome::{self, *};
use crate::messages;
use crate::outcome::{Leftover, Outcome, PermissionCheck, Problem, Reason};

type Step<T = ()> = Result<T, Problem>;

pub(super) struct Validation<'a> {
    clients: &'a Clients,
    plan: &'a Plan,
    pub(super) out: Outcome,
    results: Vec<PermissionCheck>,
    /// A definite problem found along the way that decides the reason even
    /// though the other steps ran.
    pub(super) blocker: Option<Problem>,
}

/// What became of the probe write.
enum Put {
    Written(Option<String>),
    /// `If-None-Match: *` failed: an object already has the probe key.
    InTheWay,
    NotWritten,
}

/// What became of an attempt to remove an object at the probe key.
enum Removal {
    Gone,
    /// It is not this connection's probe object: left alone.
    Foreign,
    /// Ours (or not verifiable) and still there; `denied` when S3 refused
    /// the delete outright.
    Refused {
        denied: bool,
        described: String,
    },
}

impl Removal {
    fn why(&self) -> String {
        match self {
            Removal::Gone | Removal::Foreign => String::new(),
            Removal::Refused { denied, described } => {
                messages::leftover_delete_refused(*denied, described)
            }
        }
    }
}

/// User metadata naming the connection (its UID) that wrote a probe object.
pub const MARKER: &str = "s3connection-uid";

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

impl<'a> Validation<'a> {
    pub(super) fn new(clients: &'a Clients, plan: &'a Plan) -> Self {
        Self {
            clients,
            plan,
            out: Outcome {
                leftover: plan.leftover.clone(),
                ..Outcome::new(Reason::Validated, String::new())
            },
            results: vec![],
            blocker: None,
        }
    }

    fn set(&mut self, p: Permission, result: PermissionOutcome, message: impl Into<String>) {
        if !self.plan.wants(p) {
            return;
        }
        self.results.retain(|r| r.permission != p);
        self.results.push(PermissionCheck {
            permission: p,
            result,
            message: message.into(),
        });
    }

    fn result(&self, p: Permission) -> Option<PermissionOutcome> {
        self.results
            .iter()
            .find(|r| r.permission == p)
            .map(|r| r.result)
    }

    /// The results in the order the permissions were requested.
    pub(super) fn ordered_results(&self) -> Vec<PermissionCheck> {
        self.plan
            .permissions
            .iter()
            .filter_map(|p| self.results.iter().find(|r| r.permission == *p).cloned())
            .collect()
    }

    pub(super) async fn steps(&mut self) -> Step {
        self.identity().await?;
        self.bucket().await?;
        if self.plan.wants(ListBucket) {
            self.list().await?;
        }
        if self.plan.wants(PutObject) {
            self.write_read_delete().await?;
        } else {
            if self.plan.wants(GetObject) {
                self.read_missing().await?;
            }
            self.set(DeleteObject, Unverified, messages::DELETE_NEEDS_PUT);
        }
        if self.plan.wants(ReplicateObject) {
            self.replicate().await;
        }
        Ok(())
    }

    /// Send one S3 request. A failure that ends the whole validation becomes
    /// its problem; any other failure comes back to the step, classified.
    async fn send<T, E: ProvideErrorMetadata>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Step<Result<T, Failure>> {
        match attempt(op, call).await {
            Ok(v) => Ok(Ok(v)),
            Err(f) => self.unless_fatal(f, op).map(Err),
        }
    }

    /// Failures after which nothing else can be learned: rejected
    /// credentials, a missing bucket, a wrong region, an endpoint that cannot
    /// be reached or fails for now.
    fn unless_fatal(&self, f: Failure, op: Op) -> Step<Failure> {
        let p = self.plan;
        match &f.class {
            Class::InvalidCredentials(code) => Err(messages::invalid_credentials(code, "S3")),
            Class::NoSuchBucket => Err(messages::bucket_not_found(&p.bucket, &p.endpoint)),
            Class::WrongRegion(actual) => Err(messages::wrong_region(
                &p.bucket,
                &p.region,
                actual.as_deref(),
            )),
            Class::Malformed(d) => Err(messages::invalid_response(&p.endpoint, op.name(), d)),
            Class::Tls(why) => Err(messages::tls_failed(&p.endpoint, why)),
            Class::Unreachable | Class::Transient(_) => Err(self.not_now(&f, op)),
            _ => Ok(f),
        }
    }

    /// The problem for a failure that may pass: retried later.
    fn not_now(&self, f: &Failure, op: Op) -> Problem {
        match &f.class {
            Class::Transient(d) => messages::transient(op.name(), d),
            _ => messages::unreachable(&self.plan.endpoint, op.name()),
        }
    }

    /// Who the credentials are (STS GetCallerIdentity). Not required: an
    /// S3-compatible store's STS may not implement it, and an STS that did
    /// not answer is skipped for a while (see [`Outages`]).
    ///
    /// When STS answered for these credentials recently, its answer is
    /// used and nothing is sent, provided the S3 requests that follow prove
    /// that the credentials work ([`Plan::s3_proves_credentials`]).
    async fn identity(&mut self) -> Step {
        if let Some(known) = &self.plan.known_identity
            && self.plan.s3_proves_credentials()
        {
            self.out.identity = Some(known.clone());
            return Ok(());
        }
        self.ask_sts().await
    }

    /// After a validation that took the identity as known but ended before
    /// any S3 answer proved the credentials (the bucket is missing, in
    /// another region, unreachable): ask STS after all, as a validation
    /// without that knowledge did first. Otherwise Authenticated would be
    /// True after each STS answer and Unknown in between, and the status
    /// would be rewritten whenever the known identity expired.
    pub(super) async fn unproved_identity(&mut self) -> Step {
        if self.plan.known_identity.is_none() || self.out.authenticated {
            return Ok(());
        }
        self.out.identity = None;
        self.ask_sts().await
    }

    /// STS GetCallerIdentity.
    async fn ask_sts(&mut self) -> Step {
        let sts = &self.clients.sts;
        if self
            .clients
            .outages
            .skipped(Service::Sts, &sts.location, Instant::now())
            .is_some()
        {
            return Ok(());
        }
        match attempt(Op::Sts, sts.client.get_caller_identity().send()).await {
            Ok(o) => {
                self.out.identity = o.arn.as_deref().map(tame::arn);
                self.out.authenticated = true;
            }
            // Only definitive against AWS: S3-compatible stores may have no
            // STS at all.
            Err(Failure {
                class: Class::InvalidCredentials(code),
                ..
            }) if self.plan.sts_authoritative => {
                return Err(messages::invalid_credentials(&code, "STS"));
            }
            Err(f) => {
                self.note_outage(Service::Sts, &sts.location, &f);
            }
        }
        Ok(())
    }

    /// Remember a service that timed out, could not be reached or does not
    /// implement the call; an answer about these credentials (denied,
    /// rejected) is not an outage.
    /// Whether it was an outage.
    fn note_outage(&self, service: Service, location: &str, f: &Failure) -> bool {
        if matches!(f.class, Class::Denied | Class::InvalidCredentials(_)) {
            return false;
        }
        self.clients
            .outages
            .note(service, location, f.describe(), Instant::now());
        true
    }

    async fn bucket(&mut self) -> Step {
        let p = self.plan;
        let call = self
            .clients
            .s3
            .head_bucket()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .send();
        match attempt(Op::HeadBucket, call).await {
            Ok(o) => {
                self.reached();
                self.out.bucket_region = o
                    .bucket_region
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(tame::region);
            }
            Err(f) => {
                self.out.bucket_region = f.facts.region_header.clone().filter(|r| !r.is_empty());
                let denied = f.class == Class::Denied;
                // A 403 is expected for prefix-scoped credentials: go on and
                // let the permission probes tell.
                self.unless_fatal(f, Op::HeadBucket)?;
                if denied && let Some(owner) = &p.expected_owner {
                    self.owner_differs(owner, Op::HeadBucket).await?;
                }
            }
        }
        if let Some(actual) = &self.out.bucket_region
            && actual != &p.region
        {
            return Err(messages::wrong_region(&p.bucket, &p.region, Some(actual)));
        }
        Ok(())
    }

    /// A request carrying the expected owner was denied: repeat it without
    /// that condition, reading nothing (HeadBucket, or a ListObjectsV2 of no
    /// keys). Allowed then means another account owns the bucket. Like for
    /// like, since a store may deny one and allow the other.
    async fn owner_differs(&mut self, owner: &str, op: Op) -> Step {
        let p = self.plan;
        let s3 = &self.clients.s3;
        let allowed = if op == Op::HeadBucket {
            attempt(op, s3.head_bucket().bucket(&p.bucket).send())
                .await
                .is_ok()
        } else {
            let mut req = s3.list_objects_v2().bucket(&p.bucket).max_keys(0);
            if !p.prefix.is_empty() {
                req = req.prefix(&p.prefix);
            }
            attempt(op, req.send()).await.is_ok()
        };
        if allowed {
            return Err(messages::bucket_owner_mismatch(&p.bucket, owner));
        }
        Ok(())
    }

    async fn list(&mut self) -> Step {
        let p = self.plan;
        let mut req = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .max_keys(1);
        if !p.prefix.is_empty() {
            req = req.prefix(&p.prefix);
        }
        let location = p.location();
        match self.send(Op::ListObjects, req.send()).await? {
            Ok(_) => {
                self.reached();
                self.set(ListBucket, Allowed, messages::list_allowed(&location));
            }
            Err(f) if f.class == Class::Denied => {
                if let Some(owner) = &p.expected_owner {
                    self.owner_differs(owner, Op::ListObjects).await?;
                }
                self.authenticated_if_coded(&f);
                self.set(
                    ListBucket,
                    Denied,
                    messages::list_denied(&location, &f.describe()),
                );
            }
            Err(f) => self.set(
                ListBucket,
                Unverified,
                messages::unexpected(&format!("ListObjectsV2 on {location}"), &f.describe()),
            ),
        }
        Ok(())
    }

    /// Write the probe object, read it back, delete it. An object already at
    /// the probe key is removed first only if its marker says this
    /// connection wrote it.
    async fn write_read_delete(&mut self) -> Step {
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

    async fn put(&mut self) -> Step<Put> {
        let p = self.plan;
        let call = self
            .clients
            .s3
            .put_object()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .key(&p.probe_key)
            .if_none_match("*")
            .metadata(MARKER, &p.uid)
            .content_type("text/plain")
            .body(ByteStream::from(p.probe_body.clone().into_bytes()))
            .send();
        match self.send(Op::PutObject, call).await? {
            Ok(o) => {
                self.reached();
                self.set(PutObject, Allowed, messages::put_allowed(&p.probe_key));
                Ok(Put::Written(o.version_id))
            }
            Err(f) => {
                match f.class {
                    Class::PreconditionFailed => return Ok(Put::InTheWay),
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.set(
                            PutObject,
                            Denied,
                            messages::put_denied(&p.probe_key, &f.describe()),
                        );
                    }
                    Class::NotImplemented => {
                        self.set(PutObject, Unverified, messages::NO_CONDITIONAL_WRITES)
                    }
                    _ => self.set(
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
        self.clients
            .s3
            .get_object()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .key(&p.probe_key)
            .send()
    }

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
                    self.set(GetObject, Allowed, messages::read_back(&p.probe_key))
                } else {
                    self.set(
                        GetObject,
                        Unverified,
                        messages::read_back_differs(&p.probe_key),
                    )
                }
            }
            Err(f) if f.class == Class::Denied => {
                self.set(GetObject, Denied, messages::read_back_denied(&f.describe()))
            }
            Err(f) => self.set(
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
        let call = self
            .clients
            .s3
            .delete_object()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .key(&p.probe_key)
            .send();
        let failure = match self.send(Op::DeleteObject, call).await {
            Ok(Ok(o)) => {
                let mut msg = messages::deleted(&p.probe_key);
                if let Some(v) = version {
                    let marker = o.version_id.filter(|_| o.delete_marker == Some(true));
                    if !self.remove_versions(&[Some(v), marker]).await {
                        msg.push_str(messages::OLD_VERSION_KEPT);
                    }
                }
                self.set(DeleteObject, Allowed, msg);
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
            self.set(
                DeleteObject,
                Denied,
                messages::delete_denied(&p.probe_key, &f.describe()),
            );
        } else {
            self.set(
                DeleteObject,
                Unverified,
                messages::delete_unexpected(&p.probe_key, &f.describe()),
            );
        }
        Ok(())
    }

    async fn remove_versions(&self, versions: &[Option<String>]) -> bool {
        let p = self.plan;
        let mut ok = true;
        for v in versions.iter().flatten() {
            let r = self
                .clients
                .s3
                .delete_object()
                .bucket(&p.bucket)
                .set_expected_bucket_owner(p.expected_owner.clone())
                .key(&p.probe_key)
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
        let head = self
            .clients
            .s3
            .head_object()
            .bucket(&p.bucket)
            .set_expected_bucket_owner(p.expected_owner.clone())
            .key(&p.probe_key)
            .send();
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
                .bucket(&p.bucket)
                .set_expected_bucket_owner(p.expected_owner.clone())
                .key(&p.probe_key)
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

    fn removal_failed(&self, f: Failure, op: Op) -> Step<Removal> {
        match f.class {
            Class::NoSuchKey => Ok(Removal::Gone),
            Class::Unreachable | Class::Transient(_) => Err(self.not_now(&f, op)),
            ref class => Ok(Removal::Refused {
                denied: *class == Class::Denied,
                described: format!("{}: {}", op.name(), f.describe()),
            }),
        }
    }

    /// An object that is not this connection's holds the probe key: leave it
    /// alone, write nothing, and say so.
    fn key_in_use(&mut self) {
        let p = self.plan;
        let problem = messages::probe_key_in_use(&p.bucket, &p.probe_key);
        for perm in [PutObject, GetObject, DeleteObject] {
            self.set(perm, Unverified, messages::not_tested_key_in_use());
        }
        self.blocker = Some(problem);
    }

    /// A probe object from earlier could not be deleted: write nothing, keep
    /// earlier results for what cannot be re-tested.
    fn blocked_by_leftover(&mut self, l: &Leftover, removal: &Removal) {
        let delete = match removal {
            Removal::Refused { denied: true, .. } => Denied,
            _ => Unverified,
        };
        self.blocked(l, &removal.why(), delete);
    }

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
            self.set(p, previous, messages::not_retested(&note));
        }
        self.set(DeleteObject, delete, note);
    }

    /// PutObject was not requested or not possible: prove GetObject without
    /// writing, by reading the (missing) probe key.
    async fn without_object(&mut self) -> Step {
        if self.plan.wants(GetObject) {
            self.read_missing().await?;
        }
        let why = match self.result(PutObject) {
            Some(Denied) => "PutObject was denied",
            _ => "no probe object could be written",
        };
        self.set(DeleteObject, Unverified, messages::delete_needs_object(why));
        Ok(())
    }

    /// GetObject of a key that should not exist: 404 proves s3:GetObject (S3
    /// answers 404 only to callers allowed to read); 403 proves a denial only
    /// when listing is allowed, since without s3:ListBucket S3 answers 403 for
    /// every missing key.
    async fn read_missing(&mut self) -> Step {
        let p = self.plan;
        match self.send(Op::GetObject, self.get_probe()).await? {
            Ok(_) => {
                self.reached();
                self.set(GetObject, Allowed, messages::read_probe_key(&p.probe_key));
            }
            Err(f) => match f.class {
                Class::NoSuchKey => {
                    self.reached();
                    self.set(GetObject, Allowed, messages::read_missing_key(&p.probe_key));
                }
                Class::Denied if self.result(ListBucket) == Some(Allowed) => {
                    self.authenticated_if_coded(&f);
                    self.set(
                        GetObject,
                        Denied,
                        messages::read_denied_although_listing(&p.location(), &f.describe()),
                    );
                }
                Class::Denied => {
                    self.authenticated_if_coded(&f);
                    self.set(
                        GetObject,
                        Unverified,
                        messages::read_refused_without_listing(&f.describe()),
                    );
                }
                _ => self.set(
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

    async fn replicate(&mut self) {
        let resource = format!("arn:aws:s3:::{}/{}*", self.plan.bucket, self.plan.prefix);
        let principal = principal_arn(self.plan.role_arn.as_deref(), self.out.identity.as_deref());
        let (Some(iam), Some(principal)) = (&self.clients.iam, principal) else {
            self.set(
                ReplicateObject,
                Unverified,
                messages::replicate_no_principal(),
            );
            return;
        };
        let skipped = self
            .clients
            .outages
            .skipped(Service::Iam, &iam.location, Instant::now());
        if let Some(s) = skipped {
            self.set(
                ReplicateObject,
                Unverified,
                messages::replicate_iam_unavailable(&iam.location, &s.why),
            );
            return;
        }
        let call = iam
            .client
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .action_names(ReplicateObject.as_str())
            .resource_arns(&resource)
            .send();
        let decision = match attempt(Op::Iam, call).await {
            Ok(o) => o
                .evaluation_results
                .unwrap_or_default()
                .into_iter()
                .next()
                .map(|r| r.eval_decision),
            Err(f) => {
                let message = if self.note_outage(Service::Iam, &iam.location, &f) {
                    messages::replicate_iam_unavailable(&iam.location, &f.describe())
                } else {
                    messages::replicate_simulation_failed(&principal, &f.describe())
                };
                self.set(ReplicateObject, Unverified, message);
                return;
            }
        };
        use aws_sdk_iam::types::PolicyEvaluationDecisionType as Decision;
        match decision {
            Some(Decision::Allowed) => self.set(
                ReplicateObject,
                Allowed,
                messages::replicate_allowed(&principal, &resource),
            ),
            Some(Decision::ExplicitDeny) => self.set(
                ReplicateObject,
                Denied,
                messages::replicate_explicit_deny(&principal, &resource),
            ),
            other => self.set(
                ReplicateObject,
                Unverified,
                messages::replicate_undecided(
                    &principal,
                    &other
                        .as_ref()
                        .map(|d| tame::code(d.as_str()))
                        .unwrap_or_else(|| "nothing".into()),
                ),
            ),
        }
    }

    fn reached(&mut self) {
        self.out.bucket_reached = true;
        self.out.authenticated = true;
    }

    /// An error code such as AccessDenied means S3 accepted the signature.
    fn authenticated_if_coded(&mut self, f: &Failure) {
        if f.facts.code.is_some() {
            self.out.authenticated = true;
        }
    }
}
