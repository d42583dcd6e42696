//! The Kubernetes floor: the least that any operator has to do for a new
//! connection, with none of this operator's code. It watches the
//! S3Connections of one namespace and, for each new one, at the bench's
//! concurrency, makes the bare client's seven requests ([`bare::validate`],
//! the same clients) and applies one status of the operator's shape and size
//! (five conditions, five permissions, the identity) server-side on the
//! status subresource. No Secret read, no event, no metrics.
//!
//! Against the bare client it measures what Kubernetes itself costs on this
//! machine: the user's creates, one status write and the watches, on the
//! CPUs that moto shares. Against the operator, what the operator adds to
//! that.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::bare::{self, Clients};
use crate::env::{Result, bail};
use crate::watch::connection_resource;

/// What the floor did so far.
#[derive(Default)]
pub struct Counts {
    pub validations: AtomicU64,
    pub status_writes: AtomicU64,
    pub errors: AtomicU64,
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Counts {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().unwrap().get_or_insert(e);
    }
}

/// The floor, running in a task of its own until dropped.
pub struct Floor {
    task: JoinHandle<()>,
    pub counts: Arc<Counts>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Floor {
    /// Start watching `ns`; every connection seen for the first time is
    /// validated once (probe objects named `<run_id>-<name>`).
    pub fn start(
        kube: Client,
        ns: &str,
        clients: Clients,
        bucket: &str,
        run_id: &str,
        concurrency: u64,
    ) -> Floor {
        let api: Api<DynamicObject> = Api::namespaced_with(kube, ns, &connection_resource());
        let counts = Arc::new(Counts::default());
        let (c, bucket, run_id) = (counts.clone(), bucket.to_string(), run_id.to_string());
        let task = tokio::spawn(async move {
            let mut seen = HashSet::new();
            let new_objects = watcher(api.clone(), watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .filter_map(move |o| {
                    futures::future::ready(match o {
                        Ok(o) if seen.insert(o.name_any()) => Some(o),
                        _ => None,
                    })
                });
            new_objects
                .map(|o| {
                    let (api, clients, c, bucket, run_id) =
                        (&api, &clients, c.clone(), &bucket, &run_id);
                    async move {
                        let name = o.name_any();
                        let generation = o.metadata.generation.unwrap_or(1);
                        let uid = format!("{run_id}-{name}");
                        let arn = match bare::validate(clients, bucket, &uid).await {
                            Ok((arn, _)) => arn,
                            Err(e) => return c.error(e),
                        };
                        c.validations.fetch_add(1, Ordering::Relaxed);
                        let body = json!({
                            "apiVersion": "s3connection.dev/v1alpha1",
                            "kind": "S3Connection",
                            "status": status(generation, bucket, &arn, &uid),
                        });
                        match api
                            .patch_status(
                                &name,
                                &PatchParams::apply("s3c-bench-floor").force(),
                                &Patch::Apply(body),
                            )
                            .await
                        {
                            Ok(_) => {
                                c.status_writes.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => c.error(format!("status of {name}: {e}")),
                        }
                    }
                })
                .buffer_unordered(concurrency.max(1) as usize)
                .for_each(|()| async {})
                .await;
        });
        Floor { task, counts }
    }

    pub fn check(&self) -> Result<()> {
        if self.task.is_finished() {
            bail!("the floor's watch ended");
        }
        Ok(())
    }
}

/// A status of the shape and size the operator writes for a connection it
/// found working (moto cannot simulate policies, so ReplicateObject stays
/// unverified, as with the operator).
fn status(generation: i64, bucket: &str, arn: &str, uid: &str) -> Value {
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string();
    let condition = |type_: &str, status: &str, reason: &str, message: String| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": now,
        })
    };
    let key = format!(".s3connection-probe/{uid}");
    let permission = |action: &str, result: &str, message: String| json!({"action": action, "result": result, "message": message});
    json!({
        "observedGeneration": generation,
        "auth": "AccessKey",
        "identity": arn,
        "bucketRegion": testkit::REGION,
        "conditions": [
            condition("Ready", "True", "Validated", format!(
                "Connected to s3://{bucket} as {arn}; proved s3:ListBucket, s3:GetObject, \
                 s3:PutObject, s3:DeleteObject. Not provable: s3:ReplicateObject (see \
                 status.permissions).")),
            condition("Failed", "False", "Validated", "No problem found.".into()),
            condition("Authenticated", "True", "CredentialsValid", format!(
                "The credentials are valid; they belong to {arn}.")),
            condition("BucketAccessible", "True", "BucketReachable", format!(
                "The bucket answers in region {}.", testkit::REGION)),
            condition("PermissionsGranted", "Unknown", "Unverified",
                "Could not be proved either way: s3:ReplicateObject. See status.permissions \
                 for why.".into()),
        ],
        "permissions": [
            permission("s3:ListBucket", "Allowed", format!("ListObjectsV2 on s3://{bucket} succeeded.")),
            permission("s3:GetObject", "Allowed", format!(
                "Read probe object {key} back with the content written.")),
            permission("s3:PutObject", "Allowed", format!(
                "Wrote probe object {key} with If-None-Match: *.")),
            permission("s3:DeleteObject", "Allowed", format!("Deleted probe object {key}.")),
            permission("s3:ReplicateObject", "Unverified", format!(
                "s3:ReplicateObject is used by S3 replication, not by clients, so no request \
                 can exercise it; IAM policy simulation for {arn} was not possible (HTTP 403).")),
        ],
    })
}
