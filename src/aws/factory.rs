//! What a validation gets to talk to AWS: its [`Clients`], built by an
//! [`AwsFactory`] for an [`S3Target`].

use std::sync::Arc;

use aws_credential_types::Credentials;

use super::Outages;
use crate::spec::ValidSpec;

/// Where S3 requests for a connection go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    /// The region requests are signed for (`spec.region`).
    pub region: String,
    /// The S3 endpoint (`spec.endpoint`); `None` for AWS's own.
    pub endpoint: Option<String>,
    /// Where STS requests go instead of the STS `endpoint` implies
    /// (`spec.stsEndpoint`, without a trailing `/`), trusting the public
    /// roots only.
    pub sts_endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    pub force_path_style: bool,
    /// PEM certificates to trust for `endpoint` besides the public roots
    /// (`spec.caSecretRef`).
    pub trust: Option<Arc<[u8]>>,
}

impl S3Target {
    /// Where the connection of `spec` sends its requests, trusting only the
    /// public roots.
    pub fn of(spec: &ValidSpec) -> Self {
        Self {
            region: spec.region.clone(),
            endpoint: spec.endpoint.clone(),
            sts_endpoint: spec
                .sts_endpoint
                .as_deref()
                .map(|s| s.trim_end_matches('/').to_string()),
            force_path_style: spec.force_path_style,
            trust: None,
        }
    }

    /// The same, also trusting `pem`.
    pub fn trusting(mut self, pem: Option<Arc<[u8]>>) -> Self {
        self.trust = pem;
        self
    }
}

/// A client of a service, and where it sends requests (for messages and
/// for remembering a service that does not answer there).
#[derive(Clone)]
pub struct Remote<C> {
    /// The SDK client.
    pub client: C,
    /// The endpoint it sends requests to, as `scheme://host[:port]`.
    pub location: String,
}

/// SDK clients for one validation.
pub struct Clients {
    /// S3 at the connection's endpoint.
    pub s3: aws_sdk_s3::Client,
    /// The STS for the connection's credentials.
    pub sts: Remote<aws_sdk_sts::Client>,
    /// `None` when no IAM is known for this endpoint.
    pub iam: Option<Remote<aws_sdk_iam::Client>>,
    /// Services that recently did not answer, shared by all validations.
    pub outages: Arc<Outages>,
    /// The access key ID the clients sign with: whose outages these
    /// validations remember and skip ([`Seen`](super::Seen)).
    pub scope: String,
}

impl Clients {
    /// The clients a validation of `target` with `credentials` uses.
    pub fn new(
        aws: &dyn AwsFactory,
        target: &S3Target,
        credentials: &Credentials,
        outages: Arc<Outages>,
    ) -> Self {
        Self {
            s3: aws.s3(target, credentials.clone()),
            sts: aws.sts(target, Some(credentials.clone())),
            iam: aws.iam(target, credentials.clone()),
            outages,
            scope: credentials.access_key_id().to_string(),
        }
    }

    /// `service` at `location` as these clients' credentials see it.
    pub fn seen(&self, service: super::Service, location: &str) -> super::Seen {
        super::Seen::new(service, location, &self.scope)
    }
}

/// Creates the SDK clients a validation needs. A trait so unit tests can hand
/// out clients backed by `aws-smithy-mocks`.
///
/// Where STS and IAM are, so that a tenant's credentials only go where they
/// belong: for AWS (no `spec.endpoint`, an `*.amazonaws.com` endpoint, or
/// the administrator's own `AWS_ENDPOINT_URL[_S3]`) AWS's STS and IAM, or
/// the administrator's `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL_IAM` /
/// `AWS_ENDPOINT_URL`. For any other S3-compatible store, STS is the store
/// itself (MinIO and Ceph serve STS at their S3 endpoint) and there is no
/// IAM.
pub trait AwsFactory: Send + Sync {
    /// An STS client for connections to `target`, signing with
    /// `credentials`, or unsigned when `None` (AssumeRoleWithWebIdentity
    /// needs no signature).
    fn sts(
        &self,
        target: &S3Target,
        credentials: Option<Credentials>,
    ) -> Remote<aws_sdk_sts::Client>;
    /// An STS client using the operator's own identity, if it was enabled,
    /// for connections to `target` (its region, and its `sts_endpoint` when
    /// set).
    fn operator_sts(&self, target: &S3Target) -> Option<aws_sdk_sts::Client>;
    /// An S3 client for `target`, signing with `credentials`.
    fn s3(&self, target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client;
    /// An IAM client for connections to `target`, if an IAM is known there.
    fn iam(
        &self,
        target: &S3Target,
        credentials: Credentials,
    ) -> Option<Remote<aws_sdk_iam::Client>>;
    /// Whether `target` is a store (not AWS nor the administrator's stand-in
    /// for it): its STS is the store's, and no token for AWS goes there.
    fn is_store(&self, target: &S3Target) -> bool {
        target
            .endpoint
            .as_deref()
            .is_some_and(|ep| !crate::allowlist::is_aws(ep))
    }
}
