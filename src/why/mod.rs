//! `why NAME`: a live connection's status explained in sentences, with the
//! command that fixes it. [`explain`] is pure (the object in, sentences
//! out); [`cli`] reads the object through the current kubeconfig.

pub mod cli;

use crate::allowlist;
use crate::crd::{
    CondStatus, DEFAULT_ACCESS_KEY_ID_KEY, DEFAULT_SECRET_ACCESS_KEY_KEY, PermissionOutcome,
    S3Connection, rules,
};
use crate::credentials::secret::CREDENTIALS_LABEL;
use crate::messages::{printable, why as text};
use crate::outcome::{Reason, Severity};
use crate::status::conditions::{ConditionType, find};

/// What the status says about the connection, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Ready=True.
    Ready,
    /// Ready=False: a definite problem.
    NotReady,
    /// Ready=Unknown, or no Ready condition yet.
    Unknown,
}

impl State {
    /// The word in the headline.
    pub fn word(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::NotReady => "not ready",
            State::Unknown => "not known to work yet",
        }
    }
}

/// The explanation of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Ready, not, or unknown.
    pub state: State,
    /// The sentences, in order, one per line.
    pub lines: Vec<String>,
}

/// The condition reason as a [`Reason`], when it is one.
fn reason_of(word: &str) -> Option<Reason> {
    Reason::all().find(|r| r.as_str() == word)
}

/// Explain `conn`'s status; `program` is how the user called us (for the
/// commands quoted).
pub fn explain(conn: &S3Connection, program: &str) -> Explanation {
    let ns = conn.metadata.namespace.as_deref().unwrap_or("default");
    let name = conn.metadata.name.as_deref().unwrap_or("");
    let mut lines = Vec::new();
    if conn.spec.suspend == Some(true) {
        lines.push(text::suspended(ns, name));
    }
    let status = conn.status.clone().unwrap_or_default();
    let Some(ready) = find(&status.conditions, ConditionType::Ready) else {
        lines.insert(0, text::not_validated(ns, name));
        lines.push(text::OPERATOR_RUNNING.into());
        return Explanation {
            state: State::Unknown,
            lines,
        };
    };
    let state = match ready.status.parse::<CondStatus>() {
        Ok(CondStatus::True) => State::Ready,
        Ok(CondStatus::False) => State::NotReady,
        _ => State::Unknown,
    };
    let shown = |t: &str| printable(t);
    lines.insert(
        0,
        text::headline(ns, name, state.word(), &shown(&ready.reason)),
    );
    if !ready.message.is_empty() {
        lines.push(shown(&ready.message));
    }
    if let (Some(observed), Some(generation)) =
        (status.observed_generation, conn.metadata.generation)
        && observed < generation
    {
        lines.push(text::older_generation(observed, generation));
    }
    if let Some(identity) = &status.identity {
        lines.push(text::identity_line(&shown(identity)));
    }
    if let Some(region) = &status.bucket_region {
        lines.push(text::bucket_region_line(&shown(region)));
    }
    let mut unverified = false;
    if !status.permissions.is_empty() {
        lines.push("Permissions:".into());
        for p in &status.permissions {
            unverified |= p.result == PermissionOutcome::Unverified;
            lines.push(text::permission_line(
                &shown(&p.action),
                p.result.as_str(),
                &shown(&p.message),
            ));
        }
    }
    if let (Some(bucket), Some(key)) =
        (&status.leftover_probe_bucket, &status.leftover_probe_object)
    {
        lines.push(text::leftover_line(&shown(bucket), &shown(key)));
    }
    match reason_of(&ready.reason) {
        Some(Reason::Validated) => {
            lines.push(text::NOTHING_TO_FIX.into());
            if unverified {
                lines.push(text::UNVERIFIED.into());
            }
        }
        Some(reason) => {
            lines.push(format!("{} {}", text::FIX, fix(conn, reason, program)));
            if reason.severity() == Severity::Definite {
                lines.push(text::request_now(ns, name));
            }
        }
        // Progressing, or a reason of another version of the operator.
        None => {}
    }
    Explanation { state, lines }
}

/// The command or step that fixes `reason` for `conn`.
fn fix(conn: &S3Connection, reason: Reason, program: &str) -> String {
    let ns = conn.metadata.namespace.as_deref().unwrap_or("default");
    let name = conn.metadata.name.as_deref().unwrap_or("");
    let auth = &conn.spec.auth;
    let secret = auth.access_key.as_ref().map(|k| k.secret_name.as_str());
    let sa = auth
        .iam_role
        .as_ref()
        .and_then(|r| r.service_account_name.as_deref());
    let status = conn.status.as_ref();
    let identity = status.and_then(|s| s.identity.as_deref());
    match (reason, secret, sa) {
        (Reason::PermissionDenied | Reason::AccessDenied, _, _) => {
            text::attach_policy(program, ns, name, identity)
        }
        (Reason::AssumeRoleFailed, _, _) => text::trust_policy(program, ns, name),
        (Reason::KmsAccessDenied, _, _) => text::kms_grant(program, ns, name),
        (Reason::SecretNotFound, Some(secret), _) => {
            let k = auth.access_key.as_ref();
            let id_key = k.and_then(|k| k.access_key_id_key.as_deref());
            let secret_key = k.and_then(|k| k.secret_access_key_key.as_deref());
            text::create_secret(
                ns,
                secret,
                id_key.unwrap_or(DEFAULT_ACCESS_KEY_ID_KEY),
                secret_key.unwrap_or(DEFAULT_SECRET_ACCESS_KEY_KEY),
            )
        }
        (Reason::SecretKeyMissing | Reason::SecretValueInvalid, Some(secret), _) => {
            text::edit_secret(ns, secret)
        }
        (Reason::SecretLabelMissing, Some(secret), _) => {
            text::label_secret(ns, secret, CREDENTIALS_LABEL)
        }
        (Reason::SecretTypeNotAllowed, Some(secret), _) => text::opaque_secret(secret),
        (Reason::InvalidCredentials, Some(secret), _) => text::rotate_keys(ns, secret),
        (Reason::ServiceAccountNotFound, _, Some(sa)) => text::create_service_account(ns, sa),
        (Reason::RoleArnMissing, _, Some(sa)) => text::name_role(ns, sa),
        (Reason::OperatorIdentityDisabled, _, _) => text::OPERATOR_IDENTITY.into(),
        (Reason::EndpointNotAllowed | Reason::StsEndpointNotAllowed, _, _) => {
            let endpoint = match reason {
                Reason::StsEndpointNotAllowed => conn.spec.sts_endpoint.as_deref(),
                _ => conn.spec.endpoint.as_deref(),
            }
            .unwrap_or("");
            let entry = allowlist::entry_for(endpoint).unwrap_or_else(|| endpoint.to_string());
            text::allow_endpoint(&printable(&entry))
        }
        (Reason::WrongRegion, _, _) => {
            match status
                .and_then(|s| s.bucket_region.as_deref())
                .filter(|r| rules::REGION.holds(r))
            {
                Some(region) => text::set_region(ns, name, region),
                None => text::SET_REGION_UNKNOWN.into(),
            }
        }
        (Reason::BucketNotFound, _, _) => text::CHECK_BUCKET.into(),
        (r, _, _) if r.severity() == Severity::Transient => text::RETRIED.into(),
        _ => text::SEE_MESSAGE.into(),
    }
}

#[cfg(test)]
mod tests;
