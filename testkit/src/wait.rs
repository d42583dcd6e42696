//! Waiting on conditions, with timeouts: an object's state through a watch,
//! a connection's Ready condition for its generation, an event. Nothing
//! here sleeps for a fixed time.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::runtime::wait::await_condition;
use kube::runtime::{WatchStreamExt, watcher};
use s3_connection_operator::crd::S3Connection;

use crate::env::{TIMEOUT, TestEnv};
use crate::status::ready_of;

/// Wait until `cond` holds for object `name` (a missing object is `None`),
/// for at most `timeout`; otherwise panic naming `what`, with the object as
/// it is then.
pub async fn await_object<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(Option<&K>) -> bool + Send + 'static,
) -> Option<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(found)) => found,
        other => {
            let now = api.get_opt(name).await.ok().flatten();
            panic!(
                "{what}: not within {timeout:?} ({:?}); {name} now: {}",
                other.map(|r| r.map(|_| ())),
                serde_json::to_string_pretty(&now).unwrap()
            );
        }
    }
}

impl TestEnv {
    /// Wait until the connection's Ready condition has `status` (and, if
    /// given, `reason`) for its current generation.
    pub async fn wait_ready(
        &self,
        ns: &str,
        name: &str,
        status: &str,
        reason: Option<&str>,
    ) -> S3Connection {
        self.wait_ready_within(ns, name, status, reason, TIMEOUT)
            .await
    }

    /// [`Self::wait_ready`] for at most `timeout`.
    pub async fn wait_ready_within(
        &self,
        ns: &str,
        name: &str,
        status: &str,
        reason: Option<&str>,
        timeout: Duration,
    ) -> S3Connection {
        let api = self.connections(ns);
        let want_status = status.to_string();
        let want_reason = reason.map(str::to_string);
        let cond = move |c: Option<&S3Connection>| {
            let Some(c) = c else { return false };
            ready_of(c).is_some_and(|r| {
                r.status == want_status
                    && want_reason.as_deref().is_none_or(|w| w == r.reason)
                    && r.observed_generation == c.metadata.generation
            })
        };
        let what = format!("{ns}/{name}: Ready={status} reason={reason:?}");
        await_object(&api, name, &what, timeout, cond)
            .await
            .expect("the connection")
    }

    /// A user scoped to the prefix `customers/` of `bucket`: connection
    /// `customers` (`bucket/customers`) and connection `orders`
    /// (`bucket/orders`), both proving [`crate::PROVABLE`] with `spec_at(path)`;
    /// the first once Ready, the second once refused (PermissionDenied).
    pub async fn own_and_other_prefix(
        &self,
        ns: &str,
        bucket: &str,
        spec_at: impl Fn(&str) -> crate::Spec,
    ) -> (S3Connection, S3Connection) {
        for (name, path) in [("customers", "customers"), ("orders", "orders")] {
            let spec = spec_at(&format!("{bucket}/{path}")).permissions(&crate::PROVABLE);
            self.apply_connection(ns, name, spec).await;
        }
        let own = self
            .wait_ready(ns, "customers", "True", Some("Validated"))
            .await;
        let other = self
            .wait_ready(ns, "orders", "False", Some("PermissionDenied"))
            .await;
        (own, other)
    }

    /// Wait until an event of `type_` with `reason` exists in `ns` (events
    /// are published just after the status write a test waits for).
    pub async fn wait_event(&self, ns: &str, type_: &str, reason: &str) -> Event {
        let matches =
            |e: &Event| e.type_.as_deref() == Some(type_) && e.reason.as_deref() == Some(reason);
        self.wait_event_where(ns, &format!("{type_} event {reason}"), matches)
            .await
    }

    /// Wait until an event that `matches` exists in `ns`; panics naming
    /// `what`, with the events there, otherwise.
    pub async fn wait_event_where(
        &self,
        ns: &str,
        what: &str,
        matches: impl Fn(&Event) -> bool,
    ) -> Event {
        let api = Api::<Event>::namespaced(self.kube.clone(), ns);
        let events = watcher(api, watcher::Config::default()).applied_objects();
        let found = tokio::time::timeout(TIMEOUT, async {
            futures::pin_mut!(events);
            while let Some(e) = events.next().await {
                if let Ok(e) = e
                    && matches(&e)
                {
                    return Some(e);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(e)) => e,
            _ => {
                let seen: Vec<_> = self
                    .events(ns)
                    .await
                    .into_iter()
                    .map(|e| (e.type_, e.reason))
                    .collect();
                panic!("no {what} in {ns} within {TIMEOUT:?}; events: {seen:?}")
            }
        }
    }
}

impl TestEnv {
    /// Wait until `status.lastHandledRequestedAt` of `ns/name` is `value`
    /// (a requested-at annotation was answered); how long it took. Within
    /// 20 s: connections waiting on it are validated hourly, so sooner can
    /// only be the annotation's doing.
    pub async fn wait_handled(
        &self,
        ns: &str,
        name: &str,
        value: &str,
    ) -> (S3Connection, Duration) {
        let started = std::time::Instant::now();
        let want = value.to_string();
        let handled = move |c: Option<&S3Connection>| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.last_handled_requested_at.as_deref())
                == Some(want.as_str())
        };
        let within = Duration::from_secs(20);
        match tokio::time::timeout(within, await_condition(self.connections(ns), name, handled))
            .await
        {
            Ok(Ok(Some(c))) => (c, started.elapsed()),
            other => panic!(
                "{ns}/{name}: request {value:?} not handled within {within:?} ({:?}): {:?}",
                other.map(|r| r.map(|_| ())),
                self.connections(ns)
                    .get(name)
                    .await
                    .ok()
                    .and_then(|c| c.status)
            ),
        }
    }
}
