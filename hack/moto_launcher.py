#!/usr/bin/env python3
"""moto (S3 + STS + IAM on one port) for the dev environment and integration tests.

Run it with the tool venv's python (hack/tools.sh moto; `moto-python`):

    moto-python hack/moto_launcher.py --port 15000 \
        --sa-public-key .dev/pki/sa.pub --issuer https://127.0.0.1:16443

The admin keys are read from the environment (never from argv, so `ps` does not
show them): S3C_MOTO_ADMIN_ACCESS_KEY_ID / S3C_MOTO_ADMIN_SECRET_ACCESS_KEY.

What this adds on top of `moto_server` (moto 5.2.5):

1. An admin IAM user (`admin`, inline policy Action "*" / Resource "*") with the
   fixed access key from the environment is created in-process before the port
   opens, then IAM enforcement is switched on (the same as
   `POST /moto-api/reset-auth` with body `0`). Afterwards only keys of IAM users
   (and credentials of assumed roles) created in moto work. The admin user is
   re-created after `POST /moto-api/reset`, so tests can wipe moto's state
   without losing the keys in .dev/env. The same admin keys also act in any
   other account a request names with moto's `x-moto-account-id` header (12
   digits; the admin is seeded there on first use): that is how a test makes
   IAM users, KMS keys or buckets of a second account. moto takes a request's
   account from its access key, so keys of a user made there act in that
   account without the header.

2. sts:AssumeRoleWithWebIdentity. Unpatched, an unsigned call crashes moto once
   enforcement is on (KeyError: 'HTTP_AUTHORIZATION' in
   moto/iam/access_control.py), and moto never checks the token or the role's
   trust policy. Here the action skips the signature check and instead:
     - the token must be an RS256 JWT signed by the kube-apiserver's
       service-account key (--sa-public-key), unexpired, with iss == --issuer;
     - one `aud` must be in the client-ID list of the IAM OIDC provider for the
       issuer if one was created in moto, else in --audiences
       (default sts.amazonaws.com);
     - the role must exist and its trust policy must allow it: Principal
       {"Federated": "arn:aws:iam::<acct>:oidc-provider/<issuer host+path>"},
       Action sts:AssumeRoleWithWebIdentity, Conditions StringEquals /
       StringLike / StringNotEquals / StringNotLike (+IgnoreCase, IfExists,
       ForAnyValue:/ForAllValues:) on `<issuer host+path>:sub` / `:aud` (any key
       ending in `:sub` / `:aud` is matched, too). An explicit Deny wins.
   Failures answer like STS: HTTP 400 InvalidIdentityToken (garbage, bad
   signature, expired, wrong issuer or audience), HTTP 403 AccessDenied
   "Not authorized to perform sts:AssumeRoleWithWebIdentity" (trust policy,
   unknown role), HTTP 400 ValidationError (missing parameter), as
   <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">...
   On success moto answers as usual: AssumedRoleUser.Arn is already
   arn:aws:sts::<acct>:assumed-role/<role>/<session>; the response also gets
   SubjectFromWebIdentityToken, Audience and Provider like the real one. The
   credentials are enforced against the role's policies by moto.

3. S3 behaviour closer to real S3 (WSGI middleware, only for SigV4-signed S3
   requests; switch off with --no-s3-fixes / S3C_MOTO_S3_FIXES=0):
     - region redirect: a request signed for region A on a bucket that lives in
       region B gets HTTP 301 PermanentRedirect with `x-amz-bucket-region: B`
       (XML body with Code PermanentRedirect, empty body for HEAD), as S3 does.
       CreateBucket (PUT /bucket without subresource) is left to moto.
     - HeadBucket: `x-amz-bucket-region` is added on 403 (moto only sends it
       on 200).
     - GetObject/HeadObject of a missing key answers 403 AccessDenied (not 404)
       when the caller lacks s3:ListBucket on the bucket (while enforcement is on).
     - a bucket that does not exist answers 404 NoSuchBucket to any valid
       caller (moto answers 403 AccessDenied when the caller's policy does not
       cover the bucket name).

4. No record of every object ever made. moto appends each model instance
   (every S3 object written, every grant, ...) to a class-level list that only
   its dashboard (`/moto-api/data.json`) reads, and keeps it until
   `POST /moto-api/reset`, even after the object is deleted. The operator's
   probes write and delete one object per validation: moto grew by about
   1.3 KB per request (92.8 -> 114 MB in 2.5 minutes of `make bench`, 6,411
   deleted keys still held), and later bench rounds ran slower for every
   contender. Instances are no longer recorded (`--track-instances` restores
   it); the dashboard then lists nothing, and nothing here reads it.

5. Bucket rules moto stores (or not even that) but never enforces, emulated
   inside moto's S3 handlers after the signature and the caller's identity
   policy for the S3 action were checked, while enforcement is on
   (hack/moto_bucket_rules.py):
     - Requester Pays
       (https://docs.aws.amazon.com/AmazonS3/latest/userguide/RequesterPaysBuckets.html,
       https://docs.aws.amazon.com/AmazonS3/latest/userguide/ObjectsinRequesterPaysBuckets.html):
       PutBucketRequestPayment / GetBucketRequestPayment are implemented
       (bucket owner only; moto 5.2.5 has neither, see below). On a bucket
       whose Payer is Requester, every request of a caller outside the bucket
       owner's account without `x-amz-request-payer: requester` (header, or
       the query parameter of a presigned URL) answers 403 AccessDenied
       "Access Denied"; the bucket owner's own callers need no header. A
       successful charged request answers `x-amz-request-charged: requester`.
       Differs from AWS: the rule is applied to every request, HeadBucket
       included (AWS says DELETE, GET, HEAD, POST and PUT requests; HeadBucket's
       API has no RequestPayer parameter, so SDKs cannot send it there);
       moto evaluates no bucket policy, so the cross-account grant a real
       bucket needs is not checked.
     - SSE-KMS key permissions
       (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html,
       https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html):
       PutObject (and CopyObject) that is SSE-KMS by its
       `x-amz-server-side-encryption` (aws:kms, aws:kms:dsse) or, without one,
       by the bucket's default encryption needs kms:GenerateDataKey on the key;
       GetObject of an SSE-KMS object needs kms:Decrypt on the key it was
       written with. The key: an ARN names its account and Region; a key ID
       or alias is looked up in the caller's account in the bucket's Region;
       none (or alias/aws/s3) is the AWS managed key, always allowed. An
       unknown key answers 400 KMS.NotFoundException "Invalid keyId <id>", a
       disabled one 400 KMS.DisabledException, one pending deletion 400
       KMS.KMSInvalidStateException. Allowed when neither the key policy nor
       an identity policy denies, and the key policy names the caller (or
       "*") and, for a caller of another account, an identity policy allows
       too; or the key policy names the caller's account (as moto's default
       key policy does, "Enable IAM User Permissions") and an identity policy
       allows (moto's evaluator, as for every request). Denied: 403
       AccessDenied "User: <arn> is not authorized to perform: <action> on
       resource: <key ARN> because no identity-based policy allows the
       <action> action" (or "... with an explicit deny in an identity-based
       policy"); when the key policy does not allow it: "... <action> on this
       resource because the resource does not exist in this Region, no
       resource-based policies allow access, or a resource-based policy
       explicitly denies access" (the form S3 returns, without the key ARN).
       Differs from AWS: key-policy statements with a Condition (and
       NotPrincipal) are skipped; grants, multipart uploads (UploadPart needs
       kms:Decrypt), SSE-C and S3 Bucket Keys are not emulated; the AWS
       managed key is allowed to callers of any account.

What moto 5.2.5 itself returns (measured with boto3 against plain `moto_server`,
IAM enforcement on; "-> fixed" = this launcher changes it, see 3.):
  - HeadBucket on a bucket in another region than the request's signing
    region: 200 with x-amz-bucket-region: <bucket's region>; never 301.
    (Real S3: 301 + x-amz-bucket-region.) -> fixed: 301 PermanentRedirect.
  - HeadBucket denied by IAM: 403, no body, no x-amz-bucket-region.
    -> fixed: header added.
  - HeadBucket of a missing bucket: 404 if the caller's policy covers the
    name, else 403. -> fixed: 404 for every valid caller.
  - ListObjectsV2 on a missing bucket: 404 NoSuchBucket only when the caller's
    policy covers the bucket, otherwise 403 AccessDenied. -> fixed: 404.
  - GetObject of a missing key with only s3:GetObject allowed: 404 NoSuchKey
    (HeadObject: 404). (Real S3: 403 AccessDenied without s3:ListBucket.)
    -> fixed: 403 AccessDenied. With s3:ListBucket: 404 NoSuchKey (as S3).
  - PutObject with If-None-Match: * on an existing key: 412 PreconditionFailed
    (as S3); on a new key: 200.
  - DeleteObject denied: 403 AccessDenied (as S3); DeleteObject of a missing
    key when allowed: 204 (as S3).
  - x-amz-expected-bucket-owner (ExpectedBucketOwner): ignored. (Real S3:
    403 AccessDenied when another account owns the bucket.) -> fixed: 403
    unless it names the bucket's account.
  - PutBucketRequestPayment: 200, but nothing is stored (moto takes
    `PUT /bucket?requestPayment` for CreateBucket); GetBucketRequestPayment:
    200 with a ListObjects body and no Payer. -> fixed (see 5.).
  - PutObject with SSE-KMS and any key ID, even one that exists nowhere: 200,
    the key ID stored as given; no KMS permission is checked on write or
    read. -> fixed (see 5.).
  - iam:SimulatePrincipalPolicy: not implemented. moto_server answers HTTP 500
    with an HTML page (NotImplementedError in the log); botocore raises
    ResponseParserError (an SDK sees an unparseable 500). Do not rely on it.
  - Conditions in identity policies for S3 actions (s3:prefix, ...) are ignored.
  - Unknown access key: 403 InvalidAccessKeyId; wrong secret: 403
    SignatureDoesNotMatch; assumed-role credentials are limited to the role's
    policies.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt  # PyJWT[crypto]
from werkzeug.exceptions import HTTPException
from werkzeug.serving import run_simple

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto_bucket_rules import caller_key, charged, find_bucket, identity_verdict
import moto_bucket_rules
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

log = logging.getLogger("moto_launcher")

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
DEFAULT_ACCOUNT = "123456789012"
ADMIN_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
)


class Config:
    sa_public_keys: list[Any] = []
    issuer: str | None = None  # normalised, no trailing slash
    audiences: list[str] = ["sts.amazonaws.com"]
    admin_user = "admin"
    admin_key_id: str | None = None
    admin_secret: str | None = None
    s3_fixes = True


CFG = Config()


def provider_of(issuer: str) -> str:
    """'https://127.0.0.1:16443/' -> '127.0.0.1:16443' (the IAM OIDC provider name)."""
    p = re.sub(r"^https?://", "", issuer)
    return p.rstrip("/")


def _xml_escape(s: str) -> str:
    return (
        s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# --------------------------------------------------------------------------- admin seeding


def seed_admin(account: str = DEFAULT_ACCOUNT) -> None:
    """Create the admin IAM user with the fixed key in `account` (idempotent)."""
    if not (CFG.admin_key_id and CFG.admin_secret):
        return
    backend = iam_backends[account]["aws"]
    user_name = CFG.admin_user
    try:
        backend.get_user(user_name)
    except Exception:
        backend.create_user(region_name="us-east-1", user_name=user_name, path="/", tags=[])
    backend.put_user_policy(user_name, "AdministratorAccess", ADMIN_POLICY)
    user = backend.get_user(user_name)
    if any(k.access_key_id == CFG.admin_key_id for k in user.access_keys):
        return
    key = backend.create_access_key(user_name)
    backend.access_keys.pop(key.access_key_id, None)
    key.access_key_id = CFG.admin_key_id
    key.secret_access_key = CFG.admin_secret
    backend.access_keys[key.access_key_id] = key
    log.info("admin IAM user %r seeded in account %s", user_name, account)


def enforce_auth() -> None:
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def auth_enforced() -> bool:
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def untrack_instances() -> None:
    """See 4. in the module doc: BaseModel.__new__ without the append."""
    from moto.core.common_models import BaseModel

    def new(cls: type, *_args: Any, **_kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(new)  # type: ignore[assignment,method-assign]


def patch_reset() -> None:
    from moto.moto_api._internal.models import MotoAPIBackend

    orig = MotoAPIBackend.reset

    def reset(self: Any) -> None:
        orig(self)
        seed_admin()

    MotoAPIBackend.reset = reset  # type: ignore[method-assign]


# --------------------------------------------------------------------------- STS web identity


class StsError(HTTPException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__()
        self.code = status
        self.error_code = code
        self.message = message
        self.description = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type>'
            f"<Code>{_xml_escape(code)}</Code><Message>{_xml_escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


def invalid_token(msg: str) -> StsError:
    return StsError(400, "InvalidIdentityToken", msg)


def access_denied() -> StsError:
    return StsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def verify_token(token: str) -> dict[str, Any]:
    if not CFG.sa_public_keys or not CFG.issuer:
        raise invalid_token(
            "moto launcher: no service-account public key/issuer configured "
            "(--sa-public-key, --issuer)"
        )
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid_token(
            "The ID Token provided is not a valid JWT. "
            "(You may see this error if you sent an Access Token)"
        )
    if header.get("alg") != "RS256":
        raise invalid_token(f"Unsupported token signing algorithm {header.get('alg')!r}")
    last: Exception | None = None
    for key in CFG.sa_public_keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
            )
            break
        except jwt.InvalidSignatureError as e:
            last = e
            continue
        except jwt.ExpiredSignatureError:
            exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
            raise invalid_token(
                f"Token expired: current date/time {int(time.time())} must be before "
                f"the expiration date/time {exp}"
            )
        except jwt.ImmatureSignatureError:
            raise invalid_token("Token is not yet valid (nbf/iat in the future)")
        except jwt.MissingRequiredClaimError as e:
            raise invalid_token(f"The ID Token provided is missing a required claim: {e.claim}")
        except jwt.PyJWTError as e:
            raise invalid_token(f"The ID Token provided is not a valid JWT: {e}")
    else:
        raise invalid_token(
            "Couldn't verify the signature of the ID Token with the identity provider's keys"
            + (f" ({last})" if last else "")
        )
    if str(claims.get("iss", "")).rstrip("/") != CFG.issuer:
        raise invalid_token(
            f"No OpenIDConnect provider found in your account for {claims.get('iss')}"
        )
    return claims


def _condition_values(key: str, claims: dict[str, Any], provider: str) -> list[str] | None:
    k = key.lower()
    if k in (f"{provider}:sub".lower(),) or k.endswith(":sub"):
        return [str(claims.get("sub"))] if claims.get("sub") is not None else []
    if k in (f"{provider}:aud".lower(),) or k.endswith(":aud"):
        return [str(a) for a in _as_list(claims.get("aud"))]
    if k.endswith(":iss"):
        return [str(claims.get("iss"))]
    return None  # unknown key


def _string_match(op: str, pattern: str, value: str) -> bool:
    if op.endswith("ignorecase"):
        pattern, value = pattern.lower(), value.lower()
        op = op[: -len("ignorecase")]
    if op.endswith("like"):
        return fnmatch.fnmatchcase(value, pattern)
    return pattern == value


def _condition_ok(conditions: dict[str, Any], claims: dict[str, Any], provider: str) -> bool:
    for raw_op, kv in (conditions or {}).items():
        op = raw_op
        qualifier = None
        if ":" in op:
            qualifier, op = op.split(":", 1)
            qualifier = qualifier.lower()
        if_exists = op.endswith("IfExists")
        if if_exists:
            op = op[: -len("IfExists")]
        op_l = op.lower()
        if op_l not in (
            "stringequals",
            "stringnotequals",
            "stringlike",
            "stringnotlike",
            "stringequalsignorecase",
            "stringnotequalsignorecase",
        ):
            log.warning("trust policy condition operator %s not supported: treated as not met", raw_op)
            return False
        negated = "not" in op_l
        base = op_l.replace("not", "")
        for key, expected in (kv or {}).items():
            values = _condition_values(key, claims, provider)
            if values is None or not values:
                if if_exists or negated:
                    continue
                return False
            patterns = [str(p) for p in _as_list(expected)]

            def any_match(v: str) -> bool:
                return any(_string_match(base, p, v) for p in patterns)

            if qualifier == "forallvalues":
                ok = all(any_match(v) for v in values)
            else:  # single-valued or ForAnyValue: any token value matching is enough
                ok = any(any_match(v) for v in values)
            if negated:
                ok = not any(any_match(v) for v in values)
            if not ok:
                return False
    return True


def _action_ok(stmt: dict[str, Any]) -> bool:
    def m(pats: Any) -> bool:
        return any(
            fnmatch.fnmatchcase(WEB_IDENTITY_ACTION.lower(), str(p).lower()) for p in _as_list(pats)
        )

    if "Action" in stmt:
        return m(stmt["Action"])
    if "NotAction" in stmt:
        return not m(stmt["NotAction"])
    return False


def _principal_ok(stmt: dict[str, Any], provider_arn: str) -> bool:
    principal = stmt.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(
            str(p) == provider_arn or str(p) == "*" for p in _as_list(principal.get("Federated"))
        )
    return False


def trust_allows(role: Any, account: str, claims: dict[str, Any]) -> bool:
    provider = provider_of(CFG.issuer or "")
    provider_arn = f"arn:aws:iam::{account}:oidc-provider/{provider}"
    doc = role.assume_role_policy_document
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            from urllib.parse import unquote

            doc = json.loads(unquote(doc))
    allowed = False
    for stmt in _as_list(doc.get("Statement")):
        if not (_action_ok(stmt) and _principal_ok(stmt, provider_arn)):
            continue
        if not _condition_ok(stmt.get("Condition") or {}, claims, provider):
            continue
        if stmt.get("Effect") == "Deny":
            return False
        if stmt.get("Effect") == "Allow":
            allowed = True
    return allowed


def check_audience(claims: dict[str, Any], account: str) -> None:
    auds = [str(a) for a in _as_list(claims.get("aud"))]
    provider = provider_of(CFG.issuer or "")
    acceptable = list(CFG.audiences)
    backend = iam_backends[account]["aws"]
    for p in list(backend.open_id_providers.values()):
        if p.url.rstrip("/") == provider:
            acceptable = list(p.client_id_list or [])
            break
    if not set(auds) & set(acceptable):
        raise invalid_token("Incorrect token audience")


def verify_web_identity(resp: Any) -> tuple[dict[str, Any], str]:
    role_arn = resp._get_param("RoleArn")
    session = resp._get_param("RoleSessionName")
    token = resp._get_param("WebIdentityToken")
    for name, val in (("roleArn", role_arn), ("roleSessionName", session), ("webIdentityToken", token)):
        if not val:
            raise StsError(
                400,
                "ValidationError",
                f"1 validation error detected: Value null at '{name}' failed to satisfy "
                "constraint: Member must not be null",
            )
    claims = verify_token(token)
    m = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(.+)$", role_arn)
    if not m:
        raise StsError(400, "ValidationError", f"{role_arn} is invalid")
    account = m.group(1)
    check_audience(claims, account)
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        log.info("AssumeRoleWithWebIdentity: role %s not found", role_arn)
        raise access_denied()
    if not trust_allows(role, account, claims):
        log.info(
            "AssumeRoleWithWebIdentity: trust policy of %s denies sub=%s aud=%s",
            role_arn,
            claims.get("sub"),
            claims.get("aud"),
        )
        raise access_denied()
    return claims, account


_local = threading.local()


def patch_sts() -> None:
    from moto.sts.responses import TokenResponse

    orig_auth = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if getattr(self, "service_name", None) == "sts" and self._get_action() == "AssumeRoleWithWebIdentity":
            _local.claims = None
            try:
                _local.claims, _local.account = verify_web_identity(self)
            except StsError:
                self.response_headers["Content-Type"] = "text/xml"
                raise
            return  # unsigned by design: no signature check, no identity policies
        account = getattr(self, "current_account", DEFAULT_ACCOUNT)
        if account != DEFAULT_ACCOUNT and re.fullmatch(r"\d{12}", account) and self.access_key == CFG.admin_key_id:
            seed_admin(account)  # see 1.: the admin keys act in any account named by x-moto-account-id
        orig_auth(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action  # type: ignore[method-assign]

    orig_awi = TokenResponse.assume_role_with_web_identity

    def assume_role_with_web_identity(self: Any) -> Any:
        result = orig_awi(self)
        claims = getattr(_local, "claims", None)
        if claims is not None and isinstance(result.result, dict):
            auds = _as_list(claims.get("aud"))
            result.result["SubjectFromWebIdentityToken"] = claims.get("sub")
            result.result["Audience"] = auds[0] if auds else None
            account = getattr(_local, "account", DEFAULT_ACCOUNT)
            result.result["Provider"] = f"arn:aws:iam::{account}:oidc-provider/{provider_of(CFG.issuer or '')}"
        return result

    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]


# --------------------------------------------------------------------------- S3 middleware

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
        f"<Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>{extra}"
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
                    f"<BucketName>{_xml_escape(bucket_name)}</BucketName>",
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


# --------------------------------------------------------------------------- main


def _load_keys(paths: str) -> list[Any]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    keys = []
    for p in [x for x in paths.split(",") if x.strip()]:
        data = open(p.strip(), "rb").read()
        for block in re.findall(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", data, re.S):
            if b"PRIVATE" in block:
                keys.append(load_pem_private_key(block, None).public_key())
            else:
                keys.append(load_pem_public_key(block))
    return keys


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default=os.environ.get("MOTO_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "15000")))
    ap.add_argument("--sa-public-key", default=os.environ.get("S3C_SA_PUBLIC_KEY", ""),
                    help="PEM file(s), comma-separated: kube-apiserver service-account key(s)")
    ap.add_argument("--issuer", default=os.environ.get("S3C_SA_ISSUER", ""),
                    help="--service-account-issuer of the kube-apiserver")
    ap.add_argument("--audiences", default=os.environ.get("S3C_STS_AUDIENCES", "sts.amazonaws.com"),
                    help="comma-separated audiences accepted when no IAM OIDC provider exists")
    ap.add_argument("--no-auth", action="store_true", help="leave IAM enforcement off")
    ap.add_argument("--no-s3-fixes", action="store_true",
                    default=os.environ.get("S3C_MOTO_S3_FIXES", "1") == "0")
    ap.add_argument("--track-instances", action="store_true",
                    help="keep moto's record of every object made (its dashboard); see 4.")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    os.environ.setdefault("MOTO_PORT", str(args.port))

    CFG.sa_public_keys = _load_keys(args.sa_public_key) if args.sa_public_key else []
    CFG.issuer = args.issuer.rstrip("/") or None
    CFG.audiences = [a.strip() for a in args.audiences.split(",") if a.strip()]
    CFG.admin_key_id = os.environ.get("S3C_MOTO_ADMIN_ACCESS_KEY_ID")
    CFG.admin_secret = os.environ.get("S3C_MOTO_ADMIN_SECRET_ACCESS_KEY")
    CFG.s3_fixes = not args.no_s3_fixes

    if not args.track_instances:
        untrack_instances()
    patch_sts()
    moto_bucket_rules.patch(auth_enforced)
    patch_reset()
    seed_admin()
    if not args.no_auth:
        if not CFG.admin_key_id:
            log.warning("no admin key given (S3C_MOTO_ADMIN_ACCESS_KEY_ID): enforcing auth anyway")
        enforce_auth()
    log.info(
        "moto on http://%s:%d issuer=%s sa-keys=%d enforce=%s s3-fixes=%s",
        args.host, args.port, CFG.issuer, len(CFG.sa_public_keys), not args.no_auth, CFG.s3_fixes,
    )

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    import werkzeug.serving

    werkzeug.serving._log_add_style = False  # plain access log lines in the log file
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]
    run_simple(
        args.host,
        args.port,
        S3Fixes(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
