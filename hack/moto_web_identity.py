"""Verification of an sts:AssumeRoleWithWebIdentity call (see 2. in
hack/moto_launcher.py's module doc): the service-account token's signature,
expiry, issuer and audience, then the role's trust policy
(hack/moto_trust_policy.py). Failures are raised as STS error answers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import jwt  # PyJWT[crypto]
from werkzeug.exceptions import HTTPException

from moto.iam.models import iam_backends
from moto_config import CFG, provider_of
from moto_trust_policy import as_list, trust_allows
from moto_xml import xml_escape

log = logging.getLogger("moto_launcher")

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class StsError(HTTPException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__()
        self.code = status
        self.error_code = code
        self.message = message
        self.description = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type>'
            f"<Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


def invalid_token(msg: str) -> StsError:
    return StsError(400, "InvalidIdentityToken", msg)


def access_denied() -> StsError:
    return StsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


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


def check_audience(claims: dict[str, Any], account: str) -> None:
    auds = [str(a) for a in as_list(claims.get("aud"))]
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

