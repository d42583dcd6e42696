//! The last check before a request to a store leaves: its final URI (after
//! endpoint resolution, virtual-hosted-style addressing and signing) must
//! be allowed by the administrator's allowlist ([`Destinations`]).
//!
//! The allowlist is checked on `spec.endpoint` before anything is read;
//! this interceptor sees where each request really goes, so that nothing
//! the SDK derives from the endpoint (a bucket's host `<bucket>.<host>`, an
//! endpoint rule) sends a request or its signature elsewhere. Requests to
//! stores are path style unless a wildcard entry allows the bucket hosts
//! ([`crate::allowlist::Allowlist::allows_virtual_hosts`]), so this only
//! refuses what that rule missed.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::allowlist::Allowlist;

/// Refuses every request whose URI the allowlist does not allow.
#[derive(Debug, Clone)]
pub struct Destinations {
    allowed: Arc<Allowlist>,
}

impl Destinations {
    /// Requests may go where `allowed` allows.
    pub fn new(allowed: Arc<Allowlist>) -> Self {
        Self { allowed }
    }
}

/// A request that was about to leave for a host the allowlist does not
/// allow (the host is the operator's own URI, tamed for messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the request was not sent: it would have gone to {0}, which is not on the operator's list of allowed endpoints (virtual-hosted-style requests to a store need a wildcard entry for its bucket hosts)"
)]
pub struct DestinationRefused(pub String);

impl Intercept for Destinations {
    fn name(&self) -> &'static str {
        "Destinations"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri();
        if self.allowed.allows(uri) {
            return Ok(());
        }
        let host = uri
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Err(Box::new(DestinationRefused(super::tame::text(&host))))
    }
}

/// The refusal among the causes of `err`, if [`Destinations`] refused it.
pub fn refused<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a DestinationRefused> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(r) = e.downcast_ref::<DestinationRefused>() {
            return Some(r);
        }
        cause = e.source();
    }
    None
}
