//! Writing a status: server-side apply on the status subresource, bounded by
//! a timeout and counted in metrics; and one event per change of `Ready`.

use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::warn;

use super::conditions::{CondStatus, ConditionType, status_of};
use crate::crd::{S3Connection, S3ConnectionStatus};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::telemetry::Metrics;

/// The field manager of every write.
pub const MANAGER: &str = "s3-connection-operator";

/// Events carry at most this much of a message.
const EVENT_NOTE_MAX: usize = 1000;

/// Apply `status` to the connection's status subresource, and remove the
/// `stale` fields (see [`super::stale_fields`]).
pub async fn apply(
    client: &Client,
    conn: &S3Connection,
    status: &S3ConnectionStatus,
    stale: &[&str],
    timeout: Duration,
    metrics: &Metrics,
) -> Result<()> {
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let what = || format!("patch status of S3Connection {ns}/{name}");
    let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
    let patch = json!({
        "apiVersion": S3Connection::api_version(&()),
        "kind": S3Connection::kind(&()),
        "status": status,
    });
    let started = Instant::now();
    let params = PatchParams::apply(MANAGER).force();
    let removal: serde_json::Map<String, serde_json::Value> = stale
        .iter()
        .map(|f| (f.to_string(), serde_json::Value::Null))
        .collect();
    // Removal first: whoever sees the new status sees it without them.
    let write = async {
        if !removal.is_empty() {
            let nulls = json!({ "status": removal });
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&nulls))
                .await?;
        }
        api.patch_status(&name, &params, &Patch::Apply(&patch))
            .await?;
        Ok::<_, kube::Error>(())
    };
    let res = tokio::time::timeout(timeout, write).await;
    let took = Some(started.elapsed());
    match res {
        Ok(Ok(_)) => {
            metrics.status_patch("written", took);
            Ok(())
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            // Deleted while we validated: nothing to report to.
            metrics.status_patch("gone", took);
            Ok(())
        }
        Ok(Err(e)) => {
            metrics.status_patch("failed", took);
            Err(Error::kube(what(), e))
        }
        Err(_) => {
            metrics.status_patch("failed", took);
            Err(Error::KubeTimeout {
                context: what(),
                timeout,
            })
        }
    }
}

/// One event per change of the Ready status, not one per validation.
pub async fn publish_transition(
    recorder: &Recorder,
    conn: &S3Connection,
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    outcome: &Outcome,
) {
    let before = status_of(&old.conditions, ConditionType::Ready);
    let after = status_of(&new.conditions, ConditionType::Ready);
    if before == after {
        return;
    }
    let type_ = if after == Some(CondStatus::True) {
        EventType::Normal
    } else {
        EventType::Warning
    };
    let ev = Event {
        type_,
        reason: outcome.reason.as_str().to_string(),
        note: Some(truncate(&outcome.message, EVENT_NOTE_MAX)),
        action: "Validate".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, &conn.object_ref(&())).await {
        warn!(
            namespace = conn.namespace().unwrap_or_default(),
            name = conn.name_any(),
            error = %e,
            "could not publish event"
        );
    }
}

/// At most `max` bytes, cut at a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
    }
}
