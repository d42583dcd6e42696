"""Trust-policy evaluation for sts:AssumeRoleWithWebIdentity (see 2. in
hack/moto_launcher.py's module doc): whether a role's trust policy lets the
verified token's claims assume it, Deny winning over Allow."""

from __future__ import annotations

import fnmatch
import json
import logging
from typing import Any

from moto_config import CFG, provider_of

log = logging.getLogger("moto_launcher")

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"


def as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]



def _condition_values(key: str, claims: dict[str, Any], provider: str) -> list[str] | None:
    k = key.lower()
    if k in (f"{provider}:sub".lower(),) or k.endswith(":sub"):
        return [str(claims.get("sub"))] if claims.get("sub") is not None else []
    if k in (f"{provider}:aud".lower(),) or k.endswith(":aud"):
        return [str(a) for a in as_list(claims.get("aud"))]
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
            patterns = [str(p) for p in as_list(expected)]

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
            fnmatch.fnmatchcase(WEB_IDENTITY_ACTION.lower(), str(p).lower()) for p in as_list(pats)
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
            str(p) == provider_arn or str(p) == "*" for p in as_list(principal.get("Federated"))
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
    for stmt in as_list(doc.get("Statement")):
        if not (_action_ok(stmt) and _principal_ok(stmt, provider_arn)):
            continue
        if not _condition_ok(stmt.get("Condition") or {}, claims, provider):
            continue
        if stmt.get("Effect") == "Deny":
            return False
        if stmt.get("Effect") == "Allow":
            allowed = True
    return allowed

