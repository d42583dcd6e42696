"""The hooks into moto's request authentication and STS answers (see 1. and
2. in hack/moto_launcher.py's module doc): AssumeRoleWithWebIdentity skips the
signature check and is verified by hack/moto_web_identity.py instead; the
admin keys are seeded in any account a request names; a web-identity answer
gets SubjectFromWebIdentityToken, Audience and Provider."""

from __future__ import annotations

import re
import threading
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto_admin import seed_admin
from moto_config import CFG, DEFAULT_ACCOUNT, provider_of
from moto_trust_policy import as_list
from moto_web_identity import StsError, verify_web_identity

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
            auds = as_list(claims.get("aud"))
            result.result["SubjectFromWebIdentityToken"] = claims.get("sub")
            result.result["Audience"] = auds[0] if auds else None
            account = getattr(_local, "account", DEFAULT_ACCOUNT)
            result.result["Provider"] = f"arn:aws:iam::{account}:oidc-provider/{provider_of(CFG.issuer or '')}"
        return result

    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]

