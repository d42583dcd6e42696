#!/usr/bin/env python3
"""Health checks and generated credentials for hack/dev-up.sh. Run it with the
tool venv's python (it has boto3 and requests):

    moto-python hack/dev_env.py moto-ready PORT
        exit 0 when moto on 127.0.0.1:PORT answers STS GetCallerIdentity for
        the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (IAM enforcement
        is on, so this proves the admin user exists)
    moto-python hack/dev_env.py minio-ready ENDPOINT CA_FILE ROLE_ARN
        exit 0 when MinIO at ENDPOINT (HTTPS, certificate signed by CA_FILE)
        lists buckets for the root keys in MINIO_ROOT_USER /
        MINIO_ROOT_PASSWORD and its OpenID role ROLE_ARN exists: an
        AssumeRoleWithWebIdentity for it with a malformed token is refused for
        the token (400 InvalidParameterValue), not for the role ("RoleARN ...
        is not defined": no OpenID configuration yet) nor with "IAM not
        initialized"
    moto-python hack/dev_env.py moto-admin-keys
        print new MOTO_ADMIN_KEY=... and MOTO_ADMIN_SECRET=... lines
    moto-python hack/dev_env.py minio-root-keys
        print new MINIO_ROOT_USER=... and MINIO_ROOT_PASSWORD=... lines
    moto-python hack/dev_env.py minio-role-arn CLIENT_ID
        print the role ARN MinIO derives for an OpenID provider with a role
        policy: arn:minio:iam:::role/<base64url(sha1(CLIENT_ID)), unpadded>
        (internal/config/identity/openid/openid.go; no region configured).
        MinIO logs it at startup ("IAM Roles: ...").

Prints no secrets except the generated keys of the *-keys commands (dev-up
writes them to files of mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
import sys


def random_string(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def moto_ready(port: str) -> None:
    import boto3

    boto3.client("sts", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").get_caller_identity()


def minio_ready(endpoint: str, ca: str, arn: str) -> None:
    import boto3
    import requests
    from botocore.config import Config

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", verify=ca,
                 aws_access_key_id=os.environ["MINIO_ROOT_USER"],
                 aws_secret_access_key=os.environ["MINIO_ROOT_PASSWORD"],
                 config=Config(retries={"max_attempts": 1})).list_buckets()
    r = requests.post(endpoint + "/", verify=ca, timeout=5, data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": arn,
        "WebIdentityToken": "not-a-jwt", "DurationSeconds": "900"})
    if r.status_code != 400 or "<Code>InvalidParameterValue</Code>" not in r.text or "RoleARN" in r.text:
        sys.exit(f"MinIO's OpenID role {arn} is not usable yet: {r.status_code} {r.text[:300]}")


def moto_admin_keys() -> None:
    print("MOTO_ADMIN_KEY=AKIA" + random_string(string.ascii_uppercase + string.digits, 16))
    print("MOTO_ADMIN_SECRET=" + random_string(string.ascii_letters + string.digits, 40))


def minio_root_keys() -> None:
    print("MINIO_ROOT_USER=s3croot" + random_string(string.ascii_lowercase + string.digits, 9))
    print("MINIO_ROOT_PASSWORD=" + random_string(string.ascii_letters + string.digits, 40))


def minio_role_arn(client_id: str) -> None:
    digest = hashlib.sha1(client_id.encode()).digest()
    print("arn:minio:iam:::role/" + base64.urlsafe_b64encode(digest).decode().rstrip("="))


COMMANDS = {
    "moto-ready": (moto_ready, 1),
    "minio-ready": (minio_ready, 3),
    "moto-admin-keys": (moto_admin_keys, 0),
    "minio-root-keys": (minio_root_keys, 0),
    "minio-role-arn": (minio_role_arn, 1),
}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in COMMANDS or len(argv) - 2 != COMMANDS[argv[1]][1]:
        sys.exit("usage: dev_env.py " + "|".join(COMMANDS) + " ARGS... (see the docstring)")
    fn, _ = COMMANDS[argv[1]]
    try:
        fn(*argv[2:])
    except Exception as e:  # a one-line reason, not a traceback
        sys.exit(f"{argv[1]}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv)
