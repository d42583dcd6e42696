//! What `check` prints and its exit code. The reason, message and
//! per-permission results are read from the status the operator would
//! write for the same outcome ([`status::build_status`]), so the two agree
//! by construction; to them come what became of the probe object and,
//! where something was denied, the policy hint. Rendered as a table or as
//! JSON.

use std::fmt::Write as _;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::cli::{EXIT_NOT_READY, EXIT_OK, EXIT_UNKNOWN};
use crate::crd::{ConnectionId, Permission, PermissionOutcome, PermissionResult};
use crate::messages;
use crate::outcome::{Outcome, Severity};
use crate::spec::ValidSpec;
use crate::status::{self, conditions};

/// What became of the probe object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
pub enum Fate {
    /// Nothing was written (`s3:PutObject` not requested, denied, or the
    /// validation stopped before).
    NotWritten,
    /// Written, read back when `s3:GetObject` was requested, and deleted.
    Deleted,
    /// Written and still in the bucket: delete it, or grant
    /// `s3:DeleteObject`.
    Left,
}

/// The probe object: its fate and, once written, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeObject {
    /// What became of it.
    pub fate: Fate,
    /// Its bucket, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Its key, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ProbeObject {
    /// What `outcome` says of the probe object written at `key` of
    /// `bucket`. A leftover names itself; otherwise a PutObject that was
    /// allowed means the object was written and is gone again.
    pub fn of(outcome: &Outcome, bucket: &str, key: &str) -> Self {
        if let Some(l) = &outcome.leftover {
            return Self {
                fate: Fate::Left,
                bucket: Some(l.bucket.clone()),
                key: Some(l.key.clone()),
            };
        }
        let written = outcome.permissions.iter().any(|p| {
            p.permission == Permission::PutObject && p.result == PermissionOutcome::Allowed
        });
        if written {
            Self {
                fate: Fate::Deleted,
                bucket: Some(bucket.to_string()),
                key: Some(key.to_string()),
            }
        } else {
            Self {
                fate: Fate::NotWritten,
                bucket: None,
                key: None,
            }
        }
    }
}

/// One condition as the status would hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionView {
    /// Its type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why.
    pub reason: String,
    /// What it means.
    pub message: String,
}

/// Everything `check` found about one connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The connection's namespace.
    pub namespace: String,
    /// The connection's name.
    pub name: String,
    /// The Ready condition's status: `True`, `False` or `Unknown`.
    pub ready: String,
    /// The reason the operator would write (Ready's reason).
    pub reason: String,
    /// Ready's message.
    pub message: String,
    /// How the connection authenticates.
    pub auth: Option<String>,
    /// Who the credentials are, as STS answered.
    pub identity: Option<String>,
    /// The region the bucket answered from.
    pub bucket_region: Option<String>,
    /// The result of each requested permission.
    pub permissions: Vec<PermissionResult>,
    /// What became of the probe object.
    pub probe_object: ProbeObject,
    /// Where something was denied: the statements the policy needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hint: Option<String>,
    /// Where something was denied: the command that prints the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_command: Option<String>,
    /// Every condition the status would hold.
    pub conditions: Vec<ConditionView>,
    /// How far the reason lets anyone trust the connection.
    #[serde(skip)]
    pub severity: Severity,
}

impl Report {
    /// The report of `outcome` (already [printable](Outcome::printable))
    /// for connection `id` with `spec` (when it was valid), its probe
    /// object at `probe_key`; `file` is the manifest, for the policy
    /// command.
    pub fn new(
        id: &ConnectionId,
        spec: Option<&ValidSpec>,
        outcome: &Outcome,
        probe_key: &str,
        file: &str,
        now: Timestamp,
    ) -> Self {
        let status = status::build_status(
            None,
            &Default::default(),
            outcome,
            &Time(now),
            std::time::Duration::ZERO,
        );
        let ready = conditions::find(&status.conditions, conditions::ConditionType::Ready);
        let (ready, reason, message) = match ready {
            Some(c) => (
                c.status.to_string(),
                c.reason.to_string(),
                c.message.to_string(),
            ),
            None => (
                "Unknown".into(),
                outcome.reason.as_str().into(),
                outcome.message.clone(),
            ),
        };
        let denied = !outcome.actions_with(PermissionOutcome::Denied).is_empty();
        let (policy_hint, policy_command) = match spec {
            Some(s) if denied => (
                Some(messages::policy_hint(
                    crate::policy::partition(&s.region),
                    &s.target.bucket,
                    &s.target.prefix,
                )),
                Some(format!(
                    "s3-connection-operator policy -f {}",
                    crate::cli::one_line(file)
                )),
            ),
            _ => (None, None),
        };
        let bucket = spec.map(|s| s.target.bucket.as_str()).unwrap_or_default();
        Self {
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            ready,
            reason,
            message,
            auth: status.auth.clone(),
            identity: status.identity.clone(),
            bucket_region: status.bucket_region.clone(),
            permissions: status.permissions.clone(),
            probe_object: ProbeObject::of(outcome, bucket, probe_key),
            policy_hint,
            policy_command,
            conditions: status
                .conditions
                .iter()
                .map(|c| ConditionView {
                    type_: c.type_.to_string(),
                    status: c.status.to_string(),
                    reason: c.reason.to_string(),
                    message: c.message.to_string(),
                })
                .collect(),
            severity: outcome.reason.severity(),
        }
    }

    /// 0 when Ready, 1 when definitely not, 2 when not known.
    pub fn exit_code(&self) -> u8 {
        exit_code(self.severity)
    }

    /// As indented JSON, ending in a newline.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// As a table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let fate = match self.probe_object.fate {
            Fate::NotWritten => "not written".to_string(),
            Fate::Deleted => format!("written, deleted ({})", self.probe_location()),
            Fate::Left => format!(
                "LEFT IN THE BUCKET: {} (delete it, or grant s3:DeleteObject)",
                self.probe_location()
            ),
        };
        let rows = [
            ("Connection", format!("{}/{}", self.namespace, self.name)),
            ("Ready", format!("{} ({})", self.ready, self.reason)),
            ("Message", self.message.clone()),
            ("Auth", or_dash(&self.auth)),
            ("Identity", or_dash(&self.identity)),
            ("Bucket region", or_dash(&self.bucket_region)),
            ("Probe object", fate),
        ];
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<14} {v}");
        }
        if let (Some(hint), Some(command)) = (&self.policy_hint, &self.policy_command) {
            let _ = writeln!(out, "{:<14} {hint}", "Policy needs");
            let _ = writeln!(out, "{:<14} {command}", "Whole policy");
        }
        if !self.permissions.is_empty() {
            let _ = writeln!(out, "\n{:<19} {:<11} DETAIL", "PERMISSION", "RESULT");
            for p in &self.permissions {
                let _ = writeln!(
                    out,
                    "{:<19} {:<11} {}",
                    p.action,
                    p.result.as_str(),
                    p.message
                );
            }
        }
        out
    }

    fn probe_location(&self) -> String {
        let o = &self.probe_object;
        format!(
            "s3://{}/{}",
            o.bucket.as_deref().unwrap_or_default(),
            o.key.as_deref().unwrap_or_default()
        )
    }
}

/// The exit code of a validation whose reason has `severity`.
pub fn exit_code(severity: Severity) -> u8 {
    match severity {
        Severity::Ok => EXIT_OK,
        Severity::Definite => EXIT_NOT_READY,
        Severity::Transient => EXIT_UNKNOWN,
    }
}
