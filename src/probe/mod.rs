//! The validation engine: proves each requested permission with real S3
//! requests, touching nothing the operator did not create.
//!
//! Order: who am I (STS), bucket and region (HeadBucket, not required to
//! succeed), `s3:ListBucket` (ListObjectsV2, max 1 key), then one probe object
//! under the connection's prefix: written with `If-None-Match: *` (never
//! overwrites) and a keyed marker ([`marker`]), read back and compared,
//! deleted on condition that it is still what the operator wrote
//! (`If-Match`). The probe key is fixed per connection
//! (`<prefix>.s3connection-probe/<uid>`), so at most one probe object
//! normally exists per connection and prefix; only when an object the
//! operator did not write holds it is a fresh random key of the connection
//! used instead ([`other_probe_key`]). Without `s3:PutObject` in the request
//! nothing is written at all. `s3:ReplicateObject` cannot be
//! exercised by a client; it is `Unverified` unless IAM policy simulation
//! answers for the caller.
//!
//! [`Plan::new`] takes the stages before ([`ValidSpec`], [`Resolved`]) and
//! what the last status recorded; [`run`] returns an [`Outcome`].
//!
//! Files, one job each:
//! - `steps`: one validation under way, its order of steps, and the first
//!   ones (STS, the bucket, listing)
//! - `object`: the probe object (write, read back, delete)
//! - `removal`: deleting an object at a probe key, only if it is ours
//! - `cleanup`: removing a deleted connection's leftover probe object
//! - `marker`: the keyed MAC that marks the operator's probe objects
//! - `keys`: the Secret that holds its key
//! - `replicate`: s3:ReplicateObject by IAM policy simulation
//! - `light`: a light check between full validations
//! - `results`: what each requested permission came to
//! - `requests`: the bucket, expected owner and probe key every S3 request
//!   carries

mod cleanup;
pub mod keys;
mod light;
pub mod marker;
mod object;
mod removal;
mod replicate;
mod requests;
mod results;
mod steps;

pub use cleanup::{Cleanup, remove_leftover};
pub use light::{Light, Simulation, light};
pub use marker::{MAC, MARKER, MarkerKeys, SharedKeys};
pub use replicate::principal_arn;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::Timestamp;

use crate::aws::Clients;
use crate::crd::{ConnectionId, Permission, PermissionOutcome, S3ConnectionStatus};
use crate::credentials::Resolved;
use crate::messages;
use crate::outcome::{Leftover, Outcome, PermissionCheck, Reason};
use crate::spec::{ProbeOptions, ValidSpec};
use aws_sdk_s3::types::RequestPayer;

/// The directory under the connection's prefix that holds probe objects,
/// unless `spec.probe.keyPrefix` names another.
pub use crate::crd::rules::PROBE_DIR;

/// The probe key for a connection: `<prefix><dir>/<uid>`, the directory
/// `.s3connection-probe` unless the spec names another.
pub fn probe_key(prefix: &str, dir: &str, uid: &str) -> String {
    format!("{prefix}{dir}/{uid}")
}

/// Hex digits of the random part of [`other_probe_key`].
const NONCE_HEX: usize = 16;

/// A fresh probe key of the connection, used when an object the operator
/// did not write holds [`probe_key`]:
/// `<prefix><dir>/<uid>.<16 random hex digits>`. Nobody can put an object
/// there before the operator chooses it.
pub fn other_probe_key(prefix: &str, dir: &str, uid: &str) -> String {
    let nonce = marker::hex(&marker::random_bytes::<{ NONCE_HEX / 2 }>());
    format!("{}.{nonce}", probe_key(prefix, dir, uid))
}

/// Whether `key` is a probe key of connection `uid` in `dir` under
/// `prefix`: [`probe_key`] or an [`other_probe_key`].
pub fn is_probe_key(prefix: &str, dir: &str, uid: &str, key: &str) -> bool {
    match key.strip_prefix(&probe_key(prefix, dir, uid)) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('.').is_some_and(|n| {
            n.len() == NONCE_HEX && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }),
        None => false,
    }
}

/// What the last status recorded, as far as the next validation needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    /// A probe object an earlier validation could not delete.
    pub leftover: Option<Leftover>,
    /// Results of the last validation, reused while a leftover blocks
    /// writes and by a light check.
    pub results: Vec<PermissionCheck>,
    /// Who the credentials were, as the status says (a light check's
    /// answer).
    pub identity: Option<String>,
    /// The region the bucket answered from, as the status says.
    pub bucket_region: Option<String>,
}

impl Previous {
    /// What the status of connection `uid` recorded. A leftover whose key is
    /// not a probe key of this connection is dropped: the status may have
    /// been edited by hand, and the operator touches only its own objects.
    /// (Whether it is under the connection's prefix and probe directory,
    /// [`Plan::new`] checks against the spec.)
    pub fn of(status: Option<&S3ConnectionStatus>, uid: &str) -> Self {
        let Some(s) = status else {
            return Self::default();
        };
        let own_key = |key: &str| {
            key.rfind(&format!("/{uid}"))
                .is_some_and(|at| is_probe_key(&key[..at], "", uid, key))
        };
        let leftover = match (&s.leftover_probe_bucket, &s.leftover_probe_object) {
            (Some(bucket), Some(key)) if own_key(key) => Some(Leftover {
                bucket: bucket.clone(),
                key: key.clone(),
                // A version ID is an opaque token S3 chose: kept only when
                // it could be one (a hand-edited status may hold anything).
                version: s
                    .leftover_probe_version
                    .clone()
                    .filter(|v| v.len() <= 1024 && v.bytes().all(|b| b.is_ascii_graphic())),
            }),
            _ => None,
        };
        Self {
            leftover,
            results: s
                .permissions
                .iter()
                .filter_map(PermissionCheck::from_status)
                .collect(),
            identity: s.identity.clone(),
            bucket_region: s.bucket_region.clone(),
        }
    }
}

/// What to validate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The bucket (`spec.bucket`).
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
    /// The region the bucket must be in (`spec.region`).
    pub region: String,
    /// Where requests go, for messages.
    pub endpoint: String,
    /// The permissions to prove, in the order requested.
    pub permissions: Vec<Permission>,
    /// The one key probe objects of this connection are written at
    /// ([`probe_key`]).
    pub probe_key: String,
    /// The connection's UID: the marker of its probe objects.
    pub uid: String,
    /// The keys that sign and verify the marker of probe objects.
    pub keys: Arc<MarkerKeys>,
    /// Body written to the probe object; unique per validation.
    pub probe_body: String,
    /// A probe object an earlier validation could not delete (always at a
    /// probe key of this connection under `prefix` in `bucket`).
    pub leftover: Option<Leftover>,
    /// Results of the last validation, reused while a leftover blocks
    /// writes and by a light check.
    pub previous: Vec<PermissionCheck>,
    /// Who the credentials were and where the bucket answered from, as the
    /// last status says: a light check's answer.
    pub previous_identity: Option<String>,
    /// See `previous_identity`.
    pub previous_region: Option<String>,
    /// STS rejecting the credentials is definitive (AWS, not a third-party
    /// store that merely has no STS).
    pub sts_authoritative: bool,
    /// The role that was assumed, for IAM policy simulation.
    pub role_arn: Option<String>,
    /// The account that must own the bucket, sent with every S3 request.
    pub expected_owner: Option<String>,
    /// Who the credentials are, as STS answered recently for these very
    /// credentials ([`Identities`](crate::aws::Identities)): no
    /// GetCallerIdentity is sent.
    pub known_identity: Option<String>,
    /// How the requests are made (`spec.probe`).
    pub probe: ProbeOptions,
}

impl Plan {
    /// `now` is the one timestamp of this validation; `keys` sign and
    /// verify probe markers.
    pub fn new(
        spec: &ValidSpec,
        resolved: &Resolved,
        id: &ConnectionId,
        previous: Previous,
        now: Timestamp,
        keys: Arc<MarkerKeys>,
    ) -> Self {
        let dir = &spec.probe.key_prefix;
        let key = probe_key(&spec.target.prefix, dir, &id.uid);
        Self {
            bucket: spec.target.bucket.clone(),
            prefix: spec.target.prefix.clone(),
            region: spec.region.clone(),
            endpoint: spec
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", spec.region)),
            permissions: spec.permissions.clone(),
            probe_key: key.clone(),
            uid: id.uid.clone(),
            keys,
            probe_body: format!(
                "s3-connection-operator probe for S3Connection {}/{} ({}) at {now}\n",
                id.namespace, id.name, id.uid
            ),
            // Only this connection's own probe keys, whatever the status says.
            leftover: previous.leftover.filter(|l| {
                l.bucket == spec.target.bucket
                    && is_probe_key(&spec.target.prefix, dir, &id.uid, &l.key)
            }),
            previous: previous.results,
            previous_identity: previous.identity,
            previous_region: previous.bucket_region,
            sts_authoritative: spec.endpoint.is_none(),
            role_arn: resolved.role_arn.clone(),
            expected_owner: spec.expected_bucket_owner.clone(),
            known_identity: None,
            probe: spec.probe.clone(),
        }
    }

    /// `x-amz-request-payer` of every request that has it.
    pub(crate) fn request_payer(&self) -> Option<RequestPayer> {
        self.probe.requester_pays.then_some(RequestPayer::Requester)
    }

    /// The same plan, with who the credentials are already known.
    pub fn knowing(mut self, identity: Option<&str>) -> Self {
        self.known_identity = identity.map(str::to_string);
        self
    }

    fn wants(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// Whether this validation sends an S3 request whose answer carries an
    /// error code (ListObjectsV2, or the probe object's PutObject or
    /// GetObject), so that S3 itself says whether it accepts the
    /// credentials. HeadBucket cannot: its 403 has no body.
    pub fn s3_proves_credentials(&self) -> bool {
        let writes = self.wants(Permission::PutObject) && !self.probe.read_only;
        self.wants(Permission::ListBucket)
            || (self.leftover.is_none() && (writes || self.wants(Permission::GetObject)))
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
    let mut probe = steps::Probe::new(clients, plan);
    let mut result = probe.steps().await;
    // STS rejecting the credentials outweighs what S3 said, as it does when
    // STS is asked first.
    if !matches!(&result, Err(p) if p.reason == Reason::InvalidCredentials)
        && let Err(p) = probe.unproved_identity().await
    {
        result = Err(p);
    }
    match result {
        Ok(()) => {
            probe.out.permissions = probe.results.ordered();
            conclude(plan, &mut probe.out);
            if let Some(p) = probe.blocker.take() {
                probe.out.reason = p.reason;
                probe.out.message = p.message;
            }
        }
        Err(p) => {
            probe.out.reason = p.reason;
            probe.out.message = p.message;
            probe.out.permissions.clear();
        }
    }
    probe.out
}

/// The reason and message of a validation whose steps all ran.
fn conclude(p: &Plan, out: &mut Outcome) {
    let denied = out.actions_with(PermissionOutcome::Denied).join(", ");
    let allowed = out.actions_with(PermissionOutcome::Allowed).join(", ");
    let unverified = out.actions_with(PermissionOutcome::Unverified).join(", ");
    let hint = messages::policy_hint(crate::policy::partition(&p.region), &p.bucket, &p.prefix);
    let location = p.location();
    let (reason, message) = if !denied.is_empty() && allowed.is_empty() && !out.bucket_reached {
        (
            Reason::AccessDenied,
            messages::all_denied(&location, &denied, &hint),
        )
    } else if !denied.is_empty() {
        (
            Reason::PermissionDenied,
            messages::some_denied(&location, &denied, &hint),
        )
    } else {
        (
            Reason::Validated,
            messages::connected(&location, out.identity.as_deref(), &allowed, &unverified),
        )
    };
    out.reason = reason;
    out.message = message;
    // A write denied without encryption may be a bucket policy's rule
    // rather than a missing grant: S3's answer cannot tell them apart.
    let write_denied = out
        .permissions
        .iter()
        .any(|c| c.permission == Permission::PutObject && c.result == PermissionOutcome::Denied);
    if write_denied && p.probe.encryption.is_none() {
        out.message.push_str(messages::ENCRYPTION_HINT);
    }
    if reason == Reason::AccessDenied && !p.probe.requester_pays {
        out.message.push_str(messages::REQUESTER_PAYS_HINT);
    }
    if let Some(l) = &out.leftover {
        let suffix = match &l.version {
            Some(v) => messages::retained_suffix(&l.bucket, &l.key, v),
            None => messages::leftover_suffix(&l.bucket, &l.key),
        };
        out.message.push_str(&suffix);
    }
}
