//! Test doubles for unit tests: a small stateful fake of S3/STS/IAM answering
//! through `aws-smithy-mocks`, so the probe engine and the reconciler can be
//! exercised without a network. Retries are off in these clients: the SDK's
//! retry loop is not what the tests are about. Integration tests under
//! `tests/` use a real API server and a real S3/STS/IAM endpoint instead.

mod errors;
mod factory;
mod iam;
mod s3;
mod sts;
mod world;

pub use errors::{query_error, s3_error, s3_error_saying};
pub use factory::FakeAws;
pub use iam::iam_client;
pub use s3::{etag, marker, s3_client, s3_rules};
pub use sts::{HttpResponseFn, sts_client};
pub use world::{AssumeRoleCall, Shared, World};
