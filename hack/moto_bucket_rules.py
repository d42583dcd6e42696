"""Bucket rules that moto 5.2.5 stores (or not even that) but never enforces,
emulated inside moto's S3 handlers as AWS documents them. Used by
hack/moto_launcher.py (see 5. in its module doc for the rules, the AWS pages
they follow and what differs from AWS).

Everything here runs after moto has checked the request's signature and the
caller's identity policy for the S3 action (as S3 does: the bucket's rules
and KMS come after the S3 grant), and only while IAM enforcement is on.
Policies are evaluated with moto's own evaluator (moto.iam.access_control);
nothing here is a policy engine of its own.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs

from werkzeug.exceptions import HTTPException

from moto_xml import xml_escape

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
#: The AWS managed key S3 uses when a request names no key.
MANAGED_ALIAS = "alias/aws/s3"
KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]{1,32}):(\d{12}):(?:key|alias)/.{1,256}$")
PAYER_RE = re.compile(rb"<Payer>\s*(Requester|BucketOwner)\s*</Payer>")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
GENERATE_DATA_KEY = "kms:GenerateDataKey"
DECRYPT = "kms:Decrypt"


class S3RuleError(HTTPException):
    """An S3 error answer (XML body, none for HEAD) raised from inside moto's
    S3 handlers, which pass it on to the WSGI layer as it is."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__()
        self.code = status
        self.error_code = code
        self.message = message
        self.request_id = uuid.uuid4().hex[:16].upper()

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        if environ and environ.get("REQUEST_METHOD") == "HEAD":
            return ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{xml_escape(self.error_code)}</Code>"
            f"<Message>{xml_escape(self.message)}</Message>"
            f"<RequestId>{self.request_id}</RequestId><HostId>{self.request_id}</HostId></Error>"
        )

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "application/xml"), ("x-amz-request-id", self.request_id)]


def url_query(resp: Any) -> dict[str, list[str]]:
    """The query string of the request moto is handling (moto's own
    `querystring` may hold fields parsed from the body)."""
    return parse_qs(resp.parsed_url.query, keep_blank_values=True)


def access_denied(message: str = "Access Denied") -> S3RuleError:
    return S3RuleError(403, "AccessDenied", message)


# --------------------------------------------------------------------------- moto lookups


def find_bucket(name: str) -> Any | None:
    """moto's bucket of that name, in whichever account owns it."""
    from moto.s3.models import s3_backends

    loc = s3_backends.bucket_accounts.get(name)
    if not loc:
        return None
    partition, account = loc
    return s3_backends[account][partition].buckets.get(name)


def caller_key(access_key: str, session_token: str | None, account: str | None = None) -> Any | None:
    """moto's record of the IAM user or assumed role behind `access_key` (its
    `arn`, `account_id`, `collect_policies()`), or None."""
    from moto.iam.access_control import create_access_key
    from moto.iam.models import get_account_id_from

    headers = {"X-Amz-Security-Token": session_token} if session_token else {}
    try:
        return create_access_key(
            account_id=account or get_account_id_from(access_key),
            partition="aws",
            access_key_id=access_key,
            headers=headers,
        )
    except Exception:
        return None


def identity_verdict(key: Any, action: str, resource: str) -> Any:
    """What the caller's identity policies say of `action` on `resource`, as
    moto decides it for every request (an explicit Deny wins)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    verdict = PermissionResult.NEUTRAL
    for policy in key.collect_policies():
        r = IAMPolicy(policy).is_action_permitted(action, resource)
        if r == PermissionResult.DENIED:
            return r
        if r == PermissionResult.PERMITTED:
            verdict = r
    return verdict


# --------------------------------------------------------------------------- Requester Pays


def pays_header(headers: Any, query: dict[str, Any]) -> bool:
    """The request says the requester pays (`x-amz-request-payer: requester`,
    or the query parameter of a presigned URL)."""
    if str(headers.get("x-amz-request-payer", "")).lower() == "requester":
        return True
    return any(str(v).lower() == "requester" for v in query.get("x-amz-request-payer", []))


def check_requester_pays(bucket: Any, caller_account: str, headers: Any, query: dict[str, Any]) -> None:
    """Requester Pays: a requester outside the bucket owner's account must send
    `x-amz-request-payer: requester`, or S3 answers 403."""
    if getattr(bucket, "payer", "BucketOwner") != "Requester":
        return
    if caller_account == bucket.account_id or pays_header(headers, query):
        return
    raise access_denied()


def charged(bucket: Any, caller_account: str | None, headers: Any, query: dict[str, Any]) -> bool:
    """Whether a successful request is charged to its requester (the answer
    then carries `x-amz-request-charged: requester`)."""
    return (
        bucket is not None
        and getattr(bucket, "payer", "BucketOwner") == "Requester"
        and caller_account is not None
        and caller_account != bucket.account_id
        and pays_header(headers, query)
    )


def request_payment_xml(payer: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<RequestPaymentConfiguration xmlns="{S3_NS}"><Payer>{payer}</Payer>'
        "</RequestPaymentConfiguration>"
    )


# --------------------------------------------------------------------------- SSE-KMS


def principal_kind(principal: Any, caller_arns: set[str], account: str) -> str | None:
    """Whom a key-policy `Principal` names, as far as this caller goes:
    "direct" (the caller itself, or everyone), "account" (the caller's
    account, which hands the decision to its IAM policies), or None."""
    if principal == "*":
        return "direct"
    if not isinstance(principal, dict):
        return None
    values = principal.get("AWS", [])
    values = values if isinstance(values, list) else [values]
    if any(v == "*" or v in caller_arns for v in values):
        return "direct"
    if any(v in (account, f"arn:aws:iam::{account}:root") for v in values):
        return "account"
    return None


def key_policy_verdict(policy: str, action: str, key_arn: str, caller_arns: set[str], account: str) -> str:
    """"deny", "direct", "account" or "none": what the key policy says of
    `action` by this caller. Statements with a Condition are not evaluated
    (skipped), nor are NotPrincipal statements."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return "none"
    statements = statements if isinstance(statements, list) else [statements]
    best = "none"
    for st in statements:
        if not isinstance(st, dict) or "Condition" in st or "NotPrincipal" in st:
            continue
        kind = principal_kind(st.get("Principal"), caller_arns, account)
        if kind is None:
            continue
        plain = {k: v for k, v in st.items() if k != "Principal"}
        plain.setdefault("Resource", "*")
        r = IAMPolicyStatement(plain).is_action_permitted(action, key_arn)
        if r == PermissionResult.DENIED:
            return "deny"
        if r == PermissionResult.PERMITTED and best != "direct":
            best = kind
    return best


def resolve_key(key_ref: str, caller_account: str, bucket_region: str) -> Any | None:
    """The KMS key `key_ref` names (key ID, key ARN, alias name or alias ARN):
    an ARN names its own account and Region; anything else is looked up in
    the caller's account, in the bucket's Region."""
    from moto.kms.models import kms_backends

    m = KEY_ARN_RE.match(key_ref)
    region, account = (m.group(1), m.group(2)) if m else (bucket_region, caller_account)
    try:
        backend = kms_backends[account][region]
        return backend.keys[backend.any_id_to_key_id(key_ref)]
    except Exception:
        return None


def check_kms(key: Any, caller_arn: str, role_arn: str | None, account: str, action: str, key_ref: str | None, bucket_region: str) -> None:
    """S3 calling KMS for the caller: `action` on the key `key_ref` names
    (None: the AWS managed key aws/s3, whose key policy lets every principal
    of the account use it through S3)."""
    from moto.iam.access_control import PermissionResult

    if not key_ref or key_ref in (MANAGED_ALIAS, "aws/s3") or key_ref.endswith(":alias/aws/s3"):
        return
    kms_key = resolve_key(key_ref, account, bucket_region)
    if kms_key is None:
        raise S3RuleError(400, "KMS.NotFoundException", f"Invalid keyId {key_ref}")
    if kms_key.key_state == "Disabled":
        raise S3RuleError(400, "KMS.DisabledException", f"{kms_key.arn} is disabled.")
    if kms_key.key_state == "PendingDeletion":
        raise S3RuleError(400, "KMS.KMSInvalidStateException", f"{kms_key.arn} is pending deletion.")
    arns = {caller_arn} | ({role_arn} if role_arn else set())
    kp = key_policy_verdict(kms_key.policy, action, kms_key.arn, arns, account)
    iam = identity_verdict(key, action, kms_key.arn)
    same_account = kms_key.account_id == account
    if kp != "deny" and iam != PermissionResult.DENIED:
        if kp == "direct" and same_account:
            return
        if kp in ("direct", "account") and iam == PermissionResult.PERMITTED:
            return
    who = f"User: {caller_arn} is not authorized to perform: {action}"
    if kp in ("none", "deny"):
        raise access_denied(
            f"{who} on this resource because the resource does not exist in this Region, "
            "no resource-based policies allow access, or a resource-based policy explicitly denies access"
        )
    if iam == PermissionResult.DENIED:
        raise access_denied(
            f"{who} on resource: {kms_key.arn} with an explicit deny in an identity-based policy"
        )
    raise access_denied(
        f"{who} on resource: {kms_key.arn} because no identity-based policy allows the {action} action"
    )


def kms_use(resp: Any, bucket: Any, key_name: str) -> tuple[str, str | None] | None:
    """The KMS action S3 performs for this object request and the key it
    names, if any: PutObject (and CopyObject) of an SSE-KMS object, by its
    headers or else the bucket's default encryption, needs
    kms:GenerateDataKey; GetObject of an SSE-KMS object needs kms:Decrypt.
    HeadObject, DeleteObject, ACL and tagging requests need neither."""
    query = url_query(resp)
    if any(q in query for q in ("acl", "tagging", "uploadId", "uploads", "retention", "legal-hold")):
        return None
    if resp.method == "PUT":
        algorithm = resp.headers.get("x-amz-server-side-encryption")
        key_ref = resp.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if not algorithm and getattr(bucket, "encryption", None):
            default = bucket.encryption.get("Rule", {}).get("ApplyServerSideEncryptionByDefault", {})
            algorithm, key_ref = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
        if algorithm in KMS_ALGORITHMS:
            return GENERATE_DATA_KEY, key_ref
        return None
    if resp.method == "GET":
        version = (query.get("versionId") or [None])[0]
        try:
            obj = resp.backend.get_object(bucket.name, key_name, version_id=version)
        except Exception:
            return None
        if obj is not None and getattr(obj, "encryption", None) in KMS_ALGORITHMS:
            return DECRYPT, obj.kms_key_id
    return None


# --------------------------------------------------------------------------- patches


def patch(auth_enforced: Callable[[], bool]) -> None:
    """Install the rules into moto's S3 handlers."""
    from moto.s3 import responses
    from moto.s3.exceptions import MalformedXML
    from moto.s3.responses import S3Response

    responses.ACTION_MAP["BUCKET"]["GET"]["requestPayment"] = "GetBucketRequestPayment"
    responses.ACTION_MAP["BUCKET"]["PUT"]["requestPayment"] = "PutBucketRequestPayment"

    orig_auth = S3Response._authenticate_and_authorize_s3_action

    def _authenticate_and_authorize_s3_action(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        enforced = auth_enforced()
        orig_auth(self, bucket_name=bucket_name, key_name=key_name)
        bucket = find_bucket(bucket_name) if enforced and bucket_name else None
        if bucket is None:
            return
        check_requester_pays(bucket, self.current_account, self.headers, url_query(self))
        use = kms_use(self, bucket, key_name) if key_name else None
        if use is None:
            return
        key = caller_key(self.access_key, self.headers.get("X-Amz-Security-Token"), self.current_account)
        if key is None:
            return
        role = getattr(key, "_owner_role_name", None)
        role_arn = f"arn:aws:iam::{key.account_id}:role/{role}" if role else None
        check_kms(key, key.arn, role_arn, key.account_id, use[0], use[1], bucket.region_name)

    S3Response._authenticate_and_authorize_s3_action = _authenticate_and_authorize_s3_action  # type: ignore[method-assign]

    def owner_only(self: Any, bucket_name: str, querystring: dict[str, Any], method: str) -> Any:
        self._set_action("BUCKET", method, querystring)
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name)
        bucket = self.backend.get_bucket(bucket_name)
        if auth_enforced() and self.current_account != bucket.account_id:
            raise access_denied()
        return bucket

    orig_get = S3Response._bucket_response_get

    def _bucket_response_get(self: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        if "requestPayment" not in querystring:
            return orig_get(self, bucket_name, querystring)
        bucket = owner_only(self, bucket_name, querystring, "GET")
        return 200, {"Content-Type": "application/xml"}, request_payment_xml(bucket.payer)

    S3Response._bucket_response_get = _bucket_response_get  # type: ignore[method-assign]

    orig_put = S3Response._bucket_response_put

    def _bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        if "requestPayment" not in querystring:
            return orig_put(self, request, bucket_name, querystring)
        bucket = owner_only(self, bucket_name, querystring, "PUT")
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
        m = PAYER_RE.search(body)
        if not m:
            raise MalformedXML()
        bucket.payer = m.group(1).decode()
        return 200, {}, ""

    S3Response._bucket_response_put = _bucket_response_put  # type: ignore[method-assign]
