//! Every S3 request of a validation names the plan's bucket and carries the
//! bucket owner the connection expects and, for a Requester Pays bucket,
//! `x-amz-request-payer: requester` (HeadBucket has no such header); those
//! about the probe object also name its key. [`InBucket`] and
//! [`AtProbeKey`] add that to a request, so no step can forget them.

use aws_sdk_s3::operation::delete_object::builders::DeleteObjectFluentBuilder;
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::head_bucket::builders::HeadBucketFluentBuilder;
use aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder;
use aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;

use super::Plan;

/// A request to the plan's bucket, with its expected owner.
pub(super) trait InBucket {
    /// `bucket` and `expected_bucket_owner` of `plan`.
    fn in_bucket(self, plan: &Plan) -> Self;
}

/// A request about a probe object: in the plan's bucket, with its
/// expected owner, for a probe key.
pub(super) trait AtProbeKey {
    /// `bucket` and `expected_bucket_owner` of `plan`, and `key`.
    fn at_key(self, plan: &Plan, key: &str) -> Self;
}

/// The builders have the same methods but no common trait.
macro_rules! in_bucket {
    ($($builder:ty),+) => {$(
        impl InBucket for $builder {
            fn in_bucket(self, plan: &Plan) -> Self {
                self.bucket(&plan.bucket)
                    .set_expected_bucket_owner(plan.expected_owner.clone())
                    .set_request_payer(plan.request_payer())
            }
        }
    )+};
}

impl InBucket for HeadBucketFluentBuilder {
    fn in_bucket(self, plan: &Plan) -> Self {
        self.bucket(&plan.bucket)
            .set_expected_bucket_owner(plan.expected_owner.clone())
    }
}

macro_rules! at_probe_key {
    ($($builder:ty),+) => {$(
        impl AtProbeKey for $builder {
            fn at_key(self, plan: &Plan, key: &str) -> Self {
                self.in_bucket(plan).key(key)
            }
        }
    )+};
}

in_bucket!(
    ListObjectsV2FluentBuilder,
    PutObjectFluentBuilder,
    GetObjectFluentBuilder,
    HeadObjectFluentBuilder,
    DeleteObjectFluentBuilder
);
at_probe_key!(
    PutObjectFluentBuilder,
    GetObjectFluentBuilder,
    HeadObjectFluentBuilder,
    DeleteObjectFluentBuilder
);
