#!/usr/bin/env python3
"""Smoke test of the dev environment (hack/dev-up.sh): kube-apiserver tokens +
moto's AssumeRoleWithWebIdentity (via hack/moto_launcher.py) + S3 behaviours.

    source .dev/env && moto-python hack/check_dev_env.py

Creates and deletes its own ServiceAccounts, IAM role and buckets (all named
s3c-check-*). Exits non-zero on the first failed check. Prints no secrets.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time

import boto3
import jwt
import requests
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from checklib import expect, fail, ok, passed

EP = os.environ["AWS_ENDPOINT_URL"]
ACCOUNT = os.environ["S3C_AWS_ACCOUNT"]
PROVIDER = os.environ["S3C_OIDC_PROVIDER"]
ISSUER = os.environ["S3C_OIDC_ISSUER"]
NS = "default"
ROLE = "s3c-check-role"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
BUCKET = "s3c-check-bucket"
OTHER_BUCKET = "s3c-check-other"
WEST_BUCKET = "s3c-check-west"
SIM_USERS = ("s3c-check-sim", "s3c-check-nosim")
CFG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})

def kubectl(*args: str, input: str | None = None) -> str:
    r = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def client(svc: str, creds: dict | None = None, region: str = "us-east-1", unsigned: bool = False):
    kw: dict = {}
    if creds:
        kw = dict(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
        )
    cfg = CFG.merge(Config(signature_version=UNSIGNED)) if unsigned else CFG
    return boto3.client(svc, endpoint_url=EP, region_name=region, config=cfg, **kw)


def err(f) -> tuple[int, str, str]:
    try:
        f()
    except ClientError as e:
        return (
            e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"].get("Code", ""),
            e.response["Error"].get("Message", ""),
        )
    return (200, "", "")


def raw_s3(method: str, path: str, region: str, headers: dict | None = None, data: bytes = b"") -> requests.Response:
    """A SigV4-signed S3 request without botocore's region-redirect handling."""
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method=method, url=EP + path, data=data, headers=headers or {})
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(creds, "s3", region).add_auth(req)
    return requests.request(method, req.url, headers=dict(req.headers.items()), data=data, timeout=10)


def cleanup(iam, s3) -> None:
    for name in [p for p in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]] if role_exists(iam) else []:
        iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    if role_exists(iam):
        iam.delete_role(RoleName=ROLE)
    for b in (BUCKET, OTHER_BUCKET, WEST_BUCKET):
        try:
            for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
                s3.delete_object(Bucket=b, Key=o["Key"])
            s3.delete_bucket(Bucket=b)
        except ClientError:
            pass


def cleanup_users(iam) -> None:
    for user in SIM_USERS:
        try:
            for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
            for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
                iam.delete_user_policy(UserName=user, PolicyName=name)
            iam.delete_user(UserName=user)
        except ClientError:
            pass


def check_simulation(iam) -> None:
    """iam:SimulatePrincipalPolicy (hack/moto_simulate.py)."""
    cleanup_users(iam)
    sim, nosim = SIM_USERS
    sim_arn = f"arn:aws:iam::{ACCOUNT}:user/{sim}"
    objects = f"arn:aws:s3:::{BUCKET}/data/*"
    for user in SIM_USERS:
        iam.create_user(UserName=user)
    iam.put_user_policy(UserName=sim, PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": objects},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": objects},
            {"Effect": "Allow", "Action": "s3:PutObjectAcl", "Resource": objects,
             "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}}},
            {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": sim_arn},
        ],
    }))
    keys = {u: iam.create_access_key(UserName=u)["AccessKey"] for u in SIM_USERS}
    own = client("iam", keys[sim])

    def decide(action: str, **kw) -> dict:
        r = own.simulate_principal_policy(
            PolicySourceArn=sim_arn, ActionNames=[action], ResourceArns=[f"arn:aws:s3:::{BUCKET}/data/x"], **kw)
        expect(r["IsTruncated"] is False and len(r["EvaluationResults"]) == 1, f"{action}: one result")
        return r["EvaluationResults"][0]

    r = decide("s3:ReplicateObject")
    expect(r["EvalDecision"] == "allowed" and r["MatchedStatements"][0]["SourcePolicyId"] == "s3",
           f"s3:ReplicateObject allowed by s3:* ({r['EvalDecision']})")
    r = decide("s3:DeleteObject")
    expect(r["EvalDecision"] == "explicitDeny", f"s3:DeleteObject denied explicitly ({r['EvalDecision']})")
    r = decide("kms:Decrypt")
    expect(r["EvalDecision"] == "implicitDeny", f"kms:Decrypt: no statement allows it ({r['EvalDecision']})")
    r = decide("s3:PutObjectAcl")
    expect(r["EvalDecision"] == "implicitDeny" and r["ResourceSpecificResults"][0]["MissingContextValues"]
           == ["s3:x-amz-acl"], f"a condition without its context value does not allow ({r['EvalDecision']})")
    r = decide("s3:PutObjectAcl", ContextEntries=[
        {"ContextKeyName": "s3:x-amz-acl", "ContextKeyValues": ["private"], "ContextKeyType": "string"}])
    expect(r["EvalDecision"] == "allowed", f"... and allows with it ({r['EvalDecision']})")
    st, code, _ = err(lambda: iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/s3c-check-nobody", ActionNames=["s3:GetObject"]))
    expect((st, code) == (404, "NoSuchEntity"), f"unknown principal ({st} {code})")
    st, code, _ = err(lambda: iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:s3:::{BUCKET}", ActionNames=["s3:GetObject"]))
    expect((st, code) == (400, "InvalidInput"), f"a bucket ARN as the principal ({st} {code})")
    st, code, msg = err(lambda: client("iam", keys[nosim]).simulate_principal_policy(
        PolicySourceArn=sim_arn, ActionNames=["s3:GetObject"]))
    expect((st, code) == (403, "AccessDenied") and f"iam:SimulatePrincipalPolicy on resource: {sim_arn}" in msg,
           f"caller without iam:SimulatePrincipalPolicy ({st} {code})")
    st, code, _ = err(lambda: own.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/{nosim}", ActionNames=["s3:GetObject"]))
    expect((st, code) == (403, "AccessDenied"), f"... nor on another user's ARN ({st} {code})")
    cleanup_users(iam)


def role_exists(iam) -> bool:
    try:
        iam.get_role(RoleName=ROLE)
        return True
    except ClientError:
        return False


def main() -> None:
    t0 = time.time()
    print("kube-apiserver")
    expect(kubectl("get", "--raw", "/readyz") == "ok", "/readyz answers ok")
    for sa in ("s3c-check-good", "s3c-check-other"):
        kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": NS}}))
    good = kubectl("create", "token", "s3c-check-good", "-n", NS, "--audience", "sts.amazonaws.com")
    other = kubectl("create", "token", "s3c-check-other", "-n", NS, "--audience", "sts.amazonaws.com")
    default_aud = kubectl("create", "token", "s3c-check-good", "-n", NS)
    claims = jwt.decode(good, options={"verify_signature": False})
    expect(claims["iss"] == ISSUER and claims["aud"] == ["sts.amazonaws.com"],
           f"TokenRequest with audience sts.amazonaws.com (iss={claims['iss']}, sub={claims['sub']})")
    expect(claims["sub"] == f"system:serviceaccount:{NS}:s3c-check-good", "token sub names the ServiceAccount")

    print("moto admin + IAM enforcement")
    iam, s3 = client("iam"), client("s3")
    ident = client("sts").get_caller_identity()
    expect(ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/admin", f"admin keys work ({ident['Arn']})")
    bad = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "x" * 40}
    st, code, _ = err(lambda: client("s3", bad).list_buckets())
    expect(st == 403 and code == "InvalidAccessKeyId", f"unknown keys rejected ({st} {code})")

    cleanup(iam, s3)
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=OTHER_BUCKET)
    s3.create_bucket(Bucket=WEST_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=BUCKET, Key="data/exists", Body=b"x")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{PROVIDER}:sub": f"system:serviceaccount:{NS}:s3c-check-good",
                f"{PROVIDER}:aud": "sts.amazonaws.com",
            }},
        }],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=ROLE, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        ],
    }))

    print("AssumeRoleWithWebIdentity (unsigned, as the operator calls it)")
    sts = client("sts", unsigned=True)

    def awi(token: str, role: str = ROLE_ARN):
        return sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="check", WebIdentityToken=token)

    r = awi(good)
    arn = r["AssumedRoleUser"]["Arn"]
    expect(arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/check", f"right SA gets credentials ({arn})")
    expect(r.get("SubjectFromWebIdentityToken") == claims["sub"], "response carries SubjectFromWebIdentityToken")
    rc = r["Credentials"]
    who = client("sts", rc).get_caller_identity()["Arn"]
    expect(who == arn, "GetCallerIdentity with the role credentials")
    rs3 = client("s3", rc)
    expect(rs3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1, "role may list its bucket")
    st, code, _ = err(lambda: rs3.list_objects_v2(Bucket=OTHER_BUCKET))
    expect((st, code) == (403, "AccessDenied"), f"role may not list another bucket ({st} {code})")
    st, code, _ = err(lambda: rs3.put_object(Bucket=BUCKET, Key="data/new", Body=b"y"))
    expect((st, code) == (403, "AccessDenied"), f"role may not write ({st} {code})")

    st, code, msg = err(lambda: awi(other))
    expect((st, code) == (403, "AccessDenied") and "sts:AssumeRoleWithWebIdentity" in msg,
           f"other SA's token denied by the trust policy ({st} {code}: {msg})")
    st, code, msg = err(lambda: awi("garbage"))
    expect((st, code) == (400, "InvalidIdentityToken"), f"garbage token ({st} {code}: {msg})")
    expect(jwt.decode(default_aud, options={"verify_signature": False})["aud"] == [ISSUER],
           "a token requested without audience is for the kube-apiserver only (aud = issuer)")
    st, code, msg = err(lambda: awi(default_aud))
    expect((st, code) == (400, "InvalidIdentityToken"), f"token for the wrong audience ({st} {code}: {msg})")
    now = int(time.time())
    forged_claims = dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    with open(os.environ["S3C_SA_SIGNING_KEY"], "rb") as f:
        sa_key = f.read()
    expired = jwt.encode(forged_claims, sa_key, algorithm="RS256")
    st, code, msg = err(lambda: awi(expired))
    expect((st, code) == (400, "InvalidIdentityToken"), f"expired token ({st} {code}: {msg})")
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = jwt.encode(dict(claims, exp=now + 600), foreign, algorithm="RS256")
    st, code, msg = err(lambda: awi(forged))
    expect((st, code) == (400, "InvalidIdentityToken"), f"token signed by another key ({st} {code}: {msg})")
    st, code, msg = err(lambda: awi(good, f"arn:aws:iam::{ACCOUNT}:role/s3c-check-missing"))
    expect((st, code) == (403, "AccessDenied"), f"unknown role ({st} {code})")
    resp = requests.post(EP + "/", data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN,
        "RoleSessionName": "x", "WebIdentityToken": "garbage"}, timeout=10)
    expect(resp.status_code == 400 and resp.text.startswith(
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        "<Code>InvalidIdentityToken</Code>"), "raw STS error XML shape")

    trust["Statement"][0]["Condition"] = {"StringLike": {f"{PROVIDER}:sub": f"system:serviceaccount:{NS}:s3c-check-*"}}
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(trust))
    expect(awi(other)["AssumedRoleUser"]["Arn"].endswith(f"{ROLE}/check"), "StringLike wildcard on :sub")
    trust["Statement"][0]["Principal"] = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/elsewhere.example"}
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(trust))
    st, code, _ = err(lambda: awi(good))
    expect((st, code) == (403, "AccessDenied"), f"trust policy naming another OIDC provider ({st} {code})")

    print("S3 behaviours (raw signed requests, no client-side redirects)")
    r = raw_s3("HEAD", f"/{WEST_BUCKET}", "us-east-1")
    expect(r.status_code == 301 and r.headers.get("x-amz-bucket-region") == "us-west-2",
           f"HeadBucket, bucket in another region: {r.status_code} x-amz-bucket-region={r.headers.get('x-amz-bucket-region')}")
    r = raw_s3("GET", f"/{WEST_BUCKET}?list-type=2", "us-east-1")
    expect(r.status_code == 301 and "<Code>PermanentRedirect</Code>" in r.text,
           f"ListObjectsV2, bucket in another region: {r.status_code} PermanentRedirect")
    r = raw_s3("HEAD", f"/{WEST_BUCKET}", "us-west-2")
    expect(r.status_code == 200 and r.headers.get("x-amz-bucket-region") == "us-west-2", "HeadBucket, right region: 200 + header")
    st, code, _ = err(lambda: client("s3", rc).head_bucket(Bucket=OTHER_BUCKET))
    r = None
    try:
        client("s3", rc).head_bucket(Bucket=OTHER_BUCKET)
    except ClientError as e:
        r = e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
    expect(st == 403 and r == "us-east-1", f"HeadBucket denied: {st} x-amz-bucket-region={r}")
    st, code, _ = err(lambda: client("s3", rc).list_objects_v2(Bucket="s3c-check-nowhere"))
    expect((st, code) == (404, "NoSuchBucket"), f"ListObjectsV2 on a bucket that does not exist ({st} {code})")
    st, _, _ = err(lambda: client("s3", rc).head_bucket(Bucket="s3c-check-nowhere"))
    expect(st == 404, f"HeadBucket on a bucket that does not exist ({st})")
    st, code, _ = err(lambda: client("s3", bad).list_objects_v2(Bucket="s3c-check-nowhere"))
    expect((st, code) == (403, "InvalidAccessKeyId"), f"... but unknown keys still get InvalidAccessKeyId ({st} {code})")
    # GetObject of a missing key: 403 without s3:ListBucket, 404 with it
    iam.put_role_policy(RoleName=ROLE, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}],
    }))
    st, code, _ = err(lambda: client("s3", rc).get_object(Bucket=BUCKET, Key="data/missing"))
    expect((st, code) == (403, "AccessDenied"), f"GetObject missing key without s3:ListBucket ({st} {code})")
    st, code, _ = err(lambda: s3.get_object(Bucket=BUCKET, Key="data/missing"))
    expect((st, code) == (404, "NoSuchKey"), f"GetObject missing key with s3:ListBucket ({st} {code})")
    st, code, _ = err(lambda: s3.put_object(Bucket=BUCKET, Key="data/exists", Body=b"z", IfNoneMatch="*"))
    expect((st, code) == (412, "PreconditionFailed"), f"PutObject If-None-Match:* on existing key ({st} {code})")
    st, code, _ = err(lambda: client("s3", rc).delete_object(Bucket=BUCKET, Key="data/exists"))
    expect((st, code) == (403, "AccessDenied"), f"DeleteObject denied ({st} {code})")

    print("iam:SimulatePrincipalPolicy")
    check_simulation(iam)

    cleanup(iam, s3)
    for sa in ("s3c-check-good", "s3c-check-other"):
        kubectl("delete", "serviceaccount", sa, "-n", NS, "--ignore-not-found")
    print(f"dev environment check ok: {passed()} checks in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
