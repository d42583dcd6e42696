//! A typed S3Connection spec: the operator's own [`S3ConnectionSpec`],
//! built for the test store, for the tests and the bench alike. Fields left
//! out are not sent (the API server's and the operator's defaults apply).
//! For a spec the API server is to refuse, take [`Spec::json`] and change
//! it.

use s3_connection_operator::crd::{
    AccessKeyAuth, Auth, IamRoleAuth, ProbeSettings, S3ConnectionSpec, SecretReference,
};
use serde::Serialize;
use serde_json::Value;

use crate::env::REGION;

/// An S3Connection spec under construction.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Spec(pub S3ConnectionSpec);

impl Spec {
    fn new(bucket: &str, region: &str, auth: Auth) -> Self {
        Self(S3ConnectionSpec {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: None,
            sts_endpoint: None,
            force_path_style: None,
            auth,
            permissions: None,
            validation_interval: None,
            full_validation_interval: None,
            suspend: None,
            ca_secret_ref: None,
            expected_bucket_owner: None,
            probe: None,
        })
    }

    /// `spec.probe`: how the probe's requests are made.
    pub fn probe(mut self, probe: ProbeSettings) -> Self {
        self.0.probe = Some(Box::new(probe));
        self
    }

    /// `bucket` (and path) in `region` on AWS (no endpoint), with the
    /// access key in Secret `secret`.
    pub fn aws(bucket: &str, region: &str, secret: &str) -> Self {
        Self::new(bucket, region, access_key(secret))
    }

    /// `bucket` on the store at `endpoint` (path style, the test region),
    /// with the access key in Secret `secret`.
    pub fn access_key(bucket: &str, endpoint: &str, secret: &str) -> Self {
        Self::aws(bucket, REGION, secret).at(endpoint)
    }

    /// `bucket` on the store at `endpoint` through an IAM role: `role` (an
    /// ARN), ServiceAccount `sa` (IRSA), or both.
    pub fn iam_role(bucket: &str, endpoint: &str, role: Option<&str>, sa: Option<&str>) -> Self {
        Self::new(bucket, REGION, iam_role(role, sa)).at(endpoint)
    }

    /// The store at `endpoint`, path style.
    pub fn at(mut self, endpoint: &str) -> Self {
        self.0.endpoint = Some(endpoint.into());
        self.0.force_path_style = Some(true);
        self
    }

    /// Every STS request to `sts` (`spec.stsEndpoint`).
    pub fn sts_at(mut self, sts: &str) -> Self {
        self.0.sts_endpoint = Some(sts.into());
        self
    }

    /// Virtual-hosted style: `spec.forcePathStyle: false`.
    pub fn virtual_hosted(mut self) -> Self {
        self.0.force_path_style = Some(false);
        self
    }

    /// Through ServiceAccount `sa` (IRSA, the role from its annotation)
    /// instead of what the spec said.
    pub fn service_account(mut self, sa: &str) -> Self {
        self.0.auth = iam_role(None, Some(sa));
        self
    }

    /// The Secret's key holding the access key ID.
    pub fn access_key_id_key(mut self, key: &str) -> Self {
        self.access_key_auth().access_key_id_key = Some(key.into());
        self
    }

    /// The Secret's key holding the secret access key.
    pub fn secret_access_key_key(mut self, key: &str) -> Self {
        self.access_key_auth().secret_access_key_key = Some(key.into());
        self
    }

    fn access_key_auth(&mut self) -> &mut AccessKeyAuth {
        self.0
            .auth
            .access_key
            .as_mut()
            .expect("a spec with an access key")
    }

    /// `validationInterval`, such as `1m` or `1h`.
    pub fn interval(mut self, interval: &str) -> Self {
        self.0.validation_interval = Some(interval.into());
        self
    }

    /// `spec.fullValidationInterval`.
    pub fn full_interval(mut self, interval: &str) -> Self {
        self.0.full_validation_interval = Some(interval.into());
        self
    }

    /// The permissions to prove.
    pub fn permissions(mut self, actions: &[&str]) -> Self {
        self.0.permissions = Some(actions.iter().map(|a| a.to_string()).collect());
        self
    }

    pub fn suspend(mut self, suspend: bool) -> Self {
        self.0.suspend = Some(suspend);
        self
    }

    /// The CA bundle in Secret `secret` (`caSecretRef`).
    pub fn ca(mut self, secret: &str) -> Self {
        self.0.ca_secret_ref = Some(SecretReference {
            name: secret.into(),
        });
        self
    }

    pub fn expected_bucket_owner(mut self, account: &str) -> Self {
        self.0.expected_bucket_owner = Some(account.into());
        self
    }

    /// The spec as JSON, to change in ways the types do not allow.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).expect("a spec is JSON")
    }
}

fn access_key(secret: &str) -> Auth {
    Auth {
        access_key: Some(Box::new(AccessKeyAuth {
            secret_name: secret.into(),
            access_key_id_key: None,
            secret_access_key_key: None,
            session_token_key: None,
        })),
        iam_role: None,
    }
}

fn iam_role(role: Option<&str>, sa: Option<&str>) -> Auth {
    Auth {
        access_key: None,
        iam_role: Some(Box::new(IamRoleAuth {
            role_arn: role.map(str::to_string),
            service_account_name: sa.map(str::to_string),
            session_name: None,
        })),
    }
}

impl crate::TestEnv {
    /// A connection to `bucket` on the test endpoint with the access key in
    /// Secret `secret`.
    pub fn access_key_spec(&self, bucket: &str, secret: &str) -> Spec {
        Spec::access_key(bucket, &self.endpoint, secret)
    }
}
