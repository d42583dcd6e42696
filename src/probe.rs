//! The validation engine: proves each requested permission with real S3
//! requests, touching nothing the operator did not create.
//!
//! Order: who am I (STS), bucket and region (HeadBucket, not required to
//! succeed), `s3:ListBucket` (ListObjectsV2, max 1 key), then one probe object
//! under the connection's prefix: written with `If-None-Match: *` (never
//! overwrites), read back and compared, deleted. The probe key is fixed per
//! connection (`<prefix>.s3connection-probe/<uid>`), so at most one probe
//! object can exist per connection and prefix. Without `s3:PutObject` in the
//! request nothing is written at all. `s3:ReplicateObject` cannot be
//! exercised by a client; it is `Unverified` unless IAM policy simulation
//! answers for the caller.

use aws_sdk_s3::primitives::ByteStream;

use crate::api::{PermissionOutcome, PermissionResult};
use crate::classify::{Class, ErrorFacts, Op, classify, facts};
use crate::outcome::{Leftover, Outcome, Problem, Reason};

pub const LIST: &str = "s3:ListBucket";
pub const GET: &str = "s3:GetObject";
pub const PUT: &str = "s3:PutObject";
pub const DELETE: &str = "s3:DeleteObject";
pub const REPLICATE: &str = "s3:ReplicateObject";

/// The directory under the connection's prefix that holds probe objects.
pub const PROBE_DIR: &str = ".s3connection-probe";

/// The probe key for a connection: `<prefix>.s3connection-probe/<uid>`.
pub fn probe_key(prefix: &str, uid: &str) -> String {
    format!("{prefix}{PROBE_DIR}/{uid}")
}

/// SDK clients for one validation.
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    /// `None` when no STS can answer for these credentials.
    pub sts: Option<aws_sdk_sts::Client>,
    /// `None` when no IAM can answer for these credentials.
    pub iam: Option<aws_sdk_iam::Client>,
}

/// What to validate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
    pub region: String,
    /// Where requests go, for messages.
    pub endpoint: String,
    pub permissions: Vec<String>,
    pub probe_key: String,
    /// Body written to the probe object; unique per validation.
    pub probe_body: String,
    /// A probe object an earlier validation could not delete.
    pub leftover: Option<Leftover>,
    /// Results of the last validation, reused while a leftover blocks writes.
    pub previous: Vec<PermissionResult>,
    /// STS rejecting the credentials is definitive (AWS, not a third-party
    /// store that merely has no STS).
    pub sts_authoritative: bool,
    /// The role that was assumed, for IAM policy simulation.
    pub role_arn: Option<String>,
}

impl Plan {
    fn wants(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| p == action)
    }

    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Run the whole validation. Never panics; every failure ends up in the
/// returned outcome.
pub async fn run(clients: &Clients, plan: &Plan) -> Outcome {
    let mut v = Validation {
        clients,
        plan,
        out: Outcome {
            reason: Reason::Validated,
            message: String::new(),
            authenticated: false,
            bucket_reached: false,
            identity: None,
            bucket_region: None,
            permissions: vec![],
            leftover: plan.leftover.clone(),
        },
        results: vec![],
    };
    match v.steps().await {
        Ok(()) => {
            v.collect_results();
            v.conclude();
        }
        Err(p) => {
            v.out.reason = p.reason;
            v.out.message = p.message;
            v.out.permissions.clear();
        }
    }
    v.out
}

struct Validation<'a> {
    clients: &'a Clients,
    plan: &'a Plan,
    out: Outcome,
    results: Vec<PermissionResult>,
}

type Step<T = ()> = Result<T, Problem>;

impl Validation<'_> {
    fn set(&mut self, action: &str, result: PermissionOutcome, message: impl Into<String>) {
        if !self.plan.wants(action) {
            return;
        }
        self.results.retain(|r| r.action != action);
        self.results.push(PermissionResult {
            action: action.to_string(),
            result,
            message: message.into(),
        });
    }

    fn result(&self, action: &str) -> Option<PermissionOutcome> {
        self.results
            .iter()
            .find(|r| r.action == action)
            .map(|r| r.result)
    }

    async fn steps(&mut self) -> Step {
        self.identity().await?;
        self.bucket().await?;
        if self.plan.wants(LIST) {
            self.list().await?;
        }
        if self.plan.wants(PUT) {
            self.write_read_delete().await?;
        } else {
            if self.plan.wants(GET) {
                self.read_missing().await?;
            }
            self.set(
                DELETE,
                PermissionOutcome::Unverified,
                "Proving s3:DeleteObject needs a probe object, and without s3:PutObject in spec.permissions the operator writes nothing.",
            );
        }
        if self.plan.wants(REPLICATE) {
            self.replicate().await;
        }
        Ok(())
    }

    /// Turn a failure that stops the whole validation into a problem; return
    /// the class for the caller to handle otherwise.
    fn fatal(&self, class: Class, what: &str) -> Step<Class> {
        let p = self.plan;
        match class {
            Class::InvalidCredentials(code) => Err(invalid_credentials(&code, "S3")),
            Class::NoSuchBucket => Err(Problem::new(
                Reason::BucketNotFound,
                format!(
                    "Bucket {:?} does not exist at {} (NoSuchBucket). Create it, or fix spec.bucket.",
                    p.bucket, p.endpoint
                ),
            )),
            Class::WrongRegion(actual) => Err(wrong_region(p, actual.as_deref())),
            Class::Unreachable => Err(Problem::new(
                Reason::EndpointUnreachable,
                format!(
                    "Could not connect to {} for {what}. Check spec.endpoint and the network; retrying.",
                    p.endpoint
                ),
            )),
            Class::Transient(d) => Err(Problem::new(
                Reason::Transient,
                format!("S3 failed temporarily during {what} ({d}); retrying."),
            )),
            other => Ok(other),
        }
    }

    async fn identity(&mut self) -> Step {
        let Some(sts) = &self.clients.sts else {
            return Ok(());
        };
        match sts.get_caller_identity().send().await {
            Ok(o) => {
                self.out.identity = o.arn;
                self.out.authenticated = true;
            }
            Err(e) => {
                if let Class::InvalidCredentials(code) = classify(Op::Sts, &facts(&e))
                    && self.plan.sts_authoritative
                {
                    return Err(invalid_credentials(&code, "STS"));
                }
                // Not fatal: S3-compatible stores may have no STS at all.
            }
        }
        Ok(())
    }

    async fn bucket(&mut self) -> Step {
        let p = self.plan;
        match self.clients.s3.head_bucket().bucket(&p.bucket).send().await {
            Ok(o) => {
                self.out.bucket_reached = true;
                self.out.authenticated = true;
                self.out.bucket_region = o.bucket_region.filter(|r| !r.is_empty());
            }
            Err(e) => {
                let f = facts(&e);
                self.out.bucket_region = f.region_header.clone().filter(|r| !r.is_empty());
                // A 403 is expected for prefix-scoped credentials: go on and
                // let the permission probes tell.
                let _ = self.fatal(classify(Op::HeadBucket, &f), "HeadBucket")?;
            }
        }
        if let Some(actual) = &self.out.bucket_region
            && actual != &p.region
        {
            return Err(wrong_region(p, Some(actual)));
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
            .max_keys(1);
        if !p.prefix.is_empty() {
            req = req.prefix(&p.prefix);
        }
        match req.send().await {
            Ok(_) => {
                self.reached();
                self.set(
                    LIST,
                    PermissionOutcome::Allowed,
                    format!("ListObjectsV2 on {} succeeded.", p.location()),
                );
            }
            Err(e) => {
                let f = facts(&e);
                match self.fatal(classify(Op::ListObjects, &f), "ListObjectsV2")? {
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.set(
                            LIST,
                            PermissionOutcome::Denied,
                            format!(
                                "ListObjectsV2 on {} was denied ({}).",
                                p.location(),
                                f.describe()
                            ),
                        );
                    }
                    _ => self.set(
                        LIST,
                        PermissionOutcome::Unverified,
                        format!(
                            "ListObjectsV2 on {} gave an unexpected answer ({}).",
                            p.location(),
                            f.describe()
                        ),
                    ),
                }
            }
        }
        Ok(())
    }

    /// Write the probe object, read it back, delete it.
    async fn write_read_delete(&mut self) -> Step {
        let p = self.plan;
        if let Some(l) = p.leftover.clone() {
            match self.delete_leftover(&l).await? {
                None => self.out.leftover = None,
                Some(why) => {
                    self.blocked_by_leftover(&l, &why);
                    return Ok(());
                }
            }
        }

        let written = match self.put().await? {
            Put::Written(version) => version,
            Put::InTheWay => {
                // An earlier probe object (say, from a crash) holds our key.
                let l = Leftover {
                    bucket: p.bucket.clone(),
                    key: p.probe_key.clone(),
                };
                match self.delete_leftover(&l).await? {
                    None => match self.put().await? {
                        Put::Written(version) => version,
                        Put::InTheWay => {
                            self.out.leftover = Some(l.clone());
                            self.blocked_by_leftover(
                                &l,
                                "another probe object appeared while the operator was writing",
                            );
                            return Ok(());
                        }
                        Put::NotWritten => return self.without_object().await,
                    },
                    Some(why) => {
                        self.out.leftover = Some(l.clone());
                        self.blocked_by_leftover(&l, &why);
                        return Ok(());
                    }
                }
            }
            Put::NotWritten => return self.without_object().await,
        };

        // From here on an object exists: whatever happens, try to delete it.
        let read = if p.wants(GET) {
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
        let res = self
            .clients
            .s3
            .put_object()
            .bucket(&p.bucket)
            .key(&p.probe_key)
            .if_none_match("*")
            .content_type("text/plain")
            .body(ByteStream::from(p.probe_body.clone().into_bytes()))
            .send()
            .await;
        match res {
            Ok(o) => {
                self.reached();
                self.set(
                    PUT,
                    PermissionOutcome::Allowed,
                    format!("Wrote probe object {} with If-None-Match: *.", p.probe_key),
                );
                Ok(Put::Written(o.version_id))
            }
            Err(e) => {
                let f = facts(&e);
                match self.fatal(classify(Op::PutObject, &f), "PutObject")? {
                    Class::PreconditionFailed => Ok(Put::InTheWay),
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.set(
                            PUT,
                            PermissionOutcome::Denied,
                            format!(
                                "PutObject of probe object {} was denied ({}).",
                                p.probe_key,
                                f.describe()
                            ),
                        );
                        Ok(Put::NotWritten)
                    }
                    Class::NotImplemented => {
                        self.set(
                            PUT,
                            PermissionOutcome::Unverified,
                            "The endpoint does not support conditional writes (If-None-Match: *), and the operator writes only when it cannot overwrite anything.",
                        );
                        Ok(Put::NotWritten)
                    }
                    _ => {
                        self.set(
                            PUT,
                            PermissionOutcome::Unverified,
                            format!(
                                "PutObject of probe object {} gave an unexpected answer ({}).",
                                p.probe_key,
                                f.describe()
                            ),
                        );
                        Ok(Put::NotWritten)
                    }
                }
            }
        }
    }

    async fn read_back(&mut self) -> Step {
        let p = self.plan;
        let res = self
            .clients
            .s3
            .get_object()
            .bucket(&p.bucket)
            .key(&p.probe_key)
            .send()
            .await;
        match res {
            Ok(o) => {
                let body = o.body.collect().await.map(|b| b.into_bytes());
                match body {
                    Ok(b) if b.as_ref() == p.probe_body.as_bytes() => self.set(
                        GET,
                        PermissionOutcome::Allowed,
                        format!("Read probe object {} back with the content written.", p.probe_key),
                    ),
                    Ok(_) => self.set(
                        GET,
                        PermissionOutcome::Unverified,
                        format!("Read probe object {}, but its content differed from what was written; something else writes under this key.", p.probe_key),
                    ),
                    Err(_) => {
                        return Err(Problem::new(
                            Reason::Transient,
                            "The connection broke while reading the probe object; retrying.",
                        ));
                    }
                }
            }
            Err(e) => {
                let f = facts(&e);
                match self.fatal(classify(Op::GetObject, &f), "GetObject")? {
                    Class::Denied => self.set(
                        GET,
                        PermissionOutcome::Denied,
                        format!("GetObject of the probe object the operator had just written was denied ({}).", f.describe()),
                    ),
                    _ => self.set(
                        GET,
                        PermissionOutcome::Unverified,
                        format!("GetObject of probe object {} gave an unexpected answer ({}).", p.probe_key, f.describe()),
                    ),
                }
            }
        }
        Ok(())
    }

    /// Delete the probe object just written. In a versioned bucket also try
    /// to remove the version and the delete marker, so probes do not pile up.
    async fn delete_probe(&mut self, version: Option<String>) -> Step {
        let p = self.plan;
        let res = self
            .clients
            .s3
            .delete_object()
            .bucket(&p.bucket)
            .key(&p.probe_key)
            .send()
            .await;
        let leftover = Leftover {
            bucket: p.bucket.clone(),
            key: p.probe_key.clone(),
        };
        match res {
            Ok(o) => {
                let mut msg = format!("Deleted probe object {}.", p.probe_key);
                if let Some(v) = version {
                    let marker = o.version_id.filter(|_| o.delete_marker == Some(true));
                    if !self.remove_versions(&[Some(v), marker]).await {
                        msg.push_str(" The bucket is versioned and removing the probe's old version was not allowed; grant s3:DeleteObjectVersion on the probe key or expire old versions with a lifecycle rule.");
                    }
                }
                self.set(DELETE, PermissionOutcome::Allowed, msg);
                Ok(())
            }
            Err(e) => {
                let f = facts(&e);
                self.out.leftover = Some(leftover);
                match self.fatal(classify(Op::DeleteObject, &f), "DeleteObject")? {
                    Class::Denied => self.set(
                        DELETE,
                        PermissionOutcome::Denied,
                        format!(
                            "DeleteObject of probe object {} was denied ({}); it is left in the bucket (status.leftoverProbeObject) and no other probe object is written until it is gone.",
                            p.probe_key,
                            f.describe()
                        ),
                    ),
                    _ => self.set(
                        DELETE,
                        PermissionOutcome::Unverified,
                        format!("DeleteObject of probe object {} gave an unexpected answer ({}); it may be left in the bucket.", p.probe_key, f.describe()),
                    ),
                }
                Ok(())
            }
        }
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
                .key(&p.probe_key)
                .version_id(v)
                .send()
                .await;
            ok &= r.is_ok();
        }
        ok
    }

    /// Delete a probe object left by an earlier validation. `None` when it is
    /// gone, otherwise why it could not be deleted.
    async fn delete_leftover(&mut self, l: &Leftover) -> Step<Option<String>> {
        let res = self
            .clients
            .s3
            .delete_object()
            .bucket(&l.bucket)
            .key(&l.key)
            .send()
            .await;
        match res {
            Ok(_) => Ok(None),
            Err(e) => {
                let f = facts(&e);
                match classify(Op::DeleteObject, &f) {
                    Class::NoSuchKey => Ok(None),
                    Class::Denied => {
                        Ok(Some(format!("DeleteObject was denied ({})", f.describe())))
                    }
                    c @ (Class::Unreachable | Class::Transient(_)) => {
                        self.fatal(c, "DeleteObject").map(|_| None)
                    }
                    _ => Ok(Some(format!("DeleteObject failed ({})", f.describe()))),
                }
            }
        }
    }

    /// A probe object from earlier could not be deleted: write nothing, keep
    /// earlier results for what cannot be re-tested.
    fn blocked_by_leftover(&mut self, l: &Leftover, why: &str) {
        let note = format!(
            "A probe object from an earlier validation, s3://{}/{}, is still there ({why}); the operator writes no other probe object until it is gone. Delete it or grant s3:DeleteObject.",
            l.bucket, l.key
        );
        for action in [PUT, GET] {
            let previous = self
                .plan
                .previous
                .iter()
                .find(|r| r.action == action)
                .map(|r| r.result)
                .unwrap_or(PermissionOutcome::Unverified);
            self.set(action, previous, format!("Not re-tested. {note}"));
        }
        let delete = if why.starts_with("DeleteObject was denied") {
            PermissionOutcome::Denied
        } else {
            PermissionOutcome::Unverified
        };
        self.set(DELETE, delete, note);
    }

    /// PutObject was not requested or not possible: prove GetObject without
    /// writing, by reading the (missing) probe key.
    async fn without_object(&mut self) -> Step {
        if self.plan.wants(GET) {
            self.read_missing().await?;
        }
        let why = match self.result(PUT) {
            Some(PermissionOutcome::Denied) => "PutObject was denied",
            _ => "no probe object could be written",
        };
        self.set(
            DELETE,
            PermissionOutcome::Unverified,
            format!("Proving s3:DeleteObject needs a probe object, and {why}; the operator deletes only objects it wrote."),
        );
        Ok(())
    }

    /// GetObject of a key that should not exist: 404 proves s3:GetObject (S3
    /// answers 404 only to callers allowed to read); 403 proves a denial only
    /// when listing is allowed, since without s3:ListBucket S3 answers 403 for
    /// every missing key.
    async fn read_missing(&mut self) -> Step {
        let p = self.plan;
        let res = self
            .clients
            .s3
            .get_object()
            .bucket(&p.bucket)
            .key(&p.probe_key)
            .send()
            .await;
        match res {
            Ok(_) => {
                self.reached();
                self.set(
                    GET,
                    PermissionOutcome::Allowed,
                    format!("Read the operator's probe key {}.", p.probe_key),
                );
            }
            Err(e) => {
                let f = facts(&e);
                match self.fatal(classify(Op::GetObject, &f), "GetObject")? {
                    Class::NoSuchKey => {
                        self.reached();
                        self.set(
                            GET,
                            PermissionOutcome::Allowed,
                            format!(
                                "GetObject of the missing key {} answered NoSuchKey, which S3 only tells callers allowed to read; nothing was written.",
                                p.probe_key
                            ),
                        );
                    }
                    Class::Denied if self.result(LIST) == Some(PermissionOutcome::Allowed) => {
                        self.authenticated_if_coded(&f);
                        self.set(
                            GET,
                            PermissionOutcome::Denied,
                            format!(
                                "GetObject under {} was denied ({}) although listing is allowed.",
                                p.location(),
                                f.describe()
                            ),
                        );
                    }
                    Class::Denied => {
                        self.authenticated_if_coded(&f);
                        self.set(
                            GET,
                            PermissionOutcome::Unverified,
                            format!(
                                "GetObject of a missing key was refused ({}); without s3:ListBucket S3 refuses reads of missing keys even when s3:GetObject is allowed, so this proves nothing. Allow s3:PutObject or s3:ListBucket to prove it.",
                                f.describe()
                            ),
                        );
                    }
                    _ => self.set(
                        GET,
                        PermissionOutcome::Unverified,
                        format!(
                            "GetObject of key {} gave an unexpected answer ({}).",
                            p.probe_key,
                            f.describe()
                        ),
                    ),
                }
            }
        }
        Ok(())
    }

    async fn replicate(&mut self) {
        const WHY: &str = "s3:ReplicateObject is used by S3 replication, not by clients, so no request can exercise it";
        let resource = format!("arn:aws:s3:::{}/{}*", self.plan.bucket, self.plan.prefix);
        let principal = principal_arn(self.plan.role_arn.as_deref(), self.out.identity.as_deref());
        let (Some(iam), Some(principal)) = (&self.clients.iam, principal) else {
            self.set(
                REPLICATE,
                PermissionOutcome::Unverified,
                format!("{WHY}, and no IAM identity is known to simulate the policy for."),
            );
            return;
        };
        let res = iam
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .action_names(REPLICATE)
            .resource_arns(&resource)
            .send()
            .await;
        let decision = match res {
            Ok(o) => o
                .evaluation_results
                .unwrap_or_default()
                .into_iter()
                .next()
                .map(|r| r.eval_decision.as_str().to_string()),
            Err(e) => {
                let f = facts(&e);
                self.set(
                    REPLICATE,
                    PermissionOutcome::Unverified,
                    format!(
                        "{WHY}; IAM policy simulation for {principal} was not possible ({}).",
                        f.describe()
                    ),
                );
                return;
            }
        };
        match decision.as_deref() {
            Some("allowed") => self.set(
                REPLICATE,
                PermissionOutcome::Allowed,
                format!("{WHY}; IAM policy simulation for {principal} allows it on {resource}."),
            ),
            Some("explicitDeny") => self.set(
                REPLICATE,
                PermissionOutcome::Denied,
                format!("{WHY}; IAM policy simulation for {principal} finds an explicit deny on {resource}."),
            ),
            other => self.set(
                REPLICATE,
                PermissionOutcome::Unverified,
                format!(
                    "{WHY}; IAM policy simulation for {principal} answered {} (a bucket policy may still grant it).",
                    other.unwrap_or("nothing")
                ),
            ),
        }
    }

    fn reached(&mut self) {
        self.out.bucket_reached = true;
        self.out.authenticated = true;
    }

    /// An error code such as AccessDenied means S3 accepted the signature.
    fn authenticated_if_coded(&mut self, f: &ErrorFacts) {
        if f.code.is_some() {
            self.out.authenticated = true;
        }
    }

    fn collect_results(&mut self) {
        let mut ordered = vec![];
        for action in &self.plan.permissions {
            if let Some(r) = self.results.iter().find(|r| &r.action == action) {
                ordered.push(r.clone());
            }
        }
        self.out.permissions = ordered;
    }

    fn conclude(&mut self) {
        let p = self.plan;
        let denied = self.out.actions_with(PermissionOutcome::Denied).join(", ");
        let allowed = self.out.actions_with(PermissionOutcome::Allowed).join(", ");
        let unverified = self
            .out
            .actions_with(PermissionOutcome::Unverified)
            .join(", ");
        let policy_hint = format!(
            "s3:ListBucket on arn:aws:s3:::{}, object actions on arn:aws:s3:::{}/{}*",
            p.bucket, p.bucket, p.prefix
        );
        let (reason, message) = if !denied.is_empty()
            && allowed.is_empty()
            && !self.out.bucket_reached
        {
            (
                Reason::AccessDenied,
                format!(
                    "The credentials are valid but S3 denied every request for {} ({denied}). Grant them in the IAM policy ({policy_hint}).",
                    p.location()
                ),
            )
        } else if !denied.is_empty() {
            (
                Reason::PermissionDenied,
                format!(
                    "S3 denied {denied} on {}. Add them to the IAM policy ({policy_hint}).",
                    p.location()
                ),
            )
        } else {
            let who = self
                .out
                .identity
                .as_deref()
                .map(|i| format!(" as {i}"))
                .unwrap_or_default();
            let mut m = format!("Connected to {}{who}", p.location());
            if !allowed.is_empty() {
                m.push_str(&format!("; proved {allowed}"));
            }
            m.push('.');
            if !unverified.is_empty() {
                m.push_str(&format!(
                    " Not provable: {unverified} (see status.permissions)."
                ));
            }
            (Reason::Validated, m)
        };
        self.out.reason = reason;
        self.out.message = message;
        if let Some(l) = &self.out.leftover {
            self.out.message.push_str(&format!(
                " Probe object s3://{}/{} is left over; delete it or grant s3:DeleteObject.",
                l.bucket, l.key
            ));
        }
    }
}

enum Put {
    Written(Option<String>),
    /// `If-None-Match: *` failed: an object already has the probe key.
    InTheWay,
    NotWritten,
}

/// The IAM principal to simulate: the assumed role, or the caller if it is
/// an IAM user or role (an assumed-role session maps back to its role).
pub fn principal_arn(role_arn: Option<&str>, identity: Option<&str>) -> Option<String> {
    if let Some(r) = role_arn {
        return Some(r.to_string());
    }
    let id = identity?;
    if id.contains(":iam::") && (id.contains(":user/") || id.contains(":role/")) {
        return Some(id.to_string());
    }
    // arn:aws:sts::123456789012:assumed-role/NAME/SESSION
    let (head, rest) = id.split_once(":assumed-role/")?;
    let role = rest.split('/').next()?;
    let account = head.rsplit(':').next()?;
    let partition = head.split(':').nth(1)?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

pub fn invalid_credentials(code: &str, service: &str) -> Problem {
    let why = match code {
        "InvalidAccessKeyId" | "InvalidClientTokenId" => {
            "the access key ID does not exist (deleted, deactivated, or from another account or endpoint)"
        }
        "SignatureDoesNotMatch" => "the secret access key does not match the access key ID",
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => {
            "the session token has expired"
        }
        "InvalidToken" => "the session token is malformed or invalid",
        _ => "they were not accepted",
    };
    Problem::new(
        Reason::InvalidCredentials,
        format!(
            "{service} rejected the credentials ({code}): {why}. Update the credentials the connection uses."
        ),
    )
}

fn wrong_region(p: &Plan, actual: Option<&str>) -> Problem {
    match actual {
        Some(r) => Problem::new(
            Reason::WrongRegion,
            format!(
                "Bucket {:?} is in region {r}, not {}. Set spec.region to {r}.",
                p.bucket, p.region
            ),
        ),
        None => Problem::new(
            Reason::WrongRegion,
            format!(
                "Bucket {:?} is not in region {}; S3 redirected the request. Set spec.region to the bucket's region.",
                p.bucket, p.region
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_live_under_the_prefix() {
        assert_eq!(
            probe_key("customers/", "u-1"),
            "customers/.s3connection-probe/u-1"
        );
        assert_eq!(probe_key("", "u-1"), ".s3connection-probe/u-1");
    }

    #[test]
    fn principals_for_policy_simulation() {
        let role = "arn:aws:iam::123456789012:role/sync";
        assert_eq!(principal_arn(Some(role), Some("x")).unwrap(), role);
        assert_eq!(
            principal_arn(None, Some("arn:aws:iam::123456789012:user/sync")).unwrap(),
            "arn:aws:iam::123456789012:user/sync"
        );
        assert_eq!(
            principal_arn(
                None,
                Some("arn:aws:sts::123456789012:assumed-role/sync/session")
            )
            .unwrap(),
            role
        );
        assert_eq!(principal_arn(None, None), None);
        assert_eq!(
            principal_arn(None, Some("arn:aws:iam::123456789012:root")),
            None
        );
    }

    #[test]
    fn invalid_credential_messages_name_the_cause() {
        assert!(
            invalid_credentials("SignatureDoesNotMatch", "S3")
                .message
                .contains("secret access key")
        );
        assert!(
            invalid_credentials("InvalidAccessKeyId", "S3")
                .message
                .contains("access key ID does not exist")
        );
        assert!(
            invalid_credentials("ExpiredToken", "STS")
                .message
                .contains("expired")
        );
    }
}
