//! Watching S3Connections: the instant each object is first seen Ready=True
//! for a generation (condition observedGeneration == metadata.generation),
//! and the instant it first has a Ready condition for its generation at all
//! ("settled"). Nothing here polls: it is one watch, started before the
//! objects are applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::env::{Result, bail};

pub fn connection_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("s3connection.dev", "v1alpha1", "S3Connection"),
        "s3connections",
    )
}

/// What the watch last saw of one object.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub generation: i64,
    /// Ready's status, reason, message and observedGeneration.
    pub ready: Option<(String, String, String, Option<i64>)>,
}

impl Summary {
    pub fn of(obj: &DynamicObject) -> Summary {
        let generation = obj.metadata.generation.unwrap_or(0);
        let status = &obj.data["status"];
        let ready = status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                let og = c["observedGeneration"]
                    .as_i64()
                    .or(status["observedGeneration"].as_i64());
                (s("status"), s("reason"), s("message"), og)
            });
        Summary { generation, ready }
    }

    /// Ready=True for the object's current generation.
    pub fn ready_now(&self) -> bool {
        matches!(&self.ready, Some((s, _, _, Some(g))) if s == "True" && *g == self.generation)
    }

    /// Any Ready condition for the current generation.
    pub fn settled(&self) -> bool {
        matches!(&self.ready, Some((_, _, _, Some(g))) if *g == self.generation)
    }
}

#[derive(Default)]
struct State {
    synced: bool,
    /// (ns/name, generation) → first seen Ready=True for it
    ready: HashMap<(String, i64), Instant>,
    /// ns/name → first seen with a Ready condition for its generation
    settled: HashMap<String, Instant>,
    latest: HashMap<String, Summary>,
    errors: u64,
    /// Since when every watch attempt failed, and the last error.
    failing: Option<(Instant, String)>,
}

pub struct Tracker {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

impl Tracker {
    /// Watch connections labelled `selector` in all namespaces; returns once
    /// the watch's initial list is done.
    pub async fn start(client: Client, selector: &str) -> Result<Tracker> {
        let api: Api<DynamicObject> = Api::all_with(client, &connection_resource());
        let state = Arc::new(Mutex::new(State::default()));
        let notify = Arc::new(Notify::new());
        let (s, n) = (state.clone(), notify.clone());
        // with a backoff: a watch whose API server is gone must not spin
        let stream = watcher(api, watcher::Config::default().labels(selector)).default_backoff();
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                let now = Instant::now();
                let mut st = s.lock().unwrap();
                let ev_ok = ev.is_ok();
                match ev {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => {
                        let k = key(&o.namespace().unwrap_or_default(), &o.name_any());
                        let sum = Summary::of(&o);
                        if sum.ready_now() {
                            st.ready.entry((k.clone(), sum.generation)).or_insert(now);
                        }
                        if sum.settled() {
                            st.settled.entry(k.clone()).or_insert(now);
                        }
                        st.latest.insert(k, sum);
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let k = key(&o.namespace().unwrap_or_default(), &o.name_any());
                        st.latest.remove(&k);
                    }
                    Ok(watcher::Event::InitDone) => st.synced = true,
                    Ok(watcher::Event::Init) => {}
                    Err(e) => {
                        st.errors += 1;
                        eprintln!("[bench] watch error (the watcher retries): {e}");
                        let since = st.failing.take().map(|f| f.0).unwrap_or(now);
                        st.failing = Some((since, e.to_string()));
                    }
                }
                if ev_ok {
                    st.failing = None;
                }
                drop(st);
                n.notify_waiters();
            }
        });
        let t = Tracker {
            state,
            notify,
            task,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !t.state.lock().unwrap().synced {
            if Instant::now() > deadline {
                bail!("the S3Connection watch did not finish its initial list within 60s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(t)
    }

    pub fn ready_at(&self, k: &str, generation: i64) -> Option<Instant> {
        self.state
            .lock()
            .unwrap()
            .ready
            .get(&(k.to_string(), generation))
            .copied()
    }

    pub fn watch_errors(&self) -> u64 {
        self.state.lock().unwrap().errors
    }

    /// Wait until every key in `keys` was seen Ready=True for `generation`
    /// (or, with `generation` None, with any Ready condition for its
    /// generation); returns the instant of the last one. On timeout: an error
    /// naming the objects that are not there and what their status says.
    /// `check` is called about twice a second (say, whether the operator still
    /// runs); its error ends the wait, as does a watch failing for 60s.
    pub async fn wait_all(
        &self,
        what: &str,
        keys: &[String],
        generation: Option<i64>,
        started: Instant,
        timeout: Duration,
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Instant> {
        let deadline = started + timeout;
        let mut next_progress = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.notify.notified();
            let (done, last) = {
                let st = self.state.lock().unwrap();
                let mut done = 0usize;
                let mut last = started;
                for k in keys {
                    let at = match generation {
                        Some(g) => st.ready.get(&(k.clone(), g)),
                        None => st.settled.get(k),
                    };
                    if let Some(at) = at {
                        done += 1;
                        last = last.max(*at);
                    }
                }
                (done, last)
            };
            if done == keys.len() {
                return Ok(last);
            }
            check()?;
            if let Some((since, e)) = &self.state.lock().unwrap().failing
                && since.elapsed() > Duration::from_secs(60)
            {
                bail!("{what}: the S3Connection watch has failed for 60s: {e}");
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.not_there(what, keys, generation, timeout).into());
            }
            if now >= next_progress {
                eprintln!(
                    "[bench] {what}: {done}/{} {} after {:.1}s",
                    keys.len(),
                    if generation.is_some() {
                        "ready"
                    } else {
                        "with a status"
                    },
                    started.elapsed().as_secs_f64()
                );
                next_progress = now + Duration::from_secs(10);
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    fn not_there(
        &self,
        what: &str,
        keys: &[String],
        generation: Option<i64>,
        timeout: Duration,
    ) -> String {
        let st = self.state.lock().unwrap();
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| match generation {
                Some(g) => !st.ready.contains_key(&((*k).clone(), g)),
                None => !st.settled.contains_key(*k),
            })
            .collect();
        let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
        let mut lines = vec![];
        for k in &missing {
            let s = st.latest.get(*k).cloned().unwrap_or_default();
            let label = match &s.ready {
                None => "no Ready condition".to_string(),
                Some((status, reason, _, og)) => {
                    format!(
                        "Ready={status} reason={reason} observedGeneration={og:?} generation={}",
                        s.generation
                    )
                }
            };
            *by_state.entry(label.clone()).or_default() += 1;
            if lines.len() < 20 {
                let msg = s.ready.as_ref().map(|r| r.2.as_str()).unwrap_or("");
                lines.push(format!("  {k}: {label}: {msg}"));
            }
        }
        format!(
            "{what}: {} of {} connections not {} within {timeout:?}\nby state: {by_state:#?}\nfirst {}:\n{}",
            missing.len(),
            keys.len(),
            match generation {
                Some(g) => format!("Ready=True for generation {g}"),
                None => "with a status".into(),
            },
            lines.len(),
            lines.join("\n")
        )
    }
}

/// Ready's lastTransitionTime and the creation time, as Unix seconds.
pub fn condition_times(obj: &DynamicObject) -> (Option<i64>, Option<i64>) {
    let created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second());
    let ltt = obj.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second());
    (created, ltt)
}
