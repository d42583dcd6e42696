//! What validating a connection costs: every request one validation sends,
//! tallied by service and by the class S3 prices it in ([`Requests`]);
//! requests per day at the connection's intervals ([`Usage::daily`]); and the
//! estimated monthly cost at a price table ([`Prices`]).
//!
//! The tally of the validation running in a task is a task-local
//! ([`counting`]): the SDK interceptor that sees every request of every
//! client ([`crate::aws::recorder`]) adds to it ([`sent`]), whatever stage
//! made the request (STS while resolving credentials, S3 probes, IAM policy
//! simulation). The tally lives outside the task, so a validation that is
//! stopped (its deadline) still reports what it had sent.
//!
//! S3 prices requests by class (AWS's S3 pricing page, S3 Standard):
//! `PUT, COPY, POST, LIST` requests ([`Class::Tier1`]), `GET, SELECT, and
//! all other requests` ([`Class::Tier2`]; HEAD is one of them), and
//! `DELETE and CANCEL` requests, which are free ([`Class::Free`]). STS and
//! IAM requests are free; they are counted under [`Class::Free`] of their
//! service.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The services a validation sends requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
pub enum Service {
    /// S3 (or the S3-compatible store).
    #[strum(serialize = "S3")]
    S3,
    /// STS: GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity.
    #[strum(serialize = "STS")]
    Sts,
    /// IAM: SimulatePrincipalPolicy.
    #[strum(serialize = "IAM")]
    Iam,
    /// Any other service (none today): counted, never lost.
    #[strum(serialize = "other")]
    Other,
}

impl Service {
    /// How many there are.
    pub const COUNT: usize = 4;

    /// The service of an SDK operation, by the SDK's service name.
    pub fn of(name: &str) -> Self {
        match name {
            "S3" => Service::S3,
            "STS" => Service::Sts,
            "IAM" => Service::Iam,
            _ => Service::Other,
        }
    }

    /// The name, as metrics and logs show it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The classes S3 prices requests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Class {
    /// PUT, COPY, POST and LIST requests.
    Tier1,
    /// GET, HEAD, SELECT and every other request.
    Tier2,
    /// DELETE and CANCEL (AbortMultipartUpload) requests; every STS and
    /// IAM request.
    Free,
}

impl Class {
    /// How many there are.
    pub const COUNT: usize = 3;

    /// The label value: `tier1`, `tier2`, `free`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The class of a request of `operation` (the SDK's operation name)
    /// to `service`.
    pub fn of(service: Service, operation: &str) -> Self {
        if service != Service::S3 {
            return Class::Free;
        }
        let starts = |p: &str| operation.starts_with(p);
        if starts("Delete") || operation == "AbortMultipartUpload" {
            Class::Free
        } else if operation == "SelectObjectContent" {
            Class::Tier2
        } else if starts("Put")
            || starts("Copy")
            || starts("Create")
            || starts("Complete")
            || starts("Upload")
            || starts("List")
            || starts("Restore")
        {
            Class::Tier1
        } else {
            Class::Tier2
        }
    }
}

/// S3 requests by class, indexed by [`Class`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByClass(pub [u32; Class::COUNT]);

impl ByClass {
    /// Requests of `class`.
    pub fn get(&self, class: Class) -> u32 {
        self.0[class as usize]
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|n| u64::from(*n)).sum()
    }
}

/// Requests one validation sent, by service and class: a fixed table,
/// whatever the servers answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests([ByClass; Service::COUNT]);

impl Requests {
    /// Requests to `service`, by class.
    pub fn of(&self, service: Service) -> ByClass {
        self.0[service as usize]
    }

    /// Requests to `service`, all classes.
    pub fn to(&self, service: Service) -> u64 {
        self.of(service).total()
    }

    /// One more request of `operation` to `service` (`add`), or one less
    /// (a request counted that never left).
    fn note(&mut self, service: Service, operation: &str, add: bool) {
        let n = &mut self.0[service as usize].0[Class::of(service, operation) as usize];
        *n = if add {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
    }
}

/// The running tally of one validation, shared with the task it runs in.
#[derive(Debug, Default)]
pub struct Tally(Mutex<Requests>);

impl Tally {
    /// What it counted so far.
    pub fn requests(&self) -> Requests {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, service: &str, operation: &str, add: bool) {
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        r.note(Service::of(service), operation, add);
    }
}

tokio::task_local! {
    static TALLY: Arc<Tally>;
}

/// Run `f` with `tally` counting every request sent while it runs (in its
/// task: what `f` spawns is not counted).
pub async fn counting<F: Future>(tally: Arc<Tally>, f: F) -> F::Output {
    TALLY.scope(tally, f).await
}

/// A request of `operation` to `service` (the SDK's names) is being sent:
/// counted in the tally of the validation sending it, if any.
pub fn sent(service: &str, operation: &str) {
    let _ = TALLY.try_with(|t| t.note(service, operation, true));
}

/// A request counted by [`sent`] did not leave after all (refused before
/// it was transmitted).
pub fn not_sent(service: &str, operation: &str) {
    let _ = TALLY.try_with(|t| t.note(service, operation, false));
}

/// The seconds of a day.
const DAY: Duration = Duration::from_secs(86_400);

/// Days in the month of an estimate.
pub const DAYS_PER_MONTH: u64 = 30;

/// What one validation of a connection sent, and how often it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The requests of the validation (a full one: light checks do not
    /// change a connection's estimate).
    pub requests: Requests,
    /// The connection's validation interval.
    pub interval: Duration,
    /// How often a validation is a full one; `interval` when every one is
    /// (the connection is not Ready, or `fullValidationInterval` equals
    /// the interval).
    pub full_interval: Duration,
    /// The S3 requests of one light check (one ListObjectsV2 or HeadBucket).
    pub light: ByClass,
}

impl Usage {
    /// S3 requests a day by class: the full validations' and the light
    /// checks' in between, each class to the nearest request.
    pub fn daily(&self) -> ByClass {
        let fulls = validations_per_day(self.full_interval);
        let lights = (validations_per_day(self.interval) - fulls).max(0.0);
        let full = self.requests.of(Service::S3);
        let mut daily = ByClass::default();
        for (i, n) in daily.0.iter_mut().enumerate() {
            let x = f64::from(full.0[i]) * fulls + f64::from(self.light.0[i]) * lights;
            *n = x.round().min(f64::from(u32::MAX)) as u32;
        }
        daily
    }

    /// S3 requests a day at this schedule (what `status.requestsPerDay`
    /// shows).
    pub fn s3_per_day(&self) -> u64 {
        self.daily().total()
    }
}

/// Validations a day, one every `interval`.
pub fn validations_per_day(interval: Duration) -> f64 {
    DAY.as_secs_f64() / interval.as_secs_f64().max(0.001)
}

/// Dollars per 1,000 requests of each class; [`Class::Free`] is always 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices([f64; Class::COUNT]);

/// S3 Standard in US East (N. Virginia): $0.005 per 1,000 PUT, COPY, POST
/// and LIST requests; $0.0004 per 1,000 GET, SELECT and other requests.
pub const TIER1_PER_THOUSAND: f64 = 0.005;
/// See [`TIER1_PER_THOUSAND`].
pub const TIER2_PER_THOUSAND: f64 = 0.0004;

/// The highest price per 1,000 requests accepted.
pub const MAX_PER_THOUSAND: f64 = 1000.0;

impl Default for Prices {
    fn default() -> Self {
        Self::new(TIER1_PER_THOUSAND, TIER2_PER_THOUSAND)
    }
}

impl Prices {
    /// Prices per 1,000 requests of tier 1 and tier 2.
    pub fn new(tier1: f64, tier2: f64) -> Self {
        Self([tier1, tier2, 0.0])
    }

    /// Dollars per 1,000 requests of `class`.
    pub fn per_thousand(&self, class: Class) -> f64 {
        self.0[class as usize]
    }

    /// Dollars a month (of [`DAYS_PER_MONTH`] days) for S3 requests
    /// `daily` a day.
    pub fn monthly(&self, daily: ByClass) -> f64 {
        daily
            .0
            .iter()
            .zip(self.0)
            .map(|(n, price)| f64::from(*n) * price / 1000.0)
            .sum::<f64>()
            * DAYS_PER_MONTH as f64
    }
}

/// A price per 1,000 requests, as a flag gives it: a decimal number of
/// dollars from 0 to [`MAX_PER_THOUSAND`].
pub fn parse_price(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of dollars per 1,000 requests"))?;
    if !v.is_finite() || !(0.0..=MAX_PER_THOUSAND).contains(&v) {
        return Err(format!(
            "{s:?}: a price per 1,000 requests is from 0 to {MAX_PER_THOUSAND} dollars"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
