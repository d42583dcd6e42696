#!/usr/bin/env python3
"""moto (S3 + STS + IAM on one port) for the dev environment and integration tests.

Run it with the tool venv's python (hack/tools.sh moto; `moto-python`):

    moto-python hack/moto_launcher.py --port 15000 \
        --sa-public-key .dev/pki/sa.pub --issuer https://127.0.0.1:16443

The admin keys are read from the environment (never from argv, so `ps` does not
show them): S3C_MOTO_ADMIN_ACCESS_KEY_ID / S3C_MOTO_ADMIN_SECRET_ACCESS_KEY.

What this adds on top of `moto_server` (moto 5.2.5), each in the module named
with it (hack/moto_config.py holds the settings they share; this file parses
them, applies the patches and serves):

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
   account without the header. (hack/moto_admin.py; the hook into moto's
   request authentication that seeds other accounts: hack/moto_sts_patch.py)

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
   (hack/moto_web_identity.py verifies the call, hack/moto_trust_policy.py
   evaluates the trust policy, hack/moto_sts_patch.py hooks both into moto)

3. S3 behaviour closer to real S3 (WSGI middleware, only for SigV4-signed S3
   requests; switch off with --no-s3-fixes / S3C_MOTO_S3_FIXES=0;
   hack/moto_s3_fixes.py):
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
   (untrack_instances in this file)

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

6. iam:SimulatePrincipalPolicy (moto 5.2.5 has none, see below), for IAM
   users, roles and groups: their inline, attached managed and (for a user)
   group policies, each statement judged by moto's own evaluator (the one
   its enforcement uses), answered in AWS's XML shape (EvaluationResults with
   allowed / explicitDeny / implicitDeny, MatchedStatements,
   MissingContextValues, ResourceSpecificResults); unknown principal: 404
   NoSuchEntity; invalid input: 400 InvalidInput. A condition it cannot
   decide (an operator moto does not evaluate, a key without a value in
   ContextEntries) never makes the answer `allowed`. The caller needs
   iam:SimulatePrincipalPolicy on the PolicySourceArn (403 AccessDenied
   otherwise). Permission boundaries, SCPs and resource-based policies are
   not evaluated. (hack/moto_simulate.py)

What moto 5.2.5 itself returns (measured with boto3 against plain `moto_server`,
IAM enforcement on; "-> fixed" = this launcher changes it, see 3., 5. and 6.):
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
    ResponseParserError (an SDK sees an unparseable 500). -> fixed (see 6.).
  - Conditions in identity policies for S3 actions (s3:prefix, ...) are ignored.
  - Unknown access key: 403 InvalidAccessKeyId; wrong secret: 403
    SignatureDoesNotMatch; assumed-role credentials are limited to the role's
    policies.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from typing import Any

from werkzeug.serving import run_simple

import moto_bucket_rules
import moto_simulate
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto_admin import auth_enforced, enforce_auth, patch_reset, seed_admin
from moto_config import CFG
from moto_s3_fixes import S3Fixes
from moto_sts_patch import patch_sts

log = logging.getLogger("moto_launcher")


def untrack_instances() -> None:
    """See 4. in the module doc: BaseModel.__new__ without the append."""
    from moto.core.common_models import BaseModel

    def new(cls: type, *_args: Any, **_kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(new)  # type: ignore[assignment,method-assign]


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
    moto_simulate.patch()
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
