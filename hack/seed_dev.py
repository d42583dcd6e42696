#!/usr/bin/env python3
"""Seeds the dev environment for `make dev` (run via hack/seed-dev.sh, with
$S3C_DEV_DIR/env sourced and the tool venv's python):

  - S3 bucket `dev-data` (us-east-1) in moto,
  - IAM user `dev-sync` whose policy allows s3:ListBucket on the bucket and
    s3:GetObject/PutObject/DeleteObject on its objects,
  - a fresh access key for it, stored in the Kubernetes Secret
    `default/dev-s3-creds` (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY),
  - IAM role `sync` (same permissions) that ServiceAccount default/s3-sync may
    assume with a token from the dev kube-apiserver (examples/s3connection-irsa.yaml),
  - when MinIO runs (S3C_MINIO_ENDPOINT): bucket `dev-minio`, MinIO user
    `dev-minio-sync` with the same permissions on it, its key in Secret
    `default/dev-minio-creds` and MinIO's CA in Secret `default/dev-minio-ca`
    (examples/s3connection-minio.yaml).

Idempotent: a re-run creates a new key, updates the Secret, then deletes the
user's older keys (a rotation, like in real life). Prints no secret values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
from botocore.exceptions import ClientError

BUCKET = "dev-data"
USER = "dev-sync"
SECRET = "dev-s3-creds"
NAMESPACE = "default"
IRSA_ROLE = "sync"
IRSA_SA = "s3-sync"

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
        {
            "Sid": "Objects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        },
    ],
}


def log(msg: str) -> None:
    print(f"[seed-dev] {msg}", file=sys.stderr)


def seed_irsa_role(iam) -> None:
    """Role `sync` for examples/s3connection-irsa.yaml: ServiceAccount
    default/s3-sync of the dev kube-apiserver may assume it."""
    account = os.environ["S3C_AWS_ACCOUNT"]
    provider = os.environ["S3C_OIDC_PROVIDER"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{provider}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{provider}:sub": f"system:serviceaccount:{NAMESPACE}:{IRSA_SA}",
                f"{provider}:aud": "sts.amazonaws.com",
            }},
        }],
    }
    try:
        iam.create_role(RoleName=IRSA_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        log(f"created IAM role {IRSA_ROLE} (trusts ServiceAccount {NAMESPACE}/{IRSA_SA})")
    except iam.exceptions.EntityAlreadyExistsException:
        iam.update_assume_role_policy(RoleName=IRSA_ROLE, PolicyDocument=json.dumps(trust))
        log(f"IAM role {IRSA_ROLE} exists")
    iam.put_role_policy(RoleName=IRSA_ROLE, PolicyName="dev-data-rw", PolicyDocument=json.dumps(POLICY))


def apply_secret(name: str, data: dict[str, str]) -> None:
    """Create or replace Secret default/NAME; the manifest goes through
    stdin, so no value shows up in argv or output."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "s3c-dev"}},
        "stringData": data,
    }
    # --force-conflicts: the Secret's data is owned by this script.
    r = subprocess.run(
        ["kubectl", "apply", "--server-side", "--force-conflicts", "--field-manager=s3c-seed-dev", "-f", "-"],
        input=json.dumps(secret),
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"kubectl apply of Secret {NAMESPACE}/{name} failed: {r.stderr.strip()}")


def seed_minio() -> None:
    """MinIO's part of `make dev`, through hack/minio-admin."""
    if not os.environ.get("S3C_MINIO_ENDPOINT"):
        log("MinIO is not running (S3C_DEV_MINIO=0?): no MinIO connection")
        return
    import secrets

    admin = os.environ["S3C_MINIO_ADMIN"]
    user, bucket = "dev-minio-sync", "dev-minio"
    policy = json.dumps({**POLICY, "Statement": [
        {**st, "Resource": st["Resource"].replace(BUCKET, bucket)} for st in POLICY["Statement"]
    ]})
    secret_key = secrets.token_urlsafe(24)[:32]
    # A throwaway key of the local MinIO; it is on minio-admin's command line
    # for the moment that runs (minio-admin prints no secrets).
    subprocess.run(
        [admin, "bucket-add", bucket, "--", "user-add", user, secret_key, "--",
         "policy-add", user, policy, "--", "policy-attach", user, user],
        check=True, stdout=subprocess.DEVNULL,
    )
    apply_secret("dev-minio-creds", {"AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": secret_key})
    with open(os.environ["S3C_MINIO_CA_CERT"]) as f:
        apply_secret("dev-minio-ca", {"ca.crt": f.read()})
    log(f"MinIO: bucket {bucket}, user {user} (key in Secret {NAMESPACE}/dev-minio-creds), CA in {NAMESPACE}/dev-minio-ca")


def main() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")

    try:
        s3.head_bucket(Bucket=BUCKET)
        log(f"bucket {BUCKET} exists")
    except ClientError:
        s3.create_bucket(Bucket=BUCKET)
        log(f"created bucket {BUCKET}")

    try:
        iam.create_user(UserName=USER)
        log(f"created IAM user {USER}")
    except iam.exceptions.EntityAlreadyExistsException:
        log(f"IAM user {USER} exists")
    iam.put_user_policy(UserName=USER, PolicyName="dev-data-rw", PolicyDocument=json.dumps(POLICY))

    seed_irsa_role(iam)

    old = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]]
    if len(old) >= 2:  # AWS allows two keys per user: make room
        iam.delete_access_key(UserName=USER, AccessKeyId=old.pop(0))
    key = iam.create_access_key(UserName=USER)["AccessKey"]

    try:
        apply_secret(SECRET, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    except RuntimeError as e:
        iam.delete_access_key(UserName=USER, AccessKeyId=key["AccessKeyId"])
        sys.exit(f"[seed-dev] {e}")
    log(f"Secret {NAMESPACE}/{SECRET} holds a new access key of {USER}")

    for k in old:
        iam.delete_access_key(UserName=USER, AccessKeyId=k)
    if old:
        log(f"deleted {len(old)} older access key(s) of {USER}")

    seed_minio()


if __name__ == "__main__":
    main()
