//! Building AWS SDK clients for one connection ([`AwsFactory`]), and what
//! their errors mean ([`classify`]).
//!
//! Every client is built from explicit parts: the connection's region,
//! endpoint and resolved credentials, one shared HTTP client, fixed timeouts
//! and a bounded retry. Nothing is taken from the operator's environment
//! except endpoint overrides for STS/IAM and, only when the operator allows
//! it, the operator's own identity.
//!
//! Files, one job each:
//! - `factory`: what a validation gets ([`AwsFactory`], [`Clients`],
//!   [`Remote`], [`S3Target`])
//! - `sdk`: the real factory ([`SdkFactory`]), its [`Timeouts`] and retry,
//!   and whose STS and IAM a connection's credentials may go to
//!   ([`is_aws_home`])
//! - `destinations`: the allowlist checked on every request's final URI
//!   ([`Destinations`])
//! - `http`: the HTTPS client and the bound on response bodies
//!   ([`https_client`], [`BoundedBodies`])
//! - `outages`: STS and IAM locations that did not answer ([`Outages`])
//! - [`trust`]: HTTPS clients per CA bundle, by digest ([`TrustCache`])
//! - [`identities`]: who credentials are, as STS last said
//! - [`facts`] and [`classify`]: what a failed call says, and what it means
//! - [`arn`]: ARNs taken apart; [`tame`]: strings from servers made safe
//! - [`recorder`]: metrics of every call

mod destinations;
mod factory;
mod http;
mod outages;
mod sdk;

pub mod arn;
pub mod classify;
pub mod facts;
pub mod identities;
pub mod kms;
pub mod lock;
pub mod recorder;
pub mod tame;
pub mod trust;

pub use arn::Arn;
pub use destinations::{DestinationRefused, Destinations};
pub use factory::{AwsFactory, Clients, Remote, S3Target};
pub use http::{BoundedBodies, MAX_RESPONSE_BODY, https_client};
pub use identities::Identities;
pub use outages::{Outages, Seen, Service, Skipped};
pub use sdk::{SdkFactory, Timeouts, aws_stand_ins, is_aws_home};
pub use trust::TrustCache;
