//! Writing a status: server-side apply on the status subresource, bounded by
//! a timeout and counted in metrics; and one event per change of `Ready`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, warn};

use super::budget::Budget;
use super::conditions::{CondStatus, ConditionType, status_of};
use crate::crd::{S3Connection, S3ConnectionStatus};
use crate::error::{Error, Result, within};
use crate::messages;
use crate::outcome::Outcome;
use crate::probe::Cleanup;
use crate::telemetry::{Metrics, PatchOutcome};

/// The field manager of every write.
pub const MANAGER: &str = "s3-connection-operator";

/// Events carry at most this much of a message.
const EVENT_NOTE_MAX: usize = 1000;

/// What became of a status write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Written; the object's new resourceVersion.
    Written(Option<String>),
    /// The object is no longer at the resourceVersion the status was
    /// computed from: nothing was written.
    Conflict,
    /// The object was deleted: nothing to report to.
    Gone,
}

/// Apply `status` to the connection's status subresource, and remove the
/// `stale` fields (see [`super::stale_fields`]). `resource_version` is the
/// version of the object the status was computed from: when the object has
/// changed since (a spec edit, another writer, or a copy older than this
/// process's own last write), the API server refuses the write
/// ([`Applied::Conflict`]) rather than let a status computed from an older
/// one replace a newer one.
pub async fn apply(
    client: &Client,
    conn: &S3Connection,
    status: &S3ConnectionStatus,
    stale: &[String],
    resource_version: Option<&str>,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<Applied> {
    let ns = conn.namespace().unwrap_or_default();
    let name = conn.name_any();
    let what = || format!("patch status of S3Connection {ns}/{name}");
    let api: Api<S3Connection> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply(MANAGER).force();
    let removal: serde_json::Map<String, serde_json::Value> = stale
        .iter()
        .map(|f| (f.clone(), serde_json::Value::Null))
        .collect();
    let started = Instant::now();
    // Removal first: whoever sees the new status sees it without them.
    let write = async {
        let mut version = resource_version.map(str::to_string);
        if !removal.is_empty() {
            let mut nulls = json!({ "status": removal });
            precondition(&mut nulls, version.as_deref());
            let removed = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&nulls))
                .await?;
            version = removed.metadata.resource_version;
        }
        let mut patch = json!({
            "apiVersion": S3Connection::api_version(&()),
            "kind": S3Connection::kind(&()),
            "status": status,
        });
        precondition(&mut patch, version.as_deref());
        api.patch_status(&name, &params, &Patch::Apply(&patch))
            .await
    };
    let res = tokio::time::timeout(timeout, write).await;
    let took = Some(started.elapsed());
    match res {
        Ok(Ok(written)) => {
            metrics.status_patch(PatchOutcome::Written, took);
            Ok(Applied::Written(written.metadata.resource_version))
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            // Deleted while we validated: nothing to report to.
            metrics.status_patch(PatchOutcome::Gone, took);
            Ok(Applied::Gone)
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => {
            metrics.status_patch(PatchOutcome::Conflict, took);
            Ok(Applied::Conflict)
        }
        Ok(Err(e)) => {
            metrics.status_patch(PatchOutcome::Failed, took);
            Err(Error::kube(what(), e))
        }
        Err(_) => {
            metrics.status_patch(PatchOutcome::Failed, took);
            Err(Error::KubeTimeout {
                context: what(),
                timeout,
            })
        }
    }
}

/// Make `patch` apply only to the object at `resource_version` (the API
/// server answers 409 Conflict otherwise); no precondition without one.
fn precondition(patch: &mut serde_json::Value, resource_version: Option<&str>) {
    if let Some(v) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": v });
    }
}

/// Publishes `events.k8s.io/v1` Events about connections, keeping only how
/// many each had in the last minute. (kube's `Recorder` keeps every event
/// it published for six minutes, to count repeats as a series, and scans
/// all of them on each publish: about 2 KB per connection and quadratic
/// work when 10,000 connections are validated at once. Only changes of
/// Ready are published here, so there are no repeats to count; but a
/// connection whose Ready changes at each forced check would have an event
/// each time: the [`Budget`] caps that.) Each create is bounded by a
/// timeout.
#[derive(Clone)]
pub struct Events {
    client: Client,
    instance: String,
    timeout: Duration,
    budget: Arc<Budget>,
    metrics: Metrics,
}

impl Events {
    /// `instance` is the pod name, when known; each create waits at most
    /// `timeout`.
    pub fn new(
        client: Client,
        instance: Option<String>,
        timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            client,
            instance: instance.unwrap_or_else(|| MANAGER.to_string()),
            timeout,
            budget: Arc::default(),
            metrics,
        }
    }

    async fn publish(
        &self,
        conn: &S3Connection,
        action: &str,
        type_: &str,
        reason: &str,
        note: String,
    ) -> Result<()> {
        let ns = conn.namespace().unwrap_or_default();
        let now = jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(event_name(&conn.name_any(), now)),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(action.into()),
            reason: Some(reason.to_string()),
            note: Some(note),
            type_: Some(type_.to_string()),
            regarding: Some(conn.object_ref(&())),
            reporting_controller: Some(MANAGER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let what = || format!("create Event about S3Connection {ns}/{}", conn.name_any());
        let api = Api::<Event>::namespaced(self.client.clone(), &ns);
        let params = PostParams::default();
        within(self.timeout, what, api.create(&params, &event))
            .await?
            .map(|_| ())
            .map_err(|e| Error::kube(what(), e))
    }
}

/// `<connection>.<nanoseconds in hex>`, within the 253 characters a name
/// may have (a connection's name may use all of them).
fn event_name(connection: &str, now: jiff::Timestamp) -> String {
    let suffix = format!(".{:x}", now.as_nanosecond());
    // Names are ASCII: any byte index is a character boundary.
    let keep = connection.len().min(253 - suffix.len());
    format!("{}{suffix}", &connection[..keep])
}

/// The event, if any, for Ready going from `before` to `after`: one per
/// change of Ready, not one per validation, and none for a connection whose
/// first result is Ready. That one is said by the status itself (Ready=True
/// with its `lastTransitionTime`); an event would only repeat it, for an
/// hour (the API server's event TTL), once per connection: 10,000 events,
/// each an etcd write, when 10,000 connections are applied or the operator is
/// installed where they exist. A first result that is not Ready is a Warning,
/// for what watches events (event exporters, notification controllers); so
/// is every later loss of Ready, and a recovery is Normal.
pub fn transition_event(
    before: Option<CondStatus>,
    after: Option<CondStatus>,
) -> Option<&'static str> {
    match (before, after) {
        (b, a) if b == a => None,
        (None, Some(CondStatus::True)) => None,
        (_, Some(CondStatus::True)) => Some("Normal"),
        _ => Some("Warning"),
    }
}

/// Publish [`transition_event`]'s event, if any.
pub async fn publish_transition(
    events: &Events,
    conn: &S3Connection,
    old: &S3ConnectionStatus,
    new: &S3ConnectionStatus,
    outcome: &Outcome,
) {
    let before = status_of(&old.conditions, ConditionType::Ready);
    let after = status_of(&new.conditions, ConditionType::Ready);
    let Some(type_) = transition_event(before, after) else {
        return;
    };
    let reason = outcome.reason.as_str();
    events
        .within_budget(conn, "Validate", type_, reason, &outcome.message)
        .await;
}

/// Publish what became of a deleted connection's leftover probe object
/// (see [`crate::reconcile::finalizer`]): `ProbeObjectRemoved` and
/// `ProbeObjectNotOurs` are Normal, `ProbeObjectLeft` a Warning that names
/// the object and why.
pub async fn publish_cleanup(events: &Events, conn: &S3Connection, cleanup: &Cleanup) {
    let l = cleanup.leftover();
    let (type_, reason, note) = match cleanup {
        Cleanup::Removed(_) => (
            "Normal",
            "ProbeObjectRemoved",
            messages::cleanup_removed(&l.bucket, &l.key),
        ),
        Cleanup::NotOurs(_) => (
            "Normal",
            "ProbeObjectNotOurs",
            messages::cleanup_not_ours(&l.bucket, &l.key),
        ),
        Cleanup::Left(_, why) => (
            "Warning",
            "ProbeObjectLeft",
            messages::cleanup_left(&l.bucket, &l.key, why),
        ),
    };
    let note = messages::printable(&note);
    events
        .within_budget(conn, "Delete", type_, reason, &note)
        .await;
}

impl Events {
    /// Publish an event about `conn` unless it had its budget's worth this
    /// minute; counted in metrics, a failure logged.
    async fn within_budget(
        &self,
        conn: &S3Connection,
        action: &str,
        type_: &str,
        reason: &str,
        note: &str,
    ) {
        if !self
            .budget
            .take(&conn.uid().unwrap_or_default(), Instant::now())
        {
            self.metrics.event("suppressed");
            debug!(
                namespace = conn.namespace().unwrap_or_default(),
                name = conn.name_any(),
                reason,
                "event not published: the connection had {} this minute",
                super::budget::PER_OBJECT
            );
            return;
        }
        let note = truncate(note, EVENT_NOTE_MAX);
        let published = self.publish(conn, action, type_, reason, note).await;
        self.metrics.event(if published.is_ok() {
            "published"
        } else {
            "failed"
        });
        if let Err(e) = published {
            warn!(
                namespace = conn.namespace().unwrap_or_default(),
                name = conn.name_any(),
                error = %e,
                "could not publish event"
            );
        }
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
    fn an_event_for_each_change_of_ready_but_not_a_first_ready() {
        use CondStatus::{False, True, Unknown};
        // A first result: Ready says it, unless it is bad news.
        assert_eq!(transition_event(None, Some(True)), None);
        assert_eq!(transition_event(None, Some(False)), Some("Warning"));
        assert_eq!(transition_event(None, Some(Unknown)), Some("Warning"));
        // No change, no event.
        for s in [True, False, Unknown] {
            assert_eq!(transition_event(Some(s), Some(s)), None);
        }
        // Recoveries and losses.
        assert_eq!(transition_event(Some(False), Some(True)), Some("Normal"));
        assert_eq!(transition_event(Some(Unknown), Some(True)), Some("Normal"));
        assert_eq!(transition_event(Some(True), Some(False)), Some("Warning"));
        assert_eq!(transition_event(Some(True), Some(Unknown)), Some("Warning"));
        assert_eq!(
            transition_event(Some(False), Some(Unknown)),
            Some("Warning")
        );
        assert_eq!(transition_event(Some(True), None), Some("Warning"));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn event_names_are_unique_per_instant_and_never_too_long() {
        let t = jiff::Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        assert_eq!(event_name("conn", t), "conn.17979cfe3d85cd15");
        let long = "a".repeat(253);
        let name = event_name(&long, t);
        assert_eq!(name.len(), 253);
        assert!(name.ends_with(".17979cfe3d85cd15"));
    }
}
