//! Metrics of every AWS call a validation makes, whatever the client:
//! `s3connection_aws_requests_total{service,operation,outcome}` and
//! `s3connection_aws_request_duration_seconds{service,operation}` (the
//! whole operation, retries included); and every HTTP request sent (each
//! attempt, answered or not) in the tally of the validation sending it
//! ([`crate::cost::sent`]). An SDK interceptor, so no call site can forget
//! it.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::telemetry::Metrics;

/// Records each operation's outcome and duration.
#[derive(Clone)]
pub struct CallRecorder {
    metrics: Metrics,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallRecorder")
    }
}

impl CallRecorder {
    /// A recorder counting in `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

#[derive(Debug)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// The attempt under way was counted as sent.
#[derive(Debug)]
struct Counted(bool);

impl Storable for Counted {
    type Storer = StoreReplace<Self>;
}

/// The outcome label of a finished call, from what the last response said.
pub fn outcome_label(succeeded: bool, status: Option<u16>, timed_out: bool) -> &'static str {
    if succeeded {
        return "ok";
    }
    match status {
        Some(403) => "denied",
        Some(404) => "not_found",
        Some(412) => "precondition_failed",
        Some(s) if (400..500).contains(&s) => "client_error",
        Some(s) if s >= 500 => "server_error",
        Some(_) => "error",
        None if timed_out => "timeout",
        None => "unreachable",
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "s3connection-call-metrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    /// Each attempt, as it is handed to the HTTP client: counted now, so a
    /// request that is never answered (or whose validation is stopped
    /// meanwhile) is still counted.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            crate::cost::sent(meta.service(), meta.name());
            cfg.interceptor_state().store_put(Counted(true));
        }
        Ok(())
    }

    /// An attempt counted as sent that another interceptor refused before
    /// it left ([`super::Destinations`]) is taken back.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let counted = cfg.load::<Counted>().is_some_and(|c| c.0);
        cfg.interceptor_state().store_put(Counted(false));
        let refused = match context.output_or_error() {
            Some(Err(e)) => super::destinations::refused(e).is_some(),
            _ => false,
        };
        if counted
            && refused
            && let Some(meta) = cfg.load::<Metadata>()
        {
            crate::cost::not_sent(meta.service(), meta.name());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let (succeeded, timed_out) = match context.output_or_error() {
            Some(Ok(_)) => (true, false),
            Some(Err(e)) => (false, e.is_timeout_error()),
            None => (false, false),
        };
        let status = context.response().map(|r| r.status().as_u16());
        let took = cfg.load::<Started>().map(|s| s.0.elapsed());
        self.metrics.aws_call(
            meta.service(),
            meta.name(),
            outcome_label(succeeded, status, timed_out),
            took,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert_eq!(outcome_label(true, Some(200), false), "ok");
        assert_eq!(outcome_label(false, Some(403), false), "denied");
        assert_eq!(outcome_label(false, Some(503), false), "server_error");
        assert_eq!(outcome_label(false, None, true), "timeout");
        assert_eq!(outcome_label(false, None, false), "unreachable");
    }
}
