//! The [`AwsFactory`] that hands the fake clients to the code under test.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;

use super::iam::iam_client;
use super::s3::s3_client;
use super::sts::{HttpResponseFn, sts_client};
use super::world::{Shared, World};
use crate::aws::{AwsFactory, Remote, S3Target};

/// An [`AwsFactory`] handing out clients backed by the fake world.
pub struct FakeAws {
    /// What the fake clients answer from.
    pub world: Shared,
    /// The S3 client handed out for every target.
    pub s3: aws_sdk_s3::Client,
    /// The STS client handed out for every target (and as the operator's).
    pub sts: aws_sdk_sts::Client,
    /// The IAM client handed out for every target.
    pub iam: aws_sdk_iam::Client,
    /// The operator's own identity is enabled.
    pub operator_identity: bool,
    /// Credentials the S3 client was last asked for (to check which were used).
    pub used: Mutex<Vec<Credentials>>,
    /// Building an S3 client panics (a stand-in for a bug in a validation).
    pub panic_in_s3: bool,
}

impl FakeAws {
    /// Clients answered by `world`; `assume` as for [`sts_client`].
    pub fn new(world: World, assume: Option<HttpResponseFn>) -> Self {
        let world = Arc::new(Mutex::new(world));
        Self {
            s3: s3_client(&world),
            sts: sts_client(&world, assume),
            iam: iam_client(&world),
            world,
            operator_identity: false,
            used: Mutex::default(),
            panic_in_s3: false,
        }
    }
}

impl AwsFactory for FakeAws {
    fn sts(
        &self,
        _target: &S3Target,
        _credentials: Option<Credentials>,
    ) -> Remote<aws_sdk_sts::Client> {
        Remote {
            client: self.sts.clone(),
            location: "https://sts.fake".into(),
        }
    }
    fn operator_sts(&self, _target: &S3Target) -> Option<aws_sdk_sts::Client> {
        self.operator_identity.then(|| self.sts.clone())
    }
    fn s3(&self, _target: &S3Target, credentials: Credentials) -> aws_sdk_s3::Client {
        assert!(!self.panic_in_s3, "a bug while building the S3 client");
        self.used.lock().unwrap().push(credentials);
        self.s3.clone()
    }
    fn iam(
        &self,
        _target: &S3Target,
        _credentials: Credentials,
    ) -> Option<Remote<aws_sdk_iam::Client>> {
        Some(Remote {
            client: self.iam.clone(),
            location: "https://iam.fake".into(),
        })
    }
}
