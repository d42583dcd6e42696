"""S3 behaviour closer to real S3 (see 3. in hack/moto_launcher.py's module
doc): a WSGI middleware in front of moto for SigV4-signed S3 requests, adding
region redirects, the bucket-region header on a denied HeadBucket,
ExpectedBucketOwner, AccessDenied for a missing key without s3:ListBucket,
NoSuchBucket for a bucket that exists nowhere, and the Requester Pays
`x-amz-request-charged` header."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from moto_admin import auth_enforced
from moto_bucket_rules import caller_key, charged, find_bucket, identity_verdict
from moto_config import CFG
from moto_xml import xml_escape

_CRED_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def _signing_info(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4-signed request."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _CRED_RE.search(auth)
    if m:
        return m.group(1), m.group(2), m.group(3)
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    cred = (qs.get("X-Amz-Credential") or [""])[0].split("/")
    if len(cred) == 5:
        return cred[0], cred[2], cred[3]
    return None


def _bucket_and_key(environ: dict[str, Any]) -> tuple[str | None, str]:
    host = (environ.get("HTTP_HOST") or "").split(":")[0]
    path = environ.get("PATH_INFO", "/")
    if host and not re.match(r"^[\d.]+$", host) and host != "localhost":
        # virtual-host style: <bucket>.localhost / <bucket>.s3.<region>.amazonaws.com
        m = re.match(r"^(.+?)\.(?:localhost|s3[.-].*)$", host)
        if m:
            return m.group(1), path.lstrip("/")
    parts = path.lstrip("/").split("/", 1)
    return (parts[0] or None), (parts[1] if len(parts) > 1 else "")


def _session_token(environ: dict[str, Any]) -> str | None:
    return environ.get("HTTP_X_AMZ_SECURITY_TOKEN")


def _key_known(environ: dict[str, Any], access_key: str) -> bool:
    """The access key (and session token) belong to an IAM user or assumed role."""
    return caller_key(access_key, _session_token(environ)) is not None


def _caller_may_list(environ: dict[str, Any], access_key: str, region: str, bucket: str) -> bool:
    from moto.iam.access_control import PermissionResult

    key = caller_key(access_key, _session_token(environ))
    try:
        verdict = identity_verdict(key, "s3:ListBucket", f"arn:aws:s3:::{bucket}")
    except Exception:
        return True  # don't second-guess moto
    return verdict == PermissionResult.PERMITTED


def _s3_error(status: str, code: str, message: str, extra: str = "", headers: list | None = None, head: bool = False):
    rid = uuid.uuid4().hex[:16].upper()
    body = b"" if head else (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>{extra}"
        f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
    ).encode()
    hdrs = [("Content-Type", "application/xml"), ("x-amz-request-id", rid), ("Content-Length", str(len(body)))]
    hdrs += headers or []
    return status, hdrs, body


class S3Fixes:
    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not CFG.s3_fixes or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        sig = _signing_info(environ)
        if not sig or sig[2] != "s3":
            return self.app(environ, start_response)
        access_key, region, _ = sig
        bucket_name, key = _bucket_and_key(environ)
        if not bucket_name:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        bucket = find_bucket(bucket_name)
        head = method == "HEAD"
        if getattr(bucket, "payer", None) == "Requester" and charged(
            bucket,
            environ.get("HTTP_X_MOTO_ACCOUNT_ID") or _account_of(access_key),
            {"x-amz-request-payer": environ.get("HTTP_X_AMZ_REQUEST_PAYER", "")},
            parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        ):
            start_response = _charging(start_response)

        create_bucket = method == "PUT" and not key and not environ.get("QUERY_STRING")
        if bucket is not None and bucket.region_name != region and not create_bucket:
            status, hdrs, body = _s3_error(
                "301 Moved Permanently",
                "PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified "
                "endpoint. Please send all future requests to this endpoint.",
                f"<Endpoint>{bucket_name}.s3.{bucket.region_name}.amazonaws.com</Endpoint>"
                f"<Bucket>{bucket_name}</Bucket>",
                [("x-amz-bucket-region", bucket.region_name)],
                head=head,
            )
            _drain(environ)
            start_response(status, hdrs)
            return [body]

        # ExpectedBucketOwner (x-amz-expected-bucket-owner), which moto
        # ignores: S3 answers 403 AccessDenied when the bucket belongs to
        # another account.
        expected_owner = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
        if bucket is not None and expected_owner and expected_owner != bucket.account_id:
            status, hdrs, body = _s3_error("403 Forbidden", "AccessDenied", "Access Denied", head=head)
            _drain(environ)
            start_response(status, hdrs)
            return [body]

        want_region_header = head and not key and bucket is not None
        want_missing_key_check = (
            key and method in ("GET", "HEAD") and bucket is not None and auth_enforced()
        )
        want_missing_bucket_check = bucket is None and not create_bucket and auth_enforced()
        if not (want_region_header or want_missing_key_check or want_missing_bucket_check):
            return self.app(environ, start_response)

        captured: dict[str, Any] = {}

        def sr(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: None

        chunks = list(self.app(environ, sr))
        status, headers = captured["status"], captured["headers"]
        code = int(status.split()[0])
        if want_region_header and code in (200, 301, 403):
            if not any(h.lower() == "x-amz-bucket-region" for h, _ in headers):
                headers.append(("x-amz-bucket-region", bucket.region_name))
        if want_missing_bucket_check and code == 403:
            # S3 answers NoSuchBucket for a bucket that exists nowhere, whatever
            # the caller's policy says; moto checks the policy first.
            body = b"".join(chunks)
            if (b"<Code>AccessDenied</Code>" in body) or (head and _key_known(environ, access_key)):
                status, headers, b = _s3_error(
                    "404 Not Found",
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                    f"<BucketName>{xml_escape(bucket_name)}</BucketName>",
                    head=head,
                )
                chunks = [b]
        if want_missing_key_check and code == 404:
            body = b"".join(chunks)
            if (head or b"NoSuchKey" in body) and not _caller_may_list(environ, access_key, region, bucket_name):
                status, headers, b = _s3_error("403 Forbidden", "AccessDenied", "Access Denied", head=head)
                chunks = [b]
        start_response(status, headers)
        return chunks


def _account_of(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def _charging(start_response: Any) -> Any:
    """`x-amz-request-charged: requester` on a successful answer."""

    def sr(status: str, headers: list, exc_info: Any = None) -> Any:
        if status.startswith("2"):
            headers = [*headers, ("x-amz-request-charged", "requester")]
        return start_response(status, headers, exc_info)

    return sr


def _drain(environ: dict[str, Any]) -> None:
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
        if n:
            environ["wsgi.input"].read(n)
    except Exception:
        pass

