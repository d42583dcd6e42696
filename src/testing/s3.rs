//! The fake S3: mock rules for the object and bucket calls a probe makes,
//! answered from the shared [`World`], and a client built on them.

use std::collections::HashMap;

use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::RequestPayer;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;

use super::errors::{s3_error, s3_error_saying};
use super::world::{Shared, World};

fn head_response(status: u16, region: &str) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
    r.headers_mut()
        .insert("x-amz-bucket-region", region.to_string());
    r
}

/// The answer for an authenticated call on a body-carrying S3 operation,
/// or `None` to go on.
fn gate(
    w: &World,
    action: &str,
    expected_owner: Option<&str>,
    payer: Option<&RequestPayer>,
) -> Option<HttpResponse> {
    if w.throttled {
        return Some(s3_error(503, "SlowDown"));
    }
    // A Requester Pays bucket refuses requests that do not accept the charges.
    if w.requester_pays && payer != Some(&RequestPayer::Requester) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if expected_owner.is_some_and(|o| o != w.owner) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if w.unknown_key {
        return Some(s3_error(403, "InvalidAccessKeyId"));
    }
    if w.bad_secret {
        return Some(s3_error(403, "SignatureDoesNotMatch"));
    }
    if !w.bucket_exists {
        return Some(s3_error(404, "NoSuchBucket"));
    }
    if w.deny.contains(action) {
        return Some(s3_error(403, "AccessDenied"));
    }
    if let Some((refused, code, message)) = &w.kms_refuses
        && *refused == action
    {
        let status = if code.starts_with("KMS.") { 400 } else { 403 };
        return Some(s3_error_saying(status, code, message));
    }
    None
}

/// Mock rules answering HeadBucket, ListObjectsV2, PutObject, GetObject,
/// DeleteObject and HeadObject from `world`, as S3 would.
pub fn s3_rules(world: &Shared) -> Vec<Rule> {
    let w = world.clone();
    let head = mock!(aws_sdk_s3::Client::head_bucket).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        if w.throttled {
            return MockResponse::Http(head_response(503, &w.bucket_region));
        }
        if !w.bucket_exists {
            return MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::empty(),
            ));
        }
        let wrong_owner = req.expected_bucket_owner().is_some_and(|o| o != w.owner);
        if w.unknown_key || w.bad_secret || w.deny.contains("head") || wrong_owner {
            return MockResponse::Http(head_response(403, &w.bucket_region));
        }
        MockResponse::Output(
            HeadBucketOutput::builder()
                .bucket_region(w.bucket_region.clone())
                .build(),
        )
    });
    let w = world.clone();
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        match gate(&w, "list", req.expected_bucket_owner(), req.request_payer()) {
            Some(r) => MockResponse::Http(r),
            None => MockResponse::Output(ListObjectsV2Output::builder().build()),
        }
    });
    let w = world.clone();
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_response(move |req| {
        let mut w = w.lock().unwrap();
        if let Some(r) = gate(&w, "put", req.expected_bucket_owner(), req.request_payer()) {
            return MockResponse::Http(r);
        }
        if w.no_conditional_writes {
            return MockResponse::Http(s3_error(501, "NotImplemented"));
        }
        // A bucket policy that denies writes without this encryption.
        if let Some(required) = &w.required_encryption
            && req.server_side_encryption().map(|e| e.as_str()) != Some(required.as_str())
        {
            return MockResponse::Http(s3_error(403, "AccessDenied"));
        }
        w.put_checksums
            .push(req.checksum_algorithm().map(|c| c.as_str().to_string()));
        let key = req.key().unwrap_or_default().to_string();
        assert_eq!(
            req.if_none_match(),
            Some("*"),
            "probe writes must use If-None-Match: *"
        );
        if w.objects.contains_key(&key) {
            return MockResponse::Http(s3_error(412, "PreconditionFailed"));
        }
        let body = req.body().bytes().unwrap_or_default().to_vec();
        w.metadata
            .insert(key.clone(), req.metadata().cloned().unwrap_or_default());
        let tag = (!w.no_etags).then(|| etag(&body));
        w.objects.insert(key, body);
        w.writes += 1;
        let version = w.object_lock.then(|| format!("v{}", w.writes));
        if let Some(v) = &version {
            w.versions.insert(v.clone());
        }
        MockResponse::Output(
            PutObjectOutput::builder()
                .set_e_tag(tag)
                .set_version_id(version)
                .build(),
        )
    });
    let w = world.clone();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        if let Some(r) = gate(&w, "get", req.expected_bucket_owner(), req.request_payer()) {
            return MockResponse::Http(r);
        }
        let key = req.key().unwrap_or_default();
        match w.objects.get(key) {
            Some(body) => {
                let tag = (!w.no_etags).then(|| etag(body));
                let body = w.corrupt_reads.clone().unwrap_or_else(|| body.clone());
                MockResponse::Output(
                    GetObjectOutput::builder()
                        .set_e_tag(tag)
                        .set_metadata(w.metadata.get(key).cloned())
                        .content_length(body.len() as i64)
                        .body(ByteStream::from(body))
                        .build(),
                )
            }
            // Real S3 hides missing keys from callers without s3:ListBucket.
            None if w.deny.contains("list") => MockResponse::Http(s3_error(403, "AccessDenied")),
            None => MockResponse::Http(s3_error(404, "NoSuchKey")),
        }
    });
    let w = world.clone();
    let delete = mock!(aws_sdk_s3::Client::delete_object).then_compute_response(move |req| {
        let mut w = w.lock().unwrap();
        let key = req.key().unwrap_or_default().to_string();
        w.delete_calls.push(key.clone());
        if let Some(r) = gate(
            &w,
            "delete",
            req.expected_bucket_owner(),
            req.request_payer(),
        ) {
            return MockResponse::Http(r);
        }
        if let Some(v) = req.version_id() {
            if v.starts_with('v') && w.retention_running {
                return MockResponse::Http(s3_error_saying(
                    400,
                    "InvalidRequest",
                    "Object is WORM protected and cannot be overwritten",
                ));
            }
            w.versions.remove(v);
            return MockResponse::Output(DeleteObjectOutput::builder().version_id(v).build());
        }
        if let Some(tag) = req.if_match() {
            if w.no_conditional_deletes {
                return MockResponse::Http(s3_error(501, "NotImplemented"));
            }
            w.conditional_deletes.push(key.clone());
            let current = w.objects.get(&key).map(|b| etag(b));
            if w.replaced_after_head || current.as_deref() != Some(tag) {
                return MockResponse::Http(s3_error(412, "PreconditionFailed"));
            }
        } else {
            w.plain_deletes.push(key.clone());
        }
        w.objects.remove(&key);
        w.metadata.remove(&key);
        if w.object_lock {
            let marker = format!("m{}", w.delete_calls.len());
            return MockResponse::Output(
                DeleteObjectOutput::builder()
                    .delete_marker(true)
                    .version_id(marker)
                    .build(),
            );
        }
        MockResponse::Output(DeleteObjectOutput::builder().build())
    });
    let w = world.clone();
    let head_object = mock!(aws_sdk_s3::Client::head_object).then_compute_response(move |req| {
        let w = w.lock().unwrap();
        let bare = |status: u16| {
            MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::empty(),
            ))
        };
        let wrong_owner = req.expected_bucket_owner().is_some_and(|o| o != w.owner);
        if w.deny.contains("get") || w.unknown_key || w.bad_secret || wrong_owner {
            return bare(403);
        }
        let key = req.key().unwrap_or_default();
        match w.objects.get(key) {
            Some(body) => MockResponse::Output(
                HeadObjectOutput::builder()
                    .e_tag(etag(body))
                    .set_metadata(w.metadata.get(key).cloned())
                    .content_length(body.len() as i64)
                    .build(),
            ),
            None if w.deny.contains("list") => bare(403),
            None => bare(404),
        }
    });
    vec![head, list, put, get, delete, head_object]
}

/// The ETag the fake gives a body.
pub fn etag(body: &[u8]) -> String {
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    format!("\"{:x}-{}\"", sum, body.len())
}

/// The marker metadata of a probe object written for connection `uid` at
/// `key` with `body`, signed with `keys`.
pub fn marker(
    keys: &crate::probe::MarkerKeys,
    uid: &str,
    key: &str,
    body: &[u8],
) -> HashMap<String, String> {
    HashMap::from([
        (crate::probe::MARKER.to_string(), uid.to_string()),
        (crate::probe::MAC.to_string(), keys.sign(uid, key, body)),
    ])
}

/// An S3 client answered by the fake `world`.
pub fn s3_client(world: &Shared) -> aws_sdk_s3::Client {
    let rules = s3_rules(world);
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules, |c| c
        .retry_config(RetryConfig::disabled()))
}
