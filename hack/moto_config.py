"""The moto launcher's settings, set once from its command line and
environment by hack/moto_launcher.py and read by its other modules."""

from __future__ import annotations

import re
from typing import Any

DEFAULT_ACCOUNT = "123456789012"


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

