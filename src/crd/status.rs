//! `status`: what the operator writes, the wire format of its results.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, condition, rules, schema};

/// Observed state of an S3Connection, written by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::status)]
pub struct S3ConnectionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Failed`, `Authenticated`, `BucketAccessible` and
    /// `PermissionsGranted` describe the connection. `Reconciling` (while a
    /// generation is validated or a transient problem is retried), `Stalled`
    /// (a definite failure) and `Suspended` are present only while True.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "condition::dedup_messages"
    )]
    #[schemars(
        with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>",
        transform = schema::conditions
    )]
    pub conditions: Vec<Condition>,

    /// How the connection authenticates: `AccessKey`, `IRSA` or `OperatorRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,

    /// With the operator's own identity (`OperatorRole`): the ExternalId the
    /// operator sends when it assumes the role, `<cluster>:<namespace>`. The
    /// role's trust policy must require it (condition `sts:ExternalId`), so a
    /// role meant for one namespace cannot be used from another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,

    /// The ARN the credentials resolve to (STS GetCallerIdentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,

    /// The region S3 reports for the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_region: Option<String>,

    /// The result for each requested permission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::permission_results)]
    pub permissions: Vec<PermissionResult>,

    /// S3 requests a day the operator sends to validate this connection:
    /// those of its last validation (every attempt, failed ones too) times
    /// the validations a day at its interval (86400 s / interval). What S3
    /// bills (PUT and LIST, GET and HEAD; DELETE is free); the free STS and
    /// IAM requests, which connections with the same credentials share
    /// through caches, are not included. 0 while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub requests_per_day: Option<i64>,

    /// The value of the `s3connection.dev/requested-at` (or
    /// `reconcile.fluxcd.io/requestedAt`) annotation the last validation
    /// answered. At most 256 printable ASCII characters: a value the
    /// operator does not accept is not handled, and not echoed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::requested_at::MAX_LEN))]
    pub last_handled_requested_at: Option<String>,

    /// Key of a probe object the operator wrote but could not delete. The
    /// operator retries the delete at each validation (with the current
    /// credentials) and writes no other probe object for this connection while
    /// it exists. Delete it yourself or grant `s3:DeleteObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_object: Option<String>,

    /// Bucket holding `leftoverProbeObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_bucket: Option<String>,

    /// The version of `leftoverProbeObject` the bucket's Object Lock
    /// retains: the object was deleted (a delete marker hides it), but the
    /// version stays until its retention ends. The operator deletes it then
    /// and writes no other probe object until it has, so at most one
    /// retained probe version exists per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftover_probe_version: Option<String>,
}

/// The result of proving one permission.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResult {
    /// The action, for example `s3:GetObject`.
    pub action: String,
    /// `Allowed` (proved by a real call), `Denied` (S3 refused it) or
    /// `Unverified` (could not be proved either way; the message says why).
    pub result: PermissionOutcome,
    /// How the result was obtained.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When a real request last established this result (a full
    /// validation; light checks do not move it). While the result stays the
    /// same it moves at most once per `fullValidationInterval` (and at most
    /// once a day when that is shorter), so an unchanged connection's
    /// status is written at most that often. Absent for `Unverified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_proved: Option<Time>,
}

/// The result of proving one permission.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, strum::IntoStaticStr,
)]
pub enum PermissionOutcome {
    /// Proved by a real request.
    Allowed,
    /// Refused by S3 (or IAM's policy simulation).
    Denied,
    /// Could not be proved either way; the message says why.
    Unverified,
}

impl PermissionOutcome {
    /// The name `status.permissions[].result` shows.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
