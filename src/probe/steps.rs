//! The state of one validation ([`Probe`]) and its first steps: who the
//! credentials are (STS), the bucket and its region, listing. Each step
//! sends one kind of request through [`Probe::send`], which turns failures
//! that end the validation into its problem and hands every other failure
//! back, classified, to the step. The probe object's steps are in
//! [`super::object`], ReplicateObject's in [`super::replicate`].

use std::future::Future;
use std::time::Instant;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Plan;
use super::requests::InBucket;
use super::results::Results;
use crate::aws::classify::{Class, Failure, Op, attempt};
use crate::aws::{Clients, Service, Skipped, tame};
use crate::crd::Permission::*;
use crate::crd::PermissionOutcome::*;
use crate::messages;
use crate::outcome::{Outcome, Problem, Reason};

/// What a step comes to: `Err` ends the validation with that problem.
pub(super) type Step<T = ()> = Result<T, Problem>;

/// One validation under way: what it sends requests with, what it found.
pub(super) struct Probe<'a> {
    pub(super) clients: &'a Clients,
    pub(super) plan: &'a Plan,
    /// The outcome so far.
    pub(super) out: Outcome,
    /// What each requested permission came to so far.
    pub(super) results: Results<'a>,
    /// A definite problem found along the way that decides the reason even
    /// though the other steps ran.
    pub(super) blocker: Option<Problem>,
    /// Whether the store may still support conditional deletes (it has not
    /// answered 501 to one in this validation).
    pub(super) conditional_deletes: bool,
}

impl<'a> Probe<'a> {
    /// A validation of `plan` with `clients` that has found nothing yet.
    pub(super) fn new(clients: &'a Clients, plan: &'a Plan) -> Self {
        Self {
            clients,
            plan,
            out: Outcome {
                leftover: plan.leftover.clone(),
                ..Outcome::new(Reason::Validated, String::new())
            },
            results: Results::new(&plan.permissions),
            blocker: None,
            conditional_deletes: true,
        }
    }

    /// Every step, in order. `Err` is the problem that ended the
    /// validation; the outcome so far is in `out` and `results`.
    pub(super) async fn steps(&mut self) -> Step {
        self.identity().await?;
        self.bucket().await?;
        if self.plan.wants(ListBucket) {
            self.list().await?;
        }
        if self.plan.probe.read_only {
            if self.plan.wants(GetObject) {
                self.read_missing().await?;
            }
            for p in [PutObject, DeleteObject] {
                self.results.set(p, Unverified, messages::READ_ONLY);
            }
        } else if self.plan.wants(PutObject) {
            self.write_read_delete().await?;
        } else {
            if self.plan.wants(GetObject) {
                self.read_missing().await?;
            }
            self.results
                .set(DeleteObject, Unverified, messages::DELETE_NEEDS_PUT);
        }
        if self.plan.wants(ReplicateObject) {
            self.replicate().await;
        }
        Ok(())
    }

    /// Send one S3 request. A failure that ends the whole validation becomes
    /// its problem; any other failure comes back to the step, classified.
    pub(super) async fn send<T, E: ProvideErrorMetadata>(
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
    pub(super) fn unless_fatal(&self, f: Failure, op: Op) -> Step<Failure> {
        let p = self.plan;
        match &f.class {
            Class::InvalidCredentials(code) => Err(messages::invalid_credentials(*code, "S3")),
            Class::NoSuchBucket => Err(messages::bucket_not_found(&p.bucket, &p.endpoint)),
            Class::WrongRegion(actual) => Err(messages::wrong_region(
                &p.bucket,
                &p.region,
                actual.as_deref(),
            )),
            Class::Malformed(d) => Err(messages::invalid_response(&p.endpoint, op.name(), d)),
            Class::Tls(why) => Err(messages::tls_failed(&p.endpoint, why)),
            Class::Refused(why) => Err(messages::request_not_allowed(&p.endpoint, why)),
            Class::Unreachable | Class::Transient(_) => Err(self.not_now(&f, op)),
            _ => Ok(f),
        }
    }

    /// The problem for a failure that may pass: retried later.
    pub(super) fn not_now(&self, f: &Failure, op: Op) -> Problem {
        match &f.class {
            Class::Transient(d) => messages::transient(op.name(), d),
            _ => messages::unreachable(&self.plan.endpoint, op.name()),
        }
    }

    /// Who the credentials are (STS GetCallerIdentity). Not required: an
    /// S3-compatible store's STS may not implement it, and an STS that did
    /// not answer is skipped for a while (see [`Outages`](crate::aws::Outages)).
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

    /// Whether `service` at `location` is skipped for now: it recently did
    /// not answer these credentials ([`Outages`](crate::aws::Outages)).
    pub(super) fn skipped(&self, service: Service, location: &str) -> Option<Skipped> {
        let seen = self.clients.seen(service, location);
        self.clients.outages.skipped(&seen, Instant::now())
    }

    /// STS GetCallerIdentity.
    async fn ask_sts(&mut self) -> Step {
        let sts = &self.clients.sts;
        if self.skipped(Service::Sts, &sts.location).is_some() {
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
                return Err(messages::invalid_credentials(code, "STS"));
            }
            Err(f) => {
                self.note_outage(Service::Sts, &sts.location, &f);
            }
        }
        Ok(())
    }

    /// Remember a service that timed out, could not be reached or does not
    /// implement the call; an answer about these credentials (denied,
    /// rejected) is not an outage. Whether it was an outage.
    pub(super) fn note_outage(&self, service: Service, location: &str, f: &Failure) -> bool {
        if matches!(f.class, Class::Denied | Class::InvalidCredentials(_)) {
            return false;
        }
        let seen = self.clients.seen(service, location);
        self.clients
            .outages
            .note(seen, f.describe(), Instant::now());
        true
    }

    /// HeadBucket: whether the bucket exists, and in which region. Denied
    /// is no failure: prefix-scoped credentials may not head the bucket.
    pub(super) async fn bucket(&mut self) -> Step {
        let p = self.plan;
        let call = self.clients.s3.head_bucket().in_bucket(p).send();
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
            let mut req = s3
                .list_objects_v2()
                .bucket(&p.bucket)
                .set_request_payer(p.request_payer())
                .max_keys(0);
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

    /// ListObjectsV2 of at most one key under the prefix: s3:ListBucket.
    pub(super) async fn list(&mut self) -> Step {
        let p = self.plan;
        let mut req = self.clients.s3.list_objects_v2().in_bucket(p).max_keys(1);
        if !p.prefix.is_empty() {
            req = req.prefix(&p.prefix);
        }
        let location = p.location();
        match self.send(Op::ListObjects, req.send()).await? {
            Ok(_) => {
                self.reached();
                self.results
                    .set(ListBucket, Allowed, messages::list_allowed(&location));
            }
            Err(f) if f.class == Class::Denied => {
                if let Some(owner) = &p.expected_owner {
                    self.owner_differs(owner, Op::ListObjects).await?;
                }
                self.authenticated_if_coded(&f);
                self.results.set(
                    ListBucket,
                    Denied,
                    messages::list_denied(&location, &f.describe()),
                );
            }
            Err(f) => self.results.set(
                ListBucket,
                Unverified,
                messages::unexpected(&format!("ListObjectsV2 on {location}"), &f.describe()),
            ),
        }
        Ok(())
    }

    /// S3 answered a request about the bucket: it exists, and the
    /// credentials were accepted.
    pub(super) fn reached(&mut self) {
        self.out.bucket_reached = true;
        self.out.authenticated = true;
    }

    /// An error code such as AccessDenied means S3 accepted the signature.
    pub(super) fn authenticated_if_coded(&mut self, f: &Failure) {
        if f.facts.code.is_some() {
            self.out.authenticated = true;
        }
    }
}
