#!/usr/bin/env python3
"""Smoke test of MinIO in the dev environment (hack/dev-up.sh): HTTPS with the S3
CA, provisioning through hack/minio-admin, conditional writes, web identity with
kube-apiserver ServiceAccount tokens, and how MinIO answers the calls the
operator makes (errors, headers) - pinned here so a MinIO bump that changes
them shows up.

    source .dev/env && moto-python hack/check_minio.py

Creates and deletes its own user, policy, buckets and ServiceAccount (all named
s3c-mcheck-*). It temporarily replaces the web-identity role policy
($S3C_MINIO_ROLE_POLICY) and puts back what was there, so do not run it while
tests that depend on that policy are running. Exits non-zero on the first
failed check. Prints no secrets.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET

import boto3
import jwt
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from checklib import expect, fail, ok, passed

EP = os.environ["S3C_MINIO_ENDPOINT"]
CA = os.environ["S3C_MINIO_CA_CERT"]
KUBE_CA = os.environ["S3C_CA_CERT"]
ROOT = {"AccessKeyId": os.environ["S3C_MINIO_ROOT_USER"], "SecretAccessKey": os.environ["S3C_MINIO_ROOT_PASSWORD"]}
ROLE_ARN = os.environ["S3C_MINIO_ROLE_ARN"]
ROLE_POLICY = os.environ["S3C_MINIO_ROLE_POLICY"]
AUD = os.environ["S3C_MINIO_WEB_IDENTITY_AUDIENCE"]
ADMIN = os.environ["S3C_MINIO_ADMIN"]
NS = "default"
SA = "s3c-mcheck-sa"
BUCKET = "s3c-mcheck-bucket"
VBUCKET = "s3c-mcheck-versioned"
USER = "s3c-mcheck-user"
USER_SECRET = "s3c-mcheck-" + os.urandom(8).hex()
POLICY = "s3c-mcheck-policy"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# as the operator should configure the SDK for custom endpoints (FIELD-NOTES)
CFG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
             request_checksum_calculation="when_required", response_checksum_validation="when_required")

def run(*args: str, input: str | None = None) -> str:
    r = subprocess.run(list(args), input=input, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout.strip()


def admin(*args: str, input: str | None = None) -> str:
    return run(ADMIN, *args, input=input)


def kubectl(*args: str, input: str | None = None) -> str:
    return run("kubectl", *args, input=input)


def client(svc: str, creds: dict | None = None, unsigned: bool = False):
    kw: dict = {}
    if creds:
        kw = dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds.get("SessionToken"))
    cfg = CFG.merge(Config(signature_version=UNSIGNED)) if unsigned else CFG
    return boto3.client(svc, endpoint_url=EP, region_name="us-east-1", verify=CA, config=cfg, **kw)


def err(f) -> tuple[int, str, str, dict]:
    """(HTTP status, error code, message, response headers) of a call expected to fail."""
    try:
        f()
    except ClientError as e:
        md = e.response["ResponseMetadata"]
        return (md["HTTPStatusCode"], e.response["Error"].get("Code", ""),
                e.response["Error"].get("Message", ""), md.get("HTTPHeaders", {}))
    return (200, "", "", {})


def awi_raw(token: str, role: str = ROLE_ARN) -> requests.Response:
    """AssumeRoleWithWebIdentity as the operator calls it: an unsigned form POST to the root."""
    return requests.post(EP + "/", verify=CA, timeout=10, data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role,
        "RoleSessionName": "s3c-mcheck", "WebIdentityToken": token, "DurationSeconds": "900"})


def sts_error(r: requests.Response) -> tuple[int, str, str]:
    try:
        root = ET.fromstring(r.text)
    except ET.ParseError:
        return (r.status_code, "", r.text[:200])
    code = root.find(f".//{STS_NS}Code")
    if code is None:
        code = root.find(".//Code")
    msg = root.find(f".//{STS_NS}Message")
    if msg is None:
        msg = root.find(".//Message")
    return (r.status_code, code.text if code is not None else "", msg.text if msg is not None else "")


def cleanup() -> None:
    subprocess.run([ADMIN, "bucket-remove", BUCKET, "--", "bucket-remove", VBUCKET, "--",
                    "user-remove", USER, "--", "policy-remove", POLICY], capture_output=True)
    subprocess.run(["kubectl", "delete", "serviceaccount", SA, "-n", NS, "--ignore-not-found"], capture_output=True)


def main() -> None:
    t0 = time.time()
    print(f"MinIO at {EP}")
    print("TLS")
    expect(requests.get(EP + "/minio/health/ready", verify=CA, timeout=5).status_code == 200,
           "health/ready over HTTPS, verified with S3C_MINIO_CA_CERT")
    try:
        requests.get(EP + "/minio/health/ready", verify=KUBE_CA, timeout=5)
        fail("MinIO's certificate verified with the kube-apiserver's CA")
    except requests.exceptions.SSLError as e:
        expect(isinstance(e.args[0].reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(e),
               "the kube-apiserver's CA (S3C_CA_CERT) does not verify MinIO's certificate")

    print("admin wrapper: bucket, user, policy")
    cleanup()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{BUCKET}"],
             "Condition": {"StringLike": {"s3:prefix": ["data/*"]}}},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [f"arn:aws:s3:::{BUCKET}/data/*"]},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
                                           "s3:ListBucketVersions", "s3:GetObjectVersion"],
             "Resource": [f"arn:aws:s3:::{VBUCKET}", f"arn:aws:s3:::{VBUCKET}/*"]},
        ],
    }
    t = time.time()
    admin("bucket-add", BUCKET, "--", "bucket-add", VBUCKET, "--versioning",
          "--", "user-add", USER, USER_SECRET, "--", "policy-add", POLICY, "-",
          "--", "policy-attach", POLICY, USER, "--", "policy-attach", POLICY, USER, input=json.dumps(policy))
    ok(f"bucket-add (+ --versioning), user-add, policy-add, policy-attach (twice) in one call ({time.time() - t:.2f}s)")
    info = json.loads(admin("user-info", USER))
    expect(info.get("status") == "enabled" and POLICY in info.get("policyName", ""),
           f"user-info: enabled, policy {info.get('policyName')}")
    root_s3 = client("s3", ROOT)
    expect(root_s3.get_bucket_versioning(Bucket=VBUCKET).get("Status") == "Enabled", "versioning enabled")
    expect("Status" not in root_s3.get_bucket_versioning(Bucket=BUCKET), "unversioned bucket has no status")
    expect(admin("role-arn") == ROLE_ARN, f"role-arn prints {ROLE_ARN}")

    print("user with a prefix-scoped policy")
    user = {"AccessKeyId": USER, "SecretAccessKey": USER_SECRET}
    us3 = client("s3", user)
    us3.put_object(Bucket=BUCKET, Key="data/a", Body=b"1", IfNoneMatch="*")
    ok("PutObject If-None-Match:* on a new key: 200")
    st, code, _, _ = err(lambda: us3.put_object(Bucket=BUCKET, Key="data/a", Body=b"2", IfNoneMatch="*"))
    expect((st, code) == (412, "PreconditionFailed"), f"PutObject If-None-Match:* on an existing key: {st} {code}")
    expect(us3.get_object(Bucket=BUCKET, Key="data/a")["Body"].read() == b"1", "the first write stays")
    st, code, _, _ = err(lambda: us3.put_object(Bucket=BUCKET, Key="other/a", Body=b"x"))
    expect((st, code) == (403, "AccessDenied"), f"PutObject outside the policy's prefix: {st} {code}")
    r = us3.list_objects_v2(Bucket=BUCKET, Prefix="data/")
    expect(r["KeyCount"] == 1, "ListObjectsV2 Prefix=data/ allowed by the s3:prefix condition")
    st, code, _, _ = err(lambda: us3.list_objects_v2(Bucket=BUCKET, Prefix="other/"))
    expect((st, code) == (403, "AccessDenied"), f"ListObjectsV2 Prefix=other/ (s3:prefix enforced): {st} {code}")
    st, code, _, _ = err(lambda: us3.list_objects_v2(Bucket=BUCKET))
    expect((st, code) == (403, "AccessDenied"), f"ListObjectsV2 without prefix (s3:prefix enforced): {st} {code}")
    st, code, _, _ = err(lambda: us3.get_object(Bucket=BUCKET, Key="data/missing"))
    expect((st, code) == (404, "NoSuchKey"), f"GetObject of a missing key with s3:ListBucket on data/*: {st} {code}")
    us3.delete_object(Bucket=BUCKET, Key="data/never-existed")
    ok("DeleteObject of a missing key: 204")

    print("HeadBucket")
    root_hdr = root_s3.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPHeaders"]
    expect("x-amz-bucket-region" not in root_hdr,
           f"HeadBucket allowed (root): 200, x-amz-bucket-region={root_hdr.get('x-amz-bucket-region')}")
    st, _, _, h = err(lambda: us3.head_bucket(Bucket=BUCKET))
    expect(st == 403, f"HeadBucket with s3:ListBucket only for s3:prefix data/* (HeadBucket has no prefix): "
                      f"{st}, x-amz-bucket-region={h.get('x-amz-bucket-region')}")
    st, _, _, h = err(lambda: client("s3", user).head_bucket(Bucket=VBUCKET + "-nope"))
    expect(st == 403, f"HeadBucket, bucket missing and not in the policy: {st}, "
                      f"x-amz-bucket-region={h.get('x-amz-bucket-region')}")
    st, _, _, h = err(lambda: root_s3.head_bucket(Bucket="s3c-mcheck-nowhere"))
    expect(st == 404, f"HeadBucket as root, bucket missing: {st}, x-amz-bucket-region={h.get('x-amz-bucket-region')}")

    print("errors")
    bad = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "x" * 40}
    st, code, _, _ = err(lambda: client("s3", bad).list_objects_v2(Bucket=BUCKET))
    expect((st, code) == (403, "InvalidAccessKeyId"), f"unknown access key: {st} {code}")
    st, code, _, _ = err(lambda: client("s3", dict(user, SecretAccessKey="wrong-secret-123")).list_objects_v2(Bucket=BUCKET))
    expect((st, code) == (403, "SignatureDoesNotMatch"), f"wrong secret key: {st} {code}")
    st, code, _, _ = err(lambda: root_s3.list_objects_v2(Bucket="s3c-mcheck-nowhere"))
    expect((st, code) == (404, "NoSuchBucket"), f"ListObjectsV2, missing bucket, as root: {st} {code}")
    st, code, _, _ = err(lambda: us3.list_objects_v2(Bucket="s3c-mcheck-nowhere", Prefix="data/"))
    expect((st, code) == (403, "AccessDenied"), f"ListObjectsV2, missing bucket the policy does not name: {st} {code}")
    st, code, msg, _ = err(lambda: client("sts", ROOT).get_caller_identity())
    expect((st, code) == (400, "InvalidParameterValue"), f"STS GetCallerIdentity: {st} {code} ({msg})")
    st, code, _, _ = err(lambda: client("sts", user).get_caller_identity())
    ok(f"STS GetCallerIdentity as a user: {st} {code}")

    print("versioned bucket")
    vs3 = client("s3", user)
    v1 = vs3.put_object(Bucket=VBUCKET, Key="k", Body=b"v1")["VersionId"]
    v2 = vs3.put_object(Bucket=VBUCKET, Key="k", Body=b"v2")["VersionId"]
    expect(v1 and v2 and v1 != v2, "PutObject returns a new VersionId per write")
    st, code, _, _ = err(lambda: vs3.put_object(Bucket=VBUCKET, Key="k", Body=b"v3", IfNoneMatch="*"))
    expect((st, code) == (412, "PreconditionFailed"), f"If-None-Match:* on a versioned key: {st} {code}")
    d = vs3.delete_object(Bucket=VBUCKET, Key="k")
    dh = d["ResponseMetadata"]["HTTPHeaders"]
    expect(d["ResponseMetadata"]["HTTPStatusCode"] == 204 and d.get("DeleteMarker") is True and d.get("VersionId"),
           f"DeleteObject without version: 204, x-amz-delete-marker={dh.get('x-amz-delete-marker')}, "
           "a delete-marker version id")
    st, code, _, h = err(lambda: vs3.get_object(Bucket=VBUCKET, Key="k"))
    expect((st, code) == (404, "NoSuchKey"),
           f"GetObject after it: {st} {code}, x-amz-delete-marker={h.get('x-amz-delete-marker')}")
    vers = vs3.list_object_versions(Bucket=VBUCKET)
    expect(len(vers.get("Versions", [])) == 2 and len(vers.get("DeleteMarkers", [])) == 1,
           "ListObjectVersions: both versions and one delete marker remain")
    st, code, _, _ = err(lambda: vs3.put_object(Bucket=VBUCKET, Key="k", Body=b"v4", IfNoneMatch="*"))
    expect(st == 200, f"If-None-Match:* when the latest version is a delete marker: {st} {code}")
    expect(vs3.get_object(Bucket=VBUCKET, Key="k", VersionId=v1)["Body"].read() == b"v1", "old version readable")
    # unlike AWS, MinIO needs no s3:DeleteObjectVersion for this: s3:DeleteObject
    # is enough unless a statement explicitly denies s3:DeleteObjectVersion
    d = vs3.delete_object(Bucket=VBUCKET, Key="k", VersionId=v1)
    expect(d["ResponseMetadata"]["HTTPStatusCode"] == 204 and d.get("VersionId") == v1,
           "DeleteObject of a version with s3:DeleteObject but no s3:DeleteObjectVersion: 204 (AWS: 403)")
    st, code, _, _ = err(lambda: root_s3.get_object(Bucket=VBUCKET, Key="k", VersionId=v1))
    expect(st in (400, 404), f"the deleted version is gone: {st} {code}")
    st, code, _, _ = err(lambda: root_s3.delete_bucket(Bucket=VBUCKET))
    expect((st, code) == (409, "BucketNotEmpty"), f"DeleteBucket while versions remain: {st} {code}")

    print("web identity (ServiceAccount token from the kube-apiserver)")
    kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA, "namespace": NS}}))
    token = kubectl("create", "token", SA, "-n", NS, "--audience", AUD)
    claims = jwt.decode(token, options={"verify_signature": False})
    expect(claims["aud"] == [AUD], f"TokenRequest with audience {AUD}")
    r = awi_raw(token)
    expect(r.status_code == 200, "AssumeRoleWithWebIdentity (unsigned POST to the root): "
                                 f"{r.status_code} {r.text[:300] if r.status_code != 200 else ''}")
    root = ET.fromstring(r.text)
    c = root.find(f".//{STS_NS}Credentials")
    creds = {k: c.find(f"{STS_NS}{k}").text for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    subj = root.find(f".//{STS_NS}SubjectFromWebIdentityToken")
    ok(f"credentials until {creds['Expiration']}; SubjectFromWebIdentityToken="
       f"{subj.text if subj is not None else None}")
    ws3 = client("s3", creds)
    ws3.put_object(Bucket=BUCKET, Key="wi/x", Body=b"x")
    expect(ws3.get_object(Bucket=BUCKET, Key="wi/x")["Body"].read() == b"x",
           f"the session's keys work (role policy {ROLE_POLICY})")
    b = client("sts", unsigned=True).assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName="s3c-mcheck", WebIdentityToken=token)
    expect(bool(b["Credentials"]["AccessKeyId"]), "boto3's unsigned assume_role_with_web_identity works too")
    st, code, msg, _ = err(lambda: client("sts", creds).get_caller_identity())
    ok(f"GetCallerIdentity with session keys: {st} {code}")

    # the role policy is evaluated per request: replacing it narrows existing sessions
    old_policy = admin("policy-info", ROLE_POLICY)
    try:
        admin("role-policy-set", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}/wi/*"]}]}))
        st, code, _, _ = err(lambda: ws3.put_object(Bucket=BUCKET, Key="wi/y", Body=b"y"))
        expect((st, code) == (403, "AccessDenied"), f"after role-policy-set (read only), the session may not write: {st} {code}")
        expect(ws3.get_object(Bucket=BUCKET, Key="wi/x")["Body"].read() == b"x", "... and may still read")
    finally:
        doc = json.loads(old_policy)
        admin("role-policy-set", json.dumps(doc.get("Policy", doc)))

    wrong_aud = kubectl("create", "token", SA, "-n", NS)  # audience = the API server's issuer
    st, code, msg = sts_error(awi_raw(wrong_aud))
    expect(st == 400 and code == "InvalidParameterValue", f"token with another audience refused: {st} {code} ({msg})")
    st, code, msg = sts_error(awi_raw("garbage"))
    expect(st == 400 and code == "InvalidParameterValue", f"malformed token: {st} {code} ({msg})")
    now = int(time.time())
    with open(os.environ["S3C_SA_SIGNING_KEY"], "rb") as f:
        sa_key = f.read()
    hdr = jwt.get_unverified_header(token)
    expired = jwt.encode(dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600), sa_key,
                         algorithm="RS256", headers={"kid": hdr["kid"]})
    st, code, msg = sts_error(awi_raw(expired))
    expect((st, code) == (400, "InvalidParameterValue"), f"expired token (not ExpiredToken): {st} {code} ({msg})")
    st, code, msg = sts_error(awi_raw(token, "arn:minio:iam:::role/nope"))
    expect(st == 400 and code == "InvalidParameterValue", f"unknown RoleArn: {st} {code} ({msg})")
    st, code, msg, _ = err(lambda: ws3.list_objects_v2(Bucket="s3c-mcheck-nowhere"))
    ok(f"session keys on a missing bucket: {st} {code}")

    cleanup()
    print(f"minio check ok: {passed()} checks in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
